"""End-to-end separation speed of a long file: the streaming pipeline as it was (one segment per
model call, reading in the model's thread, fp32) against the batched pipeline (several segments
per call, a read-ahead thread, bf16 autocast on CUDA), same model, same file, same run.

Usage: python benchmarks/bench_pipeline.py [--seconds 900] [--config medium|--checkpoint default]
       [--device auto] [--prompts speech sfxbg musicbg] [--batch-size N] [--precision auto|bf16]

Prints seconds and times real time per path, the ratio to the first (baseline) path, and the
largest difference and SI-SNR of each path's stems against the baseline's. The input is a
48 kHz stereo float WAV of --seconds of noise bursts and tones, written once to a temporary folder.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tuss_fx.media.audio_io import probe, read_blocks  # noqa: E402
from tuss_fx.model import TussModel  # noqa: E402
from tuss_fx.model.config import PRESETS  # noqa: E402
from tuss_fx.separation.separator import Separator  # noqa: E402

RATE = 48000


def write_input(path: Path, seconds: float) -> None:
    """Stereo tones under noise bursts, written block by block (hours fit in little memory)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", RATE, 2, subtype="FLOAT") as out:
        for start in range(0, round(seconds * RATE), 10 * RATE):
            t = (start + np.arange(10 * RATE)) / RATE
            tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.3 * t)) / 2
            bursts = 0.05 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 0.7 * t) > 0.4)
            out.write(np.stack([tone + bursts, 0.7 * tone - bursts], axis=1)[: round(seconds * RATE) - start])


def run_previous(separator: Separator, path: Path, prompts: list[str]) -> np.ndarray:
    """The pipeline before batching: blocks read in the model's thread (no read-ahead); the
    separator given takes one segment per call."""
    info = probe(path)
    stream = separator.open_stream(prompts, info.sample_rate, info.num_channels, info.num_frames)
    parts = [stream.push(block) for block in read_blocks(info)]
    return np.concatenate([*parts, stream.finish()], axis=-1)


def run_current(separator: Separator, path: Path, prompts: list[str]) -> np.ndarray:
    info = probe(path)
    regions = separator.separate_regions(read_blocks(info), info.sample_rate, info.num_channels, info.num_frames,
                                         prompts)
    return np.concatenate([stems for _, stems in regions], axis=-1)


def si_snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    estimate, reference = estimate.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    target = reference * (estimate @ reference) / max(reference @ reference, 1e-20)
    noise = estimate - target
    return 10 * math.log10(max(target @ target, 1e-20) / max(noise @ noise, 1e-20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--config", choices=sorted(PRESETS), default=None, help="random weights of this size")
    parser.add_argument("--checkpoint", default="default", help="used when --config is not given")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prompts", nargs="+", default=["speech", "sfxbg", "musicbg"])
    parser.add_argument("--batch-size", type=int, default=None, help="mono segments per pass (default: auto)")
    parser.add_argument("--precision", choices=["auto", "bf16"], default="auto", help="of the last path")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = TussModel(PRESETS[args.config]()) if args.config else None

    def separator(precision: str, batch_size: int | None) -> Separator:
        if model is not None:
            return Separator(model, args.device, precision=precision, batch_size=batch_size, name=args.config)
        return Separator.from_pretrained(args.checkpoint, args.device, precision=precision, batch_size=batch_size)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.wav"
        write_input(path, args.seconds)
        # one segment (both channels) per call: the CPU default, and batch size 2 on CUDA
        baseline = separator("fp32", None)
        if baseline.device.type == "cuda":
            baseline = separator("fp32", 2)
        print(f"{args.seconds:g} s of 48 kHz stereo, prompts {' '.join(args.prompts)}, model {baseline.name}, "
              f"device {baseline.device}" + (f" ({torch.cuda.get_device_name()})" if baseline.device.type == "cuda"
                                             else ""))
        paths = [("previous: fp32, 1 segment per call, no read-ahead", baseline, run_previous),
                 ("batched fp32 + read-ahead", separator("fp32", args.batch_size), run_current),
                 (f"batched {args.precision} precision + read-ahead", separator(args.precision, args.batch_size),
                  run_current)]
        reference, first = None, None
        for label, chosen, run in paths:
            run(chosen, path, args.prompts) if chosen.device.type == "cuda" else None  # CUDA warm-up
            start = time.perf_counter()
            stems = run(chosen, path, args.prompts)
            seconds = time.perf_counter() - start
            reference = stems if reference is None else reference
            first = seconds if first is None else first
            difference = float(np.abs(stems - reference).max() / np.abs(reference).max())
            print(f"{label:<48} {seconds:8.2f} s  {args.seconds / seconds:7.1f}x real time  "
                  f"ratio {first / seconds:5.2f}  ({chosen.runner.describe()}); max diff {difference:.1e} of peak, "
                  f"SI-SNR vs baseline {si_snr_db(stems, reference):.1f} dB")


if __name__ == "__main__":
    main()
