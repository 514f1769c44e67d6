"""Peak memory of `separate` on a short and a long file: it must not grow with file length.

Usage: python benchmarks/bench_stream_memory.py [--short-minutes 1] [--long-minutes 60]
       [--channels 2] [--sample-rate 44100] [--checkpoint tests/fixtures/official-parity]
       [--film mkv|mov|mp4] [--dialogue-engine tuss|deepfilternet]

Writes two noise files, separates each in a fresh subprocess through tuss_fx.separation.files (the code
path of `tuss-fx separate`, resampling and residual included) and prints each child's peak
RSS and the long/short ratio (target <= 1.2). The model only sets the constant part of the
memory; the default checkpoint is the small official-parity network so the long run is quick.

With --film the inputs are films (examples/make_film_clip.py's picture and subtitle, the noise
as PCM, or ALAC in MP4) and the child runs `remix` into a copy of the film (tuss_fx.mix.film):
reading through FFmpeg, the remix and the packet copy with the new track. The film's soundtrack
is built in the parent's memory, so keep --long-minutes to about 10 there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = """
import sys
from pathlib import Path
from tuss_fx.separation.files import plan_separation, separate_file
from tuss_fx.mix.film import remix_film
from tuss_fx.mix.presets import load_preset
from tuss_fx.separation.separator import Separator
separator = Separator.from_pretrained(sys.argv[1], device="cpu", dialogue_engine=sys.argv[4])
source, out_dir = Path(sys.argv[2]), Path(sys.argv[3])
if source.suffix == ".wav":
    separate_file(separator, plan_separation(source, ["speech", "sfxbg", "musicbg"], out_dir, residual=True))
else:
    remix_film(separator, load_preset("dialogue-boost"), source, out_dir / f"remixed{source.suffix}")
"""
FILM_CODECS = {"mkv": "pcm_f32le", "mov": "pcm_s24le", "mp4": "alac"}


def write_noise(path: Path, minutes: float, channels: int, sample_rate: int) -> None:
    rng = np.random.default_rng(0)
    block = sample_rate * 10
    with sf.SoundFile(path, "w", sample_rate, channels, subtype="PCM_16") as handle:
        for start in range(0, int(minutes * 60 * sample_rate), block):
            handle.write((rng.standard_normal((block, channels)) * 0.1).astype(np.float32))


def write_film(path: Path, minutes: float, channels: int, sample_rate: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from make_film_clip import write_clip

    rng = np.random.default_rng(0)
    soundtrack = (rng.standard_normal((channels, int(minutes * 60 * sample_rate))) * 0.1).astype(np.float32)
    write_clip(path, [soundtrack], sample_rate, FILM_CODECS[path.suffix[1:]])


def peak_rss_mib(checkpoint: str, audio: Path, out_dir: Path, engine: str) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of the separation in a process of its own (peak_memory.py: any platform)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "peak_memory.py"), sys.executable,
                             "-c", CHILD, checkpoint, str(audio), str(out_dir), engine],
                            check=True, capture_output=True, text=True)
    return float(result.stdout.split()[-1]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--checkpoint", default=str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "official-parity"))
    parser.add_argument("--film", choices=sorted(FILM_CODECS), default=None, help="films instead of WAV files")
    parser.add_argument("--dialogue-engine", choices=["auto", "tuss", "deepfilternet"], default="auto",
                        help="what serves speech (deepfilternet adds DFN3's streaming state)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, minutes in (("short", args.short_minutes), ("long", args.long_minutes)):
            audio = Path(tmp) / f"{label}.{args.film or 'wav'}"
            (write_film if args.film else write_noise)(audio, minutes, args.channels, args.sample_rate)
            (Path(tmp) / f"out-{label}").mkdir()
            results[label] = peak_rss_mib(args.checkpoint, audio, Path(tmp) / f"out-{label}", args.dialogue_engine)
            print(f"{label}: {minutes:g} min {audio.suffix[1:]}, {args.channels} ch, {args.sample_rate} Hz -> "
                  f"peak RSS {results[label][0]:.0f} MiB in {results[label][1]:.0f} s", flush=True)
            audio.unlink()
    print(f"peak RSS ratio long/short: {results['long'][0] / results['short'][0]:.3f} (target <= 1.2)")


if __name__ == "__main__":
    main()
