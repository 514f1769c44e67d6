"""Band-split normalisation: GroupNorm(1, channels of band) for all bands of unequal width in one launch.

Formula, for batch item b and band k owning channels [start_k, end_k) of x (B, T, C):
    mean, var = statistics over T × (end_k - start_k) elements (biased, like nn.GroupNorm)
    y = (x - mean) / sqrt(var + eps) · weight + bias      (weight, bias per channel)
Fused: the official model runs 61 nn.GroupNorm modules (encoder, channels 2·width) and 61 more
(decoder, channels D); here one program per (b, k) reads its band through a band-offset table.
Bytes: three reads of x (mean, variance, normalise) and one write of y: 4·B·T·C elements,
plus mean and 1/std (B·K fp32).
Gradients (n = T·width, x̂ = (x - mean)/std, g = dy·weight):
    dx = (g - mean(g) - x̂ · mean(g·x̂)) / std,   dweight = Σ_{b,t} dy·x̂,   dbias = Σ_{b,t} dy
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _band_columns(starts_ptr, band, BLOCK_C: tl.constexpr):
    """Channel indices of `band` (padded to BLOCK_C), their mask, and the band's width."""
    start = tl.load(starts_ptr + band)
    width = tl.load(starts_ptr + band + 1) - start
    return start + tl.arange(0, BLOCK_C), tl.arange(0, BLOCK_C) < width, width


