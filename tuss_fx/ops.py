"""Exact PyTorch references of the fused ops, and the one place that may dispatch to Triton kernels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
    shape = x.shape
    grouped = x.float().reshape(*shape[:-1], num_groups, shape[-1] // num_groups)
    rms = grouped.square().mean(dim=-1, keepdim=True).sqrt()
    return ((grouped / (rms + eps)).reshape(shape) * gamma.float()).to(x.dtype)


def rotary_tables(freqs: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed-sin tables of the rotary embedding for positions 0..seq_len-1.

    Follows rotary-embedding-torch 0.6.1: angle = position · freq, each angle shared by one
    interleaved (even, odd) channel pair, which rotates as (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin).

    Args:
        freqs: (E/2,) inverse frequencies (the state_dict's `rope.freqs`), E = head_dim.
        seq_len: L.

    Returns:
        cos: (L, E) fp32; signed_sin: (L, E) fp32 holding -sin on even and +sin on odd channels,
        so that rotation is x·cos + swap_pairs(x)·signed_sin.
    """
    positions = torch.arange(seq_len, device=freqs.device, dtype=torch.float32)
    angles = torch.outer(positions, freqs.float())  # (L, E/2)
    sin = angles.sin()
    return angles.cos().repeat_interleave(2, dim=-1), torch.stack((-sin, sin), dim=-1).flatten(-2)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs of x: (..., L, E) with (L, E) tables from `rotary_tables`."""
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (x1, x0, x3, x2, ...)
    return (x.float() * cos + swapped.float() * signed_sin).to(x.dtype)


def rotary_attention(qkv: torch.Tensor, freqs: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Multi-head self-attention with rotary q/k, from the packed qkv projection.

    Args:
        qkv: (B, L, 3·H·E), channels ordered (3, H, E) as the official `get_qkv` reshapes them.
        freqs: (E/2,) rotary inverse frequencies.
        num_heads: H.

    Returns:
        (B, L, H·E): heads concatenated, ready for the output projection.
    """
    batch, seq_len, _ = qkv.shape
    qkv = qkv.view(batch, seq_len, 3, num_heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, H, L, E)
    q, k = apply_rotary(qkv[:2], *rotary_tables(freqs, seq_len))  # rotated together: one pass
    out = F.scaled_dot_product_attention(q, k, qkv[2])
    return out.transpose(1, 2).reshape(batch, seq_len, -1)


def band_group_norm(
    x: torch.Tensor,
    band_of_channel: torch.Tensor,
    num_bands: int,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float = 1e-5,
) -> torch.Tensor:
    """GroupNorm(1, channels-of-band) for every band at once.

    The official model runs one nn.GroupNorm per band over (band channels × T); this computes
    the same statistics for all bands in one pass (two-pass mean/variance, biased, like GroupNorm).

    Args:
        x: (B, T, C) channels last; band k owns the channels where band_of_channel == k.
        band_of_channel: (C,) long, non-decreasing band index of each channel.
        num_bands: K.
        weight, bias: (C,) the per-band GroupNorm affine parameters, concatenated.
        eps: GroupNorm's epsilon.

    Returns:
        (B, T, C).
    """
    batch, frames, _ = x.shape
    counts = torch.bincount(band_of_channel, minlength=num_bands).to(x.dtype) * frames
    sums = x.new_zeros(batch, num_bands).index_add_(1, band_of_channel, x.sum(dim=1))
    centred = x - (sums / counts)[:, band_of_channel].unsqueeze(1)
    squares = x.new_zeros(batch, num_bands).index_add_(1, band_of_channel, centred.square().sum(dim=1))
    inv_std = torch.rsqrt(squares / counts + eps)[:, band_of_channel].unsqueeze(1)
    return centred * inv_std * weight + bias


FUSED_OPS = ("rotary_attention", "rms_group_norm", "band_group_norm")


def dispatch_report(device: torch.device) -> dict[str, str]:
    """Which implementation each fused op takes on `device` (for `tuss-fx info`)."""
    return {op: "PyTorch reference (no Triton kernel in this build)" for op in FUSED_OPS}
