"""Band-wise 1×1 projections of all bands of unequal width as one grouped matmul, forward and backward.

Formula, for rows n (B·T) and band k owning channels [s_k, e_k) of x (N, C):
    out[n, k, :] = x[n, s_k:e_k] @ W[s_k:e_k, :] + bias[k, :]
where W (C, D) stacks every band's projection transposed (the encoder's per-band Conv1d
weights, (D, width) each). Fused: the official model runs 61 Conv1d modules; here one program
per (row tile, band) walks its band's channels in BLOCK_C chunks through a band-offset table.
FLOPs: 2·N·C·D (every input channel meets D outputs once). Bytes: x once, W once per row tile,
out once.
Gradients: dx[n, s_k:e_k] = dout[n, k, :] @ W[s_k:e_k, :]ᵀ;  dW[s_k:e_k, :] = x[:, s_k:e_k]ᵀ @ dout[:, k, :];
dbias[k] = Σ_n dout[n, k]. Accumulation in fp32; fp32 inputs use IEEE dots.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _row_tile_of_band(starts_ptr, num_rows, dim, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's band, its row tile and output columns with masks, and the band's channel span."""
    pid_r, band = tl.program_id(0), tl.program_id(1)
    rows = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    outs = tl.arange(0, BLOCK_D)
    start, end = tl.load(starts_ptr + band), tl.load(starts_ptr + band + 1)
    return band, rows, outs, rows < num_rows, outs < dim, start, end


@triton.jit
def _weight_chunk(w_ptr, cols, outs, dim, col_mask, out_mask):
    """Rows `cols` of the stacked (C, D) weights as an fp32 (BLOCK_C, BLOCK_D) tile."""
    return tl.load(w_ptr + cols[:, None] * dim + outs[None, :], mask=col_mask[:, None] & out_mask[None, :],
                   other=0.0).to(tl.float32)


@triton.jit
def _band_proj_fwd(
    x_ptr,  # (N, C) band-split input rows
    w_ptr,  # (C, D) stacked per-band weights
    bias_ptr,  # (K, D)
    starts_ptr,  # (K+1,) int32 first channel of each band, then C
    out_ptr,  # (N, K, D)
    num_rows, num_channels, num_bands, dim,  # N, C, K, D
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr,
):
    band, rows, outs, row_mask, out_mask, start, end = _row_tile_of_band(starts_ptr, num_rows, dim, BLOCK_R, BLOCK_D)
    acc = tl.zeros((BLOCK_R, BLOCK_D), tl.float32)
    for first in range(start, end, BLOCK_C):
        cols = first + tl.arange(0, BLOCK_C)
        col_mask = cols < end
        x = tl.load(x_ptr + rows[:, None] * num_channels + cols[None, :], mask=row_mask[:, None] & col_mask[None, :],
                    other=0.0).to(tl.float32)
        w = _weight_chunk(w_ptr, cols, outs, dim, col_mask, out_mask)
        acc += tl.dot(x, w, input_precision="ieee")
    acc += tl.load(bias_ptr + band * dim + outs, mask=out_mask, other=0.0)[None, :]
    tl.store(out_ptr + rows[:, None] * (num_bands * dim) + band * dim + outs[None, :],
             acc.to(out_ptr.dtype.element_ty), mask=row_mask[:, None] & out_mask[None, :])


@triton.jit
def _band_proj_bwd_dx(
    dout_ptr,  # (N, K, D)
    w_ptr,  # (C, D)
    starts_ptr,  # (K+1,) int32
    dx_ptr,  # (N, C) output
    num_rows, num_channels, num_bands, dim,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr,
):
    band, rows, outs, row_mask, out_mask, start, end = _row_tile_of_band(starts_ptr, num_rows, dim, BLOCK_R, BLOCK_D)
    dout = tl.load(dout_ptr + rows[:, None] * (num_bands * dim) + band * dim + outs[None, :],
                   mask=row_mask[:, None] & out_mask[None, :], other=0.0).to(tl.float32)
    for first in range(start, end, BLOCK_C):
        cols = first + tl.arange(0, BLOCK_C)
        col_mask = cols < end
        w = _weight_chunk(w_ptr, cols, outs, dim, col_mask, out_mask)
        dx = tl.dot(dout, tl.trans(w), input_precision="ieee")
        tl.store(dx_ptr + rows[:, None] * num_channels + cols[None, :], dx.to(dx_ptr.dtype.element_ty),
                 mask=row_mask[:, None] & col_mask[None, :])