@triton.jit
def _band_norm_fwd(
    x_ptr,  # (B, T, C)
    starts_ptr,  # (K+1,) int32 first channel of each band, then C
    weight_ptr, bias_ptr,  # (C,)
    y_ptr,  # (B, T, C) output
    mean_ptr, rstd_ptr,  # (B, K) fp32
    num_frames, num_channels, num_bands, eps,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
):
    b, k = tl.program_id(0), tl.program_id(1)
    cols, col_mask, width = _band_columns(starts_ptr, k, BLOCK_C)
    base = x_ptr + b * num_frames * num_channels
    count = (num_frames * width).to(tl.float32)
    total = tl.zeros((BLOCK_T, BLOCK_C), tl.float32)
    for t0 in range(0, num_frames, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        mask = (rows < num_frames)[:, None] & col_mask[None, :]
        total += tl.load(base + rows[:, None] * num_channels + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(tl.sum(total, 1), 0) / count
    squares = tl.zeros((BLOCK_T, BLOCK_C), tl.float32)
    for t0 in range(0, num_frames, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        mask = (rows < num_frames)[:, None] & col_mask[None, :]
        centred = tl.load(base + rows[:, None] * num_channels + cols[None, :], mask=mask, other=0.0) - mean
        squares += tl.where(mask, centred * centred, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(tl.sum(squares, 1), 0) / count + eps)
    weight = tl.load(weight_ptr + cols, mask=col_mask, other=0.0)
    bias = tl.load(bias_ptr + cols, mask=col_mask, other=0.0)
    for t0 in range(0, num_frames, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        mask = (rows < num_frames)[:, None] & col_mask[None, :]
        offs = rows[:, None] * num_channels + cols[None, :]
        x = tl.load(base + offs, mask=mask, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * weight[None, :] + bias[None, :]
        tl.store(y_ptr + b * num_frames * num_channels + offs, y.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + b * num_bands + k, mean)
    tl.store(rstd_ptr + b * num_bands + k, rstd)


@triton.jit
def _band_norm_bwd(
    x_ptr, dy_ptr,  # (B, T, C)
    starts_ptr, weight_ptr,
    mean_ptr, rstd_ptr,  # (B, K) from the forward
    dx_ptr,  # (B, T, C) output
    dweight_ptr, dbias_ptr,  # (B, C) fp32 per-batch partial sums, reduced over B by the caller
    num_frames, num_channels, num_bands,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
):
    b, k = tl.program_id(0), tl.program_id(1)
    cols, col_mask, width = _band_columns(starts_ptr, k, BLOCK_C)
    mean = tl.load(mean_ptr + b * num_bands + k)
    rstd = tl.load(rstd_ptr + b * num_bands + k)
    weight = tl.load(weight_ptr + cols, mask=col_mask, other=0.0)
    offset = b * num_frames * num_channels
    count = (num_frames * width).to(tl.float32)
    sum_g = tl.zeros((BLOCK_T, BLOCK_C), tl.float32)
    sum_gx = tl.zeros((BLOCK_T, BLOCK_C), tl.float32)
    dweight = tl.zeros((BLOCK_C,), tl.float32)
    dbias = tl.zeros((BLOCK_C,), tl.float32)
    for t0 in range(0, num_frames, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        mask = (rows < num_frames)[:, None] & col_mask[None, :]
        offs = offset + rows[:, None] * num_channels + cols[None, :]
        x_hat = tl.where(mask, (tl.load(x_ptr + offs, mask=mask, other=0.0) - mean) * rstd, 0.0)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = dy * weight[None, :]
        sum_g += g
        sum_gx += g * x_hat
        dweight += tl.sum(dy * x_hat, 0)
        dbias += tl.sum(dy, 0)
    mean_g = tl.sum(tl.sum(sum_g, 1), 0) / count
    mean_gx = tl.sum(tl.sum(sum_gx, 1), 0) / count
    for t0 in range(0, num_frames, BLOCK_T):
        rows = t0 + tl.arange(0, BLOCK_T)
        mask = (rows < num_frames)[:, None] & col_mask[None, :]
        offs = offset + rows[:, None] * num_channels + cols[None, :]
        x_hat = (tl.load(x_ptr + offs, mask=mask, other=0.0) - mean) * rstd
        g = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32) * weight[None, :]
        dx = (g - mean_g - x_hat * mean_gx) * rstd
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    tl.store(dweight_ptr + b * num_channels + cols, dweight, mask=col_mask)
    tl.store(dbias_ptr + b * num_channels + cols, dbias, mask=col_mask)


def _tiles(max_width: int) -> dict[str, int]:
    block_c = triton.next_power_of_2(max_width)
    return {"BLOCK_C": block_c, "BLOCK_T": max(1, min(64, 4096 // block_c))}


class _BandGroupNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, band_starts, weight, bias, eps: float):
        x = x.contiguous()
        batch, frames, channels = x.shape
        num_bands = band_starts.numel() - 1
        y = torch.empty_like(x)
        mean = torch.empty(batch, num_bands, device=x.device, dtype=torch.float32)
        rstd = torch.empty_like(mean)
        tiles = _tiles(int((band_starts[1:] - band_starts[:-1]).max()))
        _band_norm_fwd[(batch, num_bands)](x, band_starts, weight.contiguous(), bias.contiguous(), y, mean, rstd,
                                           frames, channels, num_bands, eps, **tiles)
        ctx.save_for_backward(x, band_starts, weight, mean, rstd)
        ctx.tiles = tiles
        return y

    @staticmethod
    def backward(ctx, dy):
        x, band_starts, weight, mean, rstd = ctx.saved_tensors
        batch, frames, channels = x.shape
        dx = torch.empty_like(x)
        dweight = torch.empty(batch, channels, device=x.device, dtype=torch.float32)
        dbias = torch.empty_like(dweight)
        _band_norm_bwd[(batch, band_starts.numel() - 1)](x, dy.contiguous(), band_starts, weight, mean, rstd, dx,
                                                         dweight, dbias, frames, channels, band_starts.numel() - 1,
                                                         **ctx.tiles)
        return dx, None, dweight.sum(0).to(weight.dtype), dbias.sum(0).to(weight.dtype), None


def band_group_norm(
    x: torch.Tensor, band_starts: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Per-band GroupNorm of x (B, T, C); band k owns channels band_starts[k] .. band_starts[k+1]-1.

    Args:
        band_starts: (K+1,) int32 on x's device, increasing, band_starts[-1] == C.

    Returns:
        (B, T, C); differentiable w.r.t. x, weight and bias.
    """
    return _BandGroupNorm.apply(x, band_starts, weight, bias, eps)
