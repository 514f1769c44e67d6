"""Exact PyTorch references of the fused ops, and the one place that dispatches to Triton kernels.

Dispatch (environment variable TUSS_FX_KERNELS):
- unset / "auto": a CUDA tensor takes an op's Triton kernel only where the kernel was measured
  faster than the reference on this GPU model, in this mode (inference: gradients off;
  training: gradients on), per the table benchmarks/bench_kernels.py --write-table writes to
  kernels/measured.json. No measurement means the reference, so auto is never slower than "0".
- "1": CUDA tensors take every kernel that can run (what auto did before measurements).
- "0": always the reference.
- "force": every op takes its kernel and raises if it cannot; CPU tensors then run through
  Triton's interpreter, which needs TRITON_INTERPRET=1 set before the kernels are imported.
  Tests and benchmarks use it to prove the kernel path ran.

On AVX-512 CPUs, `linear` runs oneDNN's linear (the op inductor lowers CPU linears to) when no
gradient is wanted (benchmarks/bench_cpu.py measures it), the same result within 3e-6 of peak; on AVX2
alone it measured slower, so those keep F.linear (`onednn_linear_pays`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
from importlib import resources
from itertools import groupby
from types import ModuleType

import torch
import torch.nn.functional as F

KERNELS_ENV = "TUSS_FX_KERNELS"
FUSED_OPS = {  # op -> module under tuss_fx.kernels
    "rotary_attention": "attention",
    "rms_group_norm": "rms_group_norm",
    "add_rms_group_norm": "rms_group_norm",
    "band_group_norm": "band_group_norm",
    "band_projection": "band_projection",
}


KERNEL_MODES = ("auto", "1", "0", "force")
# auto takes a kernel measured at least this much faster (the rest is timing noise)
MIN_SPEEDUP = 1.05
MEASURED_TABLE = "measured.json"  # in tuss_fx.kernels: {"gpus": {name: {op: {mode: speed-up}}}}


class KernelUnavailableError(RuntimeError):
    """TUSS_FX_KERNELS=force asked for a kernel that cannot run here."""


@functools.cache
def _kernel_module(name: str) -> ModuleType | str:
    """The kernel module, or why it cannot be imported (no Triton, no driver, ...)."""
    try:
        return importlib.import_module(f"tuss_fx.kernels.{name}")
    except Exception as exc:  # Triton raises assorted errors where it has no backend
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _kernel_path(op: str, device: torch.device) -> tuple[bool, str]:
    """(use the kernel?, why) for `op` on tensors of `device`."""
    mode = os.environ.get(KERNELS_ENV, "auto").strip().lower()
    if mode not in KERNEL_MODES:
        raise ValueError(f"{KERNELS_ENV} must be one of {', '.join(KERNEL_MODES)}, not {mode!r}")
    if mode == "0":
        return False, f"PyTorch reference ({KERNELS_ENV}=0)"
    if device.type != "cuda" and mode != "force":
        # decided before importing Triton, so CPU runs never pay for the import
        return False, f"PyTorch reference (Triton kernels run on CUDA; this is {device.type})"
    module = _kernel_module(FUSED_OPS[op])
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    if isinstance(module, str):
        reason = f"Triton kernel unavailable ({module})"
    elif device.type == "cuda" and mode == "auto":
        return _measured_choice(op, torch.cuda.get_device_name(device), torch.is_grad_enabled())
    elif device.type == "cuda":
        return True, "Triton kernel"
    elif mode == "force" and interpreted:
        return True, "Triton kernel (interpreter)"
    else:
        reason = f"Triton kernels run on CUDA (or with TRITON_INTERPRET=1); this is {device.type}"
    if mode == "force":
        raise KernelUnavailableError(f"{KERNELS_ENV}=force but {op} cannot take its kernel: {reason}")
    return False, f"PyTorch reference ({reason})"


@functools.cache
def measured_speedups() -> dict[str, dict[str, dict[str, float]]]:
    """GPU name -> op -> {"inference"|"training": reference time / kernel time}, as shipped."""
    table = resources.files("tuss_fx.kernels").joinpath(MEASURED_TABLE)
    return json.loads(table.read_text())["gpus"] if table.is_file() else {}


@functools.cache
def _measured_choice(op: str, gpu: str, training: bool) -> tuple[bool, str]:
    return choose_by_measurement(measured_speedups(), gpu, op, training)


def choose_by_measurement(table: dict, gpu: str, op: str, training: bool) -> tuple[bool, str]:
    """(take the kernel?, why) for TUSS_FX_KERNELS=auto: only a measured speed-up of MIN_SPEEDUP
    or more on this GPU model, in this mode, takes the kernel."""
    mode = "training" if training else "inference"
    speedup = table.get(gpu, {}).get(op, {}).get(mode)
    if speedup is None:
        return False, f"PyTorch reference (auto: {op} not measured in {mode} on {gpu})"
    if speedup < MIN_SPEEDUP:
        return False, f"PyTorch reference (auto: the kernel measured {speedup:.2f}x in {mode} on {gpu})"
    return True, f"Triton kernel (auto: measured {speedup:.2f}x in {mode} on {gpu})"


def _kernel(op: str, tensor: torch.Tensor) -> ModuleType | None:
    use, _ = _kernel_path(op, tensor.device)
    return _kernel_module(FUSED_OPS[op]) if use else None


def kernels_report() -> str:
    """Whether the Triton kernels can run in this installation and, when not, why (`tuss-fx info`). Asks
    where Triton is installed without importing it (seconds of start-up)."""
    if importlib.util.find_spec("triton") is None:
        where = {"darwin": "macOS", "win32": "Windows"}.get(sys.platform)
        why = (f"Triton publishes wheels for Linux only (this is {where})" if where
               else "Triton is not installed (pip install triton)")
        return f"off: {why}; every fused op runs its exact PyTorch reference"
    return (f"Triton {importlib.metadata.version('triton')} installed: fused ops take their kernels on CUDA "
            f"(per op below)")


def dispatch_report(device: torch.device) -> dict[str, str]:
    """Which implementation each fused op takes on `device` when separating (gradients off), for
    `tuss-fx info`."""
    report = {}
    with torch.no_grad():
        for op in FUSED_OPS:
            try:
                report[op] = _kernel_path(op, device)[1]
            except KernelUnavailableError as exc:
                report[op] = f"error: {exc}"
    return report


def onednn_linear_pays(capability: str) -> bool:
    """Whether oneDNN's linear beats F.linear's BLAS call for fp32 inference on a CPU of this torch
    capability (torch.backends.cpu.get_cpu_capability()).

    AVX512: 1.06-1.12x faster on the model's FFN shapes (AMD EPYC, 2 threads, 2026-12-01). AVX2 alone:
    0.96x on medium, the median of 7 interleaved pairs (0.89-1.03x), and equal on small (AMD EPYC
    reporting AVX2, 2026-12-05; benchmarks/bench_cpu.py's workers with --lever-off onednn). Anything
    else (ARM, older x86) was never measured and keeps its BLAS.
    """
    return capability == "AVX512"


# oneDNN's linear has no autograd formula, so training always takes F.linear
_ONEDNN_LINEAR = (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
                  and onednn_linear_pays(torch.backends.cpu.get_cpu_capability()))


def linear_report() -> str:
    """Which fp32 inference linear this CPU takes, in words (tuss-fx info)."""
    if _ONEDNN_LINEAR:
        return "oneDNN's linear"
    return "F.linear's BLAS (oneDNN's linear pays on AVX512 only)"


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x (..., I) @ weight (O, I)ᵀ + bias (O,) -> (..., O), as F.linear.

    On an AVX-512 CPU in fp32 with gradients off, oneDNN's linear, which measured 1.06-1.12x faster
    than F.linear's BLAS call on the model's FFN shapes; training, autocast and other CPUs take F.linear.
    """
    if (_ONEDNN_LINEAR and x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
            and not torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu")):
        return torch.ops.mkldnn._linear_pointwise(x, weight.contiguous(), bias, "none", [], "")
    return F.linear(x, weight, bias)


def rms_group_norm(x: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """RMSGroupNorm of every TF bin (TUSS.md, TF-Locoformer block), computed in fp32.

    Args:
        x: (..., D) features, channels last.
        gamma: (D,) per-channel gain.
        num_groups: groups the D channels are split into; each is divided by its RMS + eps.
        eps: added to the RMS (not under the square root), as the official layer does.

    Returns:
        (..., D) in x's dtype.
    """
    if kernels := _kernel("rms_group_norm", x):
        return kernels.rms_group_norm(x, gamma, num_groups, eps)
    shape = x.shape
    grouped = x.float().reshape(*shape[:-1], num_groups, shape[-1] // num_groups)
    # one fused reduction and one multiply by a per-group reciprocal, instead of square, mean,
    # sqrt and a full-size division: 1.03x on a whole CPU forward of `small`
    rms = torch.linalg.vector_norm(grouped, dim=-1, keepdim=True) / math.sqrt(grouped.shape[-1])
    return ((grouped * (rms + eps).reciprocal()).reshape(shape) * gamma.float()).to(x.dtype)


def add_rms_group_norm(
    x: torch.Tensor, delta: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual add and the next pre-norm: returns (x + delta, RMSGroupNorm(x + delta)), both (..., D)."""
    if kernels := _kernel("add_rms_group_norm", x):
        return kernels.add_rms_group_norm(x, delta, gamma, num_groups, eps)
    total = x + delta
    return total, rms_group_norm(total, gamma, num_groups, eps)


def rotary_phases(freqs: torch.Tensor, seq_len: int) -> torch.Tensor:
    """The rotary embedding's unit phasors e^(i·position·freq) for positions 0..seq_len-1.

    Follows rotary-embedding-torch 0.6.1: angle = position · freq, each angle shared by one
    interleaved (even, odd) channel pair, which rotates as (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin):
    the complex product (x0 + i·x1)·e^(i·angle).

    Args:
        freqs: (E/2,) inverse frequencies (the state_dict's `rope.freqs`), E = head_dim.
        seq_len: L.

    Returns:
        (L, E/2) complex64.
    """
    positions = torch.arange(seq_len, device=freqs.device, dtype=torch.float32)
    angles = torch.outer(positions, freqs.float())
    return torch.polar(torch.ones_like(angles), angles)


def apply_rotary(x: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs: x (..., E) real, phases broadcastable to (..., E/2) from
    `rotary_phases` -> (..., E) in x's dtype, computed in at least fp32.

    One complex multiply reads x once and writes once; the (x·cos + swapped(x)·sin) form of the
    reference library takes a flipped copy and three more passes (1.03x on a whole CPU forward).
    """
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    pairs = torch.view_as_complex(work.unflatten(-1, (-1, 2)))  # needs a unit stride on the pair axis
    rotated = torch.view_as_real(pairs * phases.to(pairs.dtype)).flatten(-2)
    return rotated.to(x.dtype)


def rotary_attention(qkv: torch.Tensor, freqs: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Multi-head self-attention with rotary q/k, from the packed qkv projection.

    Args:
        qkv: (B, L, 3·H·E), channels ordered (3, H, E) as the official `get_qkv` reshapes them.
        freqs: (E/2,) rotary inverse frequencies.
        num_heads: H.

    Returns:
        (B, L, H·E): heads concatenated, ready for the output projection.
    """
    if kernels := _kernel("rotary_attention", qkv):
        return kernels.rotary_attention(qkv, freqs, num_heads)
    batch, seq_len, _ = qkv.shape
    qkv = qkv.view(batch, seq_len, 3, num_heads, -1)
    phases = rotary_phases(freqs, seq_len)[:, None, None]  # (L, 1, 1, E/2) over (L, 2, H, E/2)
    qk = apply_rotary(qkv[:, :, :2], phases)  # q and k rotated together: one pass
    out = F.scaled_dot_product_attention(qk[:, :, 0].transpose(1, 2), qk[:, :, 1].transpose(1, 2),
                                         qkv[:, :, 2].transpose(1, 2))  # (B, H, L, E)
    return out.transpose(1, 2).reshape(batch, seq_len, -1)


def band_group_norm(
    x: torch.Tensor,
    band_starts: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float = 1e-5,
) -> torch.Tensor:
    """GroupNorm(1, channels-of-band) for every band at once.

    The official model runs one nn.GroupNorm per band over (band channels × T); this computes
    the same statistics for all bands in one pass (two-pass mean/variance, biased, like GroupNorm).

    Args:
        x: (B, T, C) channels last.
        band_starts: (K+1,) int32, first channel of each band then C: band k owns
            channels band_starts[k] .. band_starts[k+1]-1.
        weight, bias: (C,) the per-band GroupNorm affine parameters, concatenated.
        eps: GroupNorm's epsilon.

    Returns:
        (B, T, C).
    """
    if kernels := _kernel("band_group_norm", x):
        return kernels.band_group_norm(x, band_starts, weight, bias, eps)
    batch, frames, _ = x.shape
    widths = (band_starts[1:] - band_starts[:-1]).long()
    num_bands = widths.numel()
    band_of_channel = torch.repeat_interleave(torch.arange(num_bands, device=x.device), widths)
    counts = widths.to(x.dtype) * frames
    sums = x.new_zeros(batch, num_bands).index_add_(1, band_of_channel, x.sum(dim=1))
    centred = x - (sums / counts)[:, band_of_channel].unsqueeze(1)
    squares = x.new_zeros(batch, num_bands).index_add_(1, band_of_channel, centred.square().sum(dim=1))
    inv_std = torch.rsqrt(squares / counts + eps)[:, band_of_channel].unsqueeze(1)
    return centred * inv_std * weight + bias


def band_projection(
    x: torch.Tensor, band_starts: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Every band's 1×1 projection: out[..., k, :] = x[..., s_k:e_k] @ weight[s_k:e_k] + bias[k].

    The reference batches consecutive bands of equal width into one einsum (7 instead of 61
    products at 48 kHz); the kernel does all bands in one launch.

    Args:
        x: (..., C) band-split channels. band_starts: (K+1,) int32 (see band_group_norm).
        weight: (C, D), each band's projection transposed and stacked. bias: (K, D).

    Returns:
        (..., K, D).
    """
    if kernels := _kernel("band_projection", x):
        return kernels.band_projection(x, band_starts, weight, bias)
    starts = band_starts.tolist()
    out, band = [], 0
    for width, members in groupby(b - a for a, b in zip(starts, starts[1:])):
        count, first = len(list(members)), starts[band]
        chunk = x[..., first : first + count * width].unflatten(-1, (count, width))  # (..., n, w)
        run_weight = weight[first : first + count * width].view(count, width, -1)  # (n, w, D)
        out.append(torch.einsum("...nc,ncd->...nd", chunk, run_weight) + bias[band : band + count])
        band += count
    return torch.cat(out, dim=-2)
