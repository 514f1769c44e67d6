"""Whole-model speed on one segment: tuss-fx vs the official execution pattern, same weights, same run.

Usage: python benchmarks/bench_model.py [--config medium] [--seconds 6] [--prompts speech sfxbg musicbg]

Prints seconds per segment (best of --repeats), the real-time factor, the speed-up of tuss-fx
over the official-style baseline measured in this run, and the largest output difference.
Both paths run first with glibc's default allocator, then again after tuss-fx's allocator
setting (tuss_fx.separation.separator.tune_allocator), so the two sources of the speed-up show apart.

With --device cuda it also times segments per second with the Triton kernels on
(TUSS_FX_KERNELS=1) against the PyTorch reference path (TUSS_FX_KERNELS=0), same weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from official_style import official_style_forward  # noqa: E402

from tuss_fx.model import TussModel  # noqa: E402
from tuss_fx.model.config import PRESETS  # noqa: E402
from tuss_fx.separation.separator import tune_allocator  # noqa: E402


def best_seconds(fn, repeats: int, warm_up: bool = True) -> float:
    """Fastest of `repeats` calls. The warm-up call (first-touch allocations, oneDNN primitive
    creation) is skipped where one call is itself the long job being measured (a whole remix)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(PRESETS), default="medium")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--prompts", nargs="+", default=["speech", "sfxbg", "musicbg"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = TussModel(PRESETS[args.config]()).eval().to(args.device)
    mixture = torch.randn(1, int(args.seconds * model.config.sample_rate), device=args.device) * 0.1
    if args.device.startswith("cuda"):
        bench_kernels_on_off(model, mixture, args)
        return

    def ours():
        with torch.inference_mode():
            return model(mixture, args.prompts)

    def baseline():
        return official_style_forward(model, mixture, args.prompts)

    diff = float((ours() - baseline()).abs().max() / baseline().abs().max())
    print(f"{args.config}, {args.seconds:g} s segment, prompts {args.prompts}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"max |tuss-fx - official-style| / peak = {diff:.2e}")
    rows = []
    for allocator in ("glibc default", "tuned (as Separator runs)"):
        if allocator.startswith("tuned"):
            tune_allocator()
        t_base, t_ours = best_seconds(baseline, args.repeats), best_seconds(ours, args.repeats)
        rows.append((allocator, t_base, t_ours))
        print(f"[{allocator}] official-style {t_base:.2f} s (RTF {t_base / args.seconds:.2f}), "
              f"tuss-fx {t_ours:.2f} s (RTF {t_ours / args.seconds:.2f}), speed-up {t_base / t_ours:.2f}x")
    print(f"shipped speed-up (official-style, default allocator -> tuss-fx as shipped): "
          f"{rows[0][1] / rows[1][2]:.2f}x")


def bench_kernels_on_off(model, mixture, args) -> None:
    import os

    def forward():
        with torch.inference_mode():
            out = model(mixture, args.prompts)
        torch.cuda.synchronize()
        return out

    os.environ["TUSS_FX_KERNELS"] = "0"
    reference_out, t_reference = forward(), best_seconds(forward, args.repeats + 3)
    os.environ["TUSS_FX_KERNELS"] = "1"
    kernel_out, t_kernels = forward(), best_seconds(forward, args.repeats + 3)
    diff = float((kernel_out - reference_out).abs().max() / reference_out.abs().max())
    print(f"{args.config} on {torch.cuda.get_device_name()}: reference {1 / t_reference:.2f} segments/s, "
          f"kernels {1 / t_kernels:.2f} segments/s, speed-up {t_reference / t_kernels:.2f}x, max rel diff {diff:.1e}")


if __name__ == "__main__":
    main()
