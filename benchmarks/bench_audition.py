"""What `tuss-fx audition` costs: the first run against `separate` of the same plan, and the second run's
wait for the page, each a whole command in its own process, on the same film, in the same run.

Usage: python benchmarks/bench_audition.py [--seconds 600] [--repeats 2]

The film: --seconds of a real reading over real strings (looped), 48 kHz stereo 24-bit PCM in a MOV with a
small picture and a start timecode. Rows:
  separate FILM -p speech (what the dialogue plan separates: the yardstick)
  audition FILM --no-browser, empty cache: seconds until its URL is printed (the page is being served)
  audition FILM --no-browser, again: the same, from the cache
Each row is the best of --repeats runs (the machine's spread between runs is up to 15 %). Prints the CPU
beside the figures; the gates: first run <= 1.10x the separate, second run <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from bench_dialogue_engine import scene  # noqa: E402
from make_film_clip import write_clip  # noqa: E402

RATE = 48000
CLI = "from tuss_fx.cli import main; main()"


def cpu_name() -> str:
    """The CPU's model name and its widest vector instructions, e.g. 'AMD EPYC (AVX2)': machines of the
    same name have reported AVX-512 on one day and AVX2 only on another, and the figures differ."""
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor() or platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    for flag, label in (("avx512_bf16", "AVX-512 with BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")):
        if flag in flags:
            return f"{name} ({label})"
    return name


def separate_seconds(film: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, "separate", str(film), "-p", "speech", "-o", str(out), "-q",
                    "--overwrite"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def audition_ready_seconds(film: Path, home: Path) -> float:
    """Seconds from the command's start to its first stdout line, the URL; then the audition is stopped."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", CLI, "audition", str(film), "--no-browser", "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, TUSS_FX_HOME=str(home)))
    url = process.stdout.readline()
    ready = time.perf_counter() - start
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    if not url.startswith("http://") or process.returncode != 0:
        raise SystemExit(f"audition failed: {err}")
    return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        film = folder / "film.mov"
        write_clip(film, [scene(args.seconds)], RATE, subtitle=None, timecode="01:00:00:00")
        separated = first = second = float("inf")
        for repeat in range(args.repeats):  # interleaved, so a slow spell of the machine hits every row
            separated = min(separated, separate_seconds(film, folder / "stems"))
            first = min(first, audition_ready_seconds(film, folder / f"home-{repeat}"))
            second = min(second, audition_ready_seconds(film, folder / f"home-{repeat}"))
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; film: {args.seconds:g} s of 48 kHz stereo in a MOV")
    print(f"separate -p speech:            {separated:6.1f} s")
    print(f"audition, first run (to URL):  {first:6.1f} s  {first / separated:.2f}x the separate (gate <= 1.10x)")
    print(f"audition, second run (cache):  {second:6.1f} s  (gate <= 3 s)")


if __name__ == "__main__":
    main()
