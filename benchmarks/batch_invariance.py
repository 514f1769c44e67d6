"""Does a segment's output depend on what else is in its batch? Item 0 of a batch of 8 against
item 0 alone, fp32, random weights, on the chosen device; with CUDA, once per TF32 setting.

Usage: python benchmarks/batch_invariance.py [--config medium] [--seconds 6] [--device auto]

Prints the largest difference relative to the output's peak, next to two yardsticks from the
same run: the same item run twice alone (determinism), and item 0 with its input scaled by
1 + 1e-7 (how much the model amplifies a rounding-sized change of its input).
On 2 CPU cores (2026-11-26, --seconds 2): medium 6.6e-8 (batch) vs 0.0 (repeat) vs 1.1e-6
(1e-7 input change); small 1.6e-8 / 0.0 / 6.5e-7. Batching is invariant at rounding level there, so the
2e-2 seen on an H100 (issue #10) comes from the GPU's kernels, not from the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tuss_fx.model import TussModel  # noqa: E402
from tuss_fx.model.config import PRESETS  # noqa: E402
from tuss_fx.separation.devices import resolve_device  # noqa: E402

PROMPTS = ["speech", "sfxbg", "musicbg"]


def measure(model: TussModel, audio: torch.Tensor) -> tuple[float, float, float]:
    with torch.inference_mode():
        alone = model(audio[:1], PROMPTS)
        batched = model(audio, PROMPTS)[:1]
        again = model(audio[:1], PROMPTS)
        nudged = model(audio[:1] * (1 + 1e-7), PROMPTS)
    peak = alone.abs().max()
    return tuple(float((other - alone).abs().max() / peak) for other in (batched, again, nudged))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(PRESETS), default="medium")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = TussModel(PRESETS[args.config]()).eval().to(device)
    audio = (torch.randn(8, round(48000 * args.seconds)) * 0.1).to(device)
    settings = [("fp32", None)] if device.type != "cuda" else [
        ("TF32 off everywhere", (False, False)), ("TF32 off in matmul only (cuDNN default on)", (False, True)),
        ("TF32 on", (True, True))]
    for label, flags in settings:
        if flags:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
        batched, repeat, nudged = measure(model, audio)
        print(f"{args.config} {device} {label:<44} batch-8 item 0 vs alone {batched:.1e} | alone twice {repeat:.1e} "
              f"| input x(1+1e-7) {nudged:.1e}  (of peak)")


if __name__ == "__main__":
    main()