@triton.jit
def _band_proj_bwd_dw(
    x_ptr,  # (N, C)
    dout_ptr,  # (N, K, D)
    chunk_band_ptr, chunk_start_ptr,  # (chunks,) int32: band and first channel of each channel chunk
    starts_ptr,  # (K+1,) int32
    dw_ptr,  # (C, D) fp32 output
    num_rows, num_channels, num_bands, dim,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_D: tl.constexpr,
):
    chunk = tl.program_id(0)
    band = tl.load(chunk_band_ptr + chunk)
    first = tl.load(chunk_start_ptr + chunk)
    end = tl.load(starts_ptr + band + 1)
    cols = first + tl.arange(0, BLOCK_C)
    outs = tl.arange(0, BLOCK_D)
    col_mask, out_mask = cols < end, outs < dim
    acc = tl.zeros((BLOCK_C, BLOCK_D), tl.float32)
    for row0 in range(0, num_rows, BLOCK_R):
        rows = row0 + tl.arange(0, BLOCK_R)
        row_mask = rows < num_rows
        x = tl.load(x_ptr + rows[:, None] * num_channels + cols[None, :], mask=row_mask[:, None] & col_mask[None, :],
                    other=0.0).to(tl.float32)
        dout = tl.load(dout_ptr + rows[:, None] * (num_bands * dim) + band * dim + outs[None, :],
                       mask=row_mask[:, None] & out_mask[None, :], other=0.0).to(tl.float32)
        acc += tl.dot(tl.trans(x), dout, input_precision="ieee")
    tl.store(dw_ptr + cols[:, None] * dim + outs[None, :], acc, mask=col_mask[:, None] & out_mask[None, :])


def _tiles(dim: int) -> dict[str, int]:
    return {"BLOCK_R": 64, "BLOCK_C": 16, "BLOCK_D": max(16, triton.next_power_of_2(dim))}


class _BandProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, band_starts, weight, bias):
        shape = x.shape
        rows_in = x.reshape(-1, shape[-1]).contiguous()
        num_rows, channels = rows_in.shape
        num_bands, dim = bias.shape
        out = x.new_empty(num_rows, num_bands, dim)
        tiles = _tiles(dim)
        _band_proj_fwd[(triton.cdiv(num_rows, tiles["BLOCK_R"]), num_bands)](
            rows_in, weight.contiguous(), bias.contiguous(), band_starts, out, num_rows, channels, num_bands, dim,
            **tiles)
        ctx.save_for_backward(rows_in, band_starts, weight)
        ctx.shape = shape
        return out.view(*shape[:-1], num_bands, dim)

    @staticmethod
    def backward(ctx, dout):
        rows_in, band_starts, weight = ctx.saved_tensors
        num_rows, channels = rows_in.shape
        dim = weight.shape[1]
        num_bands = band_starts.numel() - 1
        dout = dout.reshape(num_rows, num_bands, dim).contiguous()
        tiles = _tiles(dim)
        dx = torch.empty_like(rows_in)
        _band_proj_bwd_dx[(triton.cdiv(num_rows, tiles["BLOCK_R"]), num_bands)](
            dout, weight.contiguous(), band_starts, dx, num_rows, channels, num_bands, dim, **tiles)
        starts = band_starts.tolist()  # the chunk table: one program per BLOCK_C channels of a band
        chunk_band, chunk_start = [], []
        for band in range(num_bands):
            for first in range(starts[band], starts[band + 1], tiles["BLOCK_C"]):
                chunk_band.append(band)
                chunk_start.append(first)
        dw = torch.empty(channels, dim, device=rows_in.device, dtype=torch.float32)
        table = torch.tensor([chunk_band, chunk_start], dtype=torch.int32, device=rows_in.device)
        _band_proj_bwd_dw[(len(chunk_band),)](rows_in, dout, table[0], table[1], band_starts, dw, num_rows,
                                              channels, num_bands, dim, **tiles)
        dbias = dout.float().sum(0)
        return dx.view(ctx.shape), None, dw.to(weight.dtype), dbias.to(weight.dtype)


def band_projection(x: torch.Tensor, band_starts: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """All bands' 1×1 projections at once: x (..., C) -> (..., K, D) (module docstring).

    Args:
        band_starts: (K+1,) int32 on x's device. weight: (C, D) stacked Wₖᵀ. bias: (K, D).
    """
    return _BandProjection.apply(x, band_starts, weight, bias)
