"""Where TUSS's CPU time goes, per op kind and per stage, before any CPU lever is pulled (the CPU-speed issue).

Usage: python benchmarks/profile_cpu.py [--config small medium] [--seconds 6] [--threads 2]
       [--prompts speech sfxbg musicbg]

For each config: one warm-up forward, then one forward under torch.profiler (op kinds: the self CPU
time of every aten op, grouped) and one with a timer around every stage (STFT, band split, each
cross-prompt and TSE block's frequency and time paths, decoder, iSTFT). Random weights: the cost
does not depend on their values. Prints two tables per config, seconds and share of the forward.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tuss_fx.model import TussModel  # noqa: E402
from tuss_fx.model.config import PRESETS  # noqa: E402
from tuss_fx.separation.separator import tune_allocator  # noqa: E402

# aten op name -> the kind it is counted under; anything unlisted is "other"
OP_KINDS = {
    "GEMM (linear, matmul, conv as GEMM)": ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_mkldnn",
                                            "mkldnn_", "convolution", "conv1d", "conv2d"),
    "attention (SDPA, softmax)": ("scaled_dot_product", "_scaled_dot_product", "_flash_attention", "softmax",
                                  "_softmax", "_efficient_attention"),
    "FFT (STFT, iSTFT)": ("fft", "_fft", "stft", "istft"),
    "elementwise and reductions": ("mul", "add", "sub", "div", "silu", "sigmoid", "tanh", "glu", "pow", "sqrt",
                                   "rsqrt", "mean", "sum", "std", "var", "neg", "exp", "native_group_norm",
                                   "group_norm", "complex", "view_as_real", "abs", "clamp", "where", "sin", "cos",
                                   "fill_", "zero_"),
    "copies and layout (copy, cat, pad, unfold)": ("copy_", "clone", "contiguous", "cat", "stack", "pad",
                                                   "constant_pad", "unfold", "index", "_to_copy", "empty_strided",
                                                   "as_strided", "repeat", "expand", "flip"),
}


def op_kind(name: str) -> str:
    short = name.removeprefix("aten::")
    for kind, needles in OP_KINDS.items():
        if any(short == n or short.startswith(n) for n in needles):
            return kind
    return "other"


def profile_ops(model: TussModel, mixture: torch.Tensor, prompts: list[str]) -> dict[str, float]:
    """Self CPU seconds per op kind over one forward."""
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(mixture, prompts)
    kinds: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            kinds[op_kind(event.key)] += event.self_cpu_time_total / 1e6
    return dict(kinds)


def profile_stages(model: TussModel, mixture: torch.Tensor, prompts: list[str]) -> dict[str, float]:
    """Wall seconds per stage over one forward, from timers around each module (CPU runs in order)."""
    stages: dict[str, float] = defaultdict(float)
    started: dict[str, float] = {}
    handles = []

    def timed(module: torch.nn.Module, label: str) -> None:
        handles.append(module.register_forward_pre_hook(lambda *_: started.__setitem__(label, time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda *_: stages.__setitem__(label, stages[label] + time.perf_counter() - started[label])))

    separator = model.separator
    for index, block in enumerate(separator.cross_prompt_module):
        timed(block.freq_path, f"cross-prompt block {index + 1}: frequency path")
        timed(block.frame_path, f"cross-prompt block {index + 1}: time path")
    for index, block in enumerate(separator.cond_tse_module):
        timed(block.freq_path, f"TSE block {index + 1}: frequency path")
        timed(block.frame_path, f"TSE block {index + 1}: time path")
    start = time.perf_counter()
    with torch.inference_mode():
        model(mixture, prompts)
    total = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    stages["everything else (STFT, band split and decoder, prompts, iSTFT)"] = total - sum(stages.values())
    return dict(stages)


def print_table(title: str, seconds: dict[str, float], total: float) -> None:
    print(f"\n{title}")
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"  {name:<66} {value:7.3f} s  {100 * value / total:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", choices=sorted(PRESETS), default=["small", "medium"])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", nargs="+", default=["speech", "sfxbg", "musicbg"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_allocator()
    torch.manual_seed(0)
    mixture = torch.randn(1, round(args.seconds * 48000)) * 0.1
    for name in args.config:
        model = TussModel(PRESETS[name]()).eval()
        with torch.inference_mode():
            model(mixture, args.prompts)  # warm-up: allocations, oneDNN primitives
        start = time.perf_counter()
        with torch.inference_mode():
            model(mixture, args.prompts)
        total = time.perf_counter() - start
        print(f"== {name}: one {args.seconds:g} s segment, {len(args.prompts)} prompts, {args.threads} threads: "
              f"{total:.2f} s (RTF {total / args.seconds:.3f})")
        kinds = profile_ops(model, mixture, args.prompts)
        print_table("op kinds (self CPU time under the profiler, which adds its own overhead)", kinds,
                    sum(kinds.values()))
        stages = profile_stages(model, mixture, args.prompts)
        print_table("stages (wall time)", stages, sum(stages.values()))


if __name__ == "__main__":
    main()
