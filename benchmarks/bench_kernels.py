"""Triton kernels against PyTorch at the model's shapes, forward and forward+backward, same run.

Usage: python benchmarks/bench_kernels.py [--dtype bf16|fp16|fp32] [--write-table kernels/measured.json]

Needs a CUDA GPU (prints so and exits 0 elsewhere). For each shape it prints milliseconds,
the ratio to each baseline (higher = kernel faster) and achieved throughput:
- attention: FLOPs = 4·B·H·L²·E forward (QKᵀ and PV), 2.5x that for forward+backward;
  baselines: eager reference (tuss_fx.model.ops with kernels off) and SDPA with the flash and the
  memory-efficient backend (rotary applied in PyTorch before SDPA).
- band projection (all 61 encoder 1×1 convs as one grouped matmul): FLOPs = 2·N·C·D forward,
  3x that for forward+backward; baseline: eager reference (one einsum per run of equal widths).
- RMSGroupNorm (+ residual add) and band-split norm: bytes = elements read + written × dtype
  size (norm: read x, write y; add+norm: read x, delta, write sum, y; band norm: read x, write y);
  baseline: eager reference. GB/s is compared with the GPU's peak bandwidth where known.

It ends with the table TUSS_FX_KERNELS=auto chooses from: per op and mode (inference = fwd,
training = fwd+bwd), the smallest speed-up of the kernel over the reference path (tuss_fx.model.ops
with kernels off) across the shapes above; --write-table merges it into the shipped table under
this GPU's name.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MODES = {"fwd": "inference", "fwd+bwd": "training"}
SPEEDUPS: dict[str, dict[str, float]] = {}  # op -> mode -> smallest speed-up over the reference


def record(op: str, mode: str, speedup: float) -> None:
    modes = SPEEDUPS.setdefault(op, {})
    modes[MODES[mode]] = round(min(speedup, modes.get(MODES[mode], float("inf"))), 3)


def time_ms(fn, repeats: int = 50) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


def with_backward(fn, *inputs):
    def run():
        out = fn()
        out = out[1] if isinstance(out, tuple) else out
        torch.autograd.grad(out, inputs, torch.ones_like(out))
    return run


def bench_attention(dtype) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F

    from tuss_fx.kernels.attention import rotary_attention
    from tuss_fx.model import ops

    print("attention (B·H sequences of L, head E): kernel ms | ratio vs eager, SDPA-flash, SDPA-efficient | TFLOP/s")
    # medium: freq path 61 bands over B·T ≈ 3·574 rows, time path ~574 frames over 3·61 rows
    for name, batch, seq_len, heads, head_dim in [
        ("freq path medium", 1722, 61, 4, 32), ("time path medium", 183, 574, 4, 32),
        ("freq path TSE", 1710, 61, 4, 24), ("time path TSE", 183, 570, 4, 24), ("large", 183, 574, 8, 32),
    ]:
        qkv = torch.randn(batch, seq_len, 3 * heads * head_dim, device="cuda", dtype=dtype, requires_grad=True)
        freqs = 1.0 / 10000 ** (torch.arange(0, head_dim, 2, device="cuda").float() / head_dim)

        def sdpa(backend):
            def run():
                q, k, v = qkv.view(batch, seq_len, 3, heads, -1).permute(2, 0, 3, 1, 4)
                phases = ops.rotary_phases(freqs, seq_len)
                q, k = ops.apply_rotary(q, phases), ops.apply_rotary(k, phases)
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v)
            return run

        os.environ["TUSS_FX_KERNELS"] = "0"
        eager = lambda: ops.rotary_attention(qkv, freqs, heads)  # noqa: E731
        kernel = lambda: rotary_attention(qkv, freqs, heads)  # noqa: E731
        flops = 4 * batch * heads * seq_len**2 * head_dim
        for mode, factor in (("fwd", 1.0), ("fwd+bwd", 2.5)):
            wrap = (lambda f: f) if mode == "fwd" else (lambda f: with_backward(f, qkv))
            times = {}
            for label, fn in (("kernel", kernel), ("eager", eager), ("flash", sdpa(SDPBackend.FLASH_ATTENTION)),
                              ("efficient", sdpa(SDPBackend.EFFICIENT_ATTENTION))):
                try:
                    times[label] = time_ms(wrap(fn))
                except RuntimeError:  # a backend that refuses this dtype/head size
                    times[label] = float("nan")
            ratios = ", ".join(f"{times[k] / times['kernel']:.2f}x" for k in ("eager", "flash", "efficient"))
            record("rotary_attention", mode, times["eager"] / times["kernel"])
            print(f"  {name:<18} {mode:<8} {times['kernel']:7.3f} ms | {ratios} | "
                  f"{flops * factor / times['kernel'] / 1e9:.1f}")


def bench_norms(dtype, peak_gbs: float | None) -> None:
    from tuss_fx.kernels.band_group_norm import band_group_norm
    from tuss_fx.kernels.rms_group_norm import add_rms_group_norm, rms_group_norm
    from tuss_fx.model import ops
    from tuss_fx.model.encoder import band_widths

    size = torch.finfo(dtype).bits // 8
    print("norms: kernel ms | ratio vs eager | GB/s" + (f" (peak {peak_gbs:.0f})" if peak_gbs else ""))
    rows, dim = 3 * 575 * 61, 64
    x = torch.randn(rows, dim, device="cuda", dtype=dtype, requires_grad=True)
    delta = torch.randn_like(x, requires_grad=True)
    gamma = torch.ones(dim, device="cuda", requires_grad=True)
    widths = [2 * w for w in band_widths(48000, 2048)]
    spec = torch.randn(3, 575, sum(widths), device="cuda", dtype=dtype, requires_grad=True)
    starts = torch.tensor([0, *widths], device="cuda").cumsum(0).int()
    w, b = torch.ones(sum(widths), device="cuda", requires_grad=True), torch.zeros(sum(widths), device="cuda", requires_grad=True)
    cases = [  # (name, kernel, reference, elements moved, op in tuss_fx.model.ops)
        ("RMSGroupNorm", lambda: rms_group_norm(x, gamma, 8, 1e-5), lambda: ops.rms_group_norm(x, gamma, 8, 1e-5), 2 * x.numel(),
         "rms_group_norm"),
        ("add+RMSGroupNorm", lambda: add_rms_group_norm(x, delta, gamma, 8, 1e-5),
         lambda: ops.add_rms_group_norm(x, delta, gamma, 8, 1e-5), 4 * x.numel(), "add_rms_group_norm"),
        ("band-split norm", lambda: band_group_norm(spec, starts, w, b), lambda: ops.band_group_norm(spec, starts, w, b),
         2 * spec.numel(), "band_group_norm"),
    ]
    os.environ["TUSS_FX_KERNELS"] = "0"
    for name, kernel, eager, elements, op in cases:
        for mode in ("fwd", "fwd+bwd"):
            inputs = (spec,) if name.startswith("band") else (x,)
            wrap = (lambda f: f) if mode == "fwd" else (lambda f: with_backward(f, *inputs))
            t_kernel, t_eager = time_ms(wrap(kernel)), time_ms(wrap(eager))
            moved = elements * size * (1 if mode == "fwd" else 2.5)
            print(f"  {name:<18} {mode:<8} {t_kernel:7.3f} ms | {t_eager / t_kernel:.2f}x | {moved / t_kernel / 1e6:.0f}")
            record(op, mode, t_eager / t_kernel)


def bench_projection(dtype) -> None:
    from tuss_fx.kernels.band_projection import band_projection
    from tuss_fx.model import ops
    from tuss_fx.model.encoder import band_widths

    print("band projection: kernel ms | ratio vs eager | TFLOP/s")
    widths = [2 * w for w in band_widths(48000, 2048)]
    starts = torch.tensor([0, *widths], device="cuda").cumsum(0).int()
    for dim in (64, 128):
        x = torch.randn(3, 575, sum(widths), device="cuda", dtype=dtype, requires_grad=True)
        weight = torch.randn(sum(widths), dim, device="cuda", dtype=dtype, requires_grad=True)
        bias = torch.zeros(len(widths), dim, device="cuda", dtype=dtype, requires_grad=True)
        flops = 2 * 3 * 575 * sum(widths) * dim
        os.environ["TUSS_FX_KERNELS"] = "0"
        for mode, factor in (("fwd", 1), ("fwd+bwd", 3)):
            wrap = (lambda f: f) if mode == "fwd" else (lambda f: with_backward(f, x, weight))
            t_kernel = time_ms(wrap(lambda: band_projection(x, starts, weight, bias)))
            t_eager = time_ms(wrap(lambda: ops.band_projection(x, starts, weight, bias)))
            print(f"  D={dim:<4} {mode:<8} {t_kernel:7.3f} ms | {t_eager / t_kernel:.2f}x | "
                  f"{flops * factor / t_kernel / 1e9:.2f}")
            record("band_projection", mode, t_eager / t_kernel)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--peak-gbs", type=float, default=None, help="GPU memory bandwidth, for the % of peak")
    parser.add_argument("--write-table", type=Path, default=None,
                        help="merge this GPU's speed-ups into this table (kernels/measured.json is the shipped one)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_kernels needs a CUDA GPU: Triton kernels run on CUDA only; nothing to measure here.")
        return 0
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.dtype}")
    bench_attention(DTYPES[args.dtype])
    bench_norms(DTYPES[args.dtype], args.peak_gbs)
    bench_projection(DTYPES[args.dtype])
    print(f"speed-ups over the reference (smallest over the shapes), the table auto chooses from:\n"
          f"{json.dumps({torch.cuda.get_device_name(): SPEEDUPS}, indent=1)}")
    if args.write_table:
        table = json.loads(args.write_table.read_text()) if args.write_table.exists() else {"gpus": {}}
        table["gpus"][torch.cuda.get_device_name()] = SPEEDUPS
        args.write_table.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
