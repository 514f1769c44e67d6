"""RMSGroupNorm, optionally fused with the residual add before it, forward and backward.

Formula (each row of D channels split into G groups of Dg = D/G; one group g of one TF bin):
    s = x + delta            (the residual add, when delta is given; s is also returned)
    rms = sqrt(mean_g(s²)),  y = s / (rms + eps) · gamma
Fused: the add, the statistics and the scaling in one pass; s and y written once, rms (fp32,
one per group) kept for the backward. Bytes: reads x (+ delta), writes y (+ s): 2-4 · N·D elements.
Gradients (r = 1 / (rms + eps), a = Σ_g gamma·dy·s):
    ds = r·gamma·dy - a · r² · s / (Dg · rms)      (+ the gradient arriving at s itself)
    dx = ddelta = ds,   dgamma = Σ_rows dy · s · r
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rms_fwd(
    x_ptr,  # (N·G, Dg) input rows, one group each
    delta_ptr,  # same shape, added first (ignored unless HAS_DELTA)
    gamma_ptr,  # (G·Dg,) gain
    sum_ptr,  # (N·G, Dg) x + delta (written only when HAS_DELTA)
    y_ptr,  # (N·G, Dg) output
    rms_ptr,  # (N·G,) fp32 group RMS
    num_rows, group_dim, num_groups,  # N·G, Dg, G
    eps,
    HAS_DELTA: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.arange(0, BLOCK_D)
    mask = (rows < num_rows)[:, None] & (cols < group_dim)[None, :]
    offs = rows[:, None] * group_dim + cols[None, :]
    s = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_DELTA:
        s += tl.load(delta_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        tl.store(sum_ptr + offs, s.to(sum_ptr.dtype.element_ty), mask=mask)
    rms = tl.sqrt(tl.sum(s * s, 1) / group_dim)
    gamma = tl.load(gamma_ptr + (rows % num_groups)[:, None] * group_dim + cols[None, :], mask=mask, other=0.0)
    y = s / (rms[:, None] + eps) * gamma
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(rms_ptr + rows, rms, mask=rows < num_rows)


@triton.jit
def _rms_bwd(
    dy_ptr,  # (N·G, Dg) gradient at y
    s_ptr,  # (N·G, Dg) the normalised input (x + delta)
    rms_ptr,  # (N·G,) fp32
    gamma_ptr,  # (G·Dg,)
    ds_ptr,  # (N·G, Dg) output gradient w.r.t. s
    num_rows, group_dim, num_groups, eps,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.arange(0, BLOCK_D)
    row_mask = rows < num_rows
    mask = row_mask[:, None] & (cols < group_dim)[None, :]
    offs = rows[:, None] * group_dim + cols[None, :]
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    s = tl.load(s_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    rms = tl.load(rms_ptr + rows, mask=row_mask, other=1.0)
    gamma = tl.load(gamma_ptr + (rows % num_groups)[:, None] * group_dim + cols[None, :], mask=mask, other=0.0)
    r = 1.0 / (rms + eps)
    a = tl.sum(gamma * dy * s, 1)
    # an all-zero group has rms 0 and s 0: its second term is 0, so divide by a safe rms
    coeff = a * r * r / (group_dim * tl.maximum(rms, 1e-30))
    ds = r[:, None] * gamma * dy - coeff[:, None] * s
    tl.store(ds_ptr + offs, ds.to(ds_ptr.dtype.element_ty), mask=mask)


def _launch_shape(num_rows: int, group_dim: int) -> tuple[tuple[int], dict[str, int]]:
    block_d = triton.next_power_of_2(group_dim)
    block_r = max(1, min(256, 4096 // block_d))
    return (triton.cdiv(num_rows, block_r),), {"BLOCK_R": block_r, "BLOCK_D": block_d}


class _RMSGroupNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, delta, gamma, num_groups: int, eps: float):
        shape = x.shape
        dim = shape[-1]
        group_dim = dim // num_groups
        rows = x.numel() // group_dim
        x = x.contiguous()
        has_delta = delta is not None
        delta_c = delta.contiguous() if has_delta else x
        total = torch.empty_like(x) if has_delta else x
        y = torch.empty_like(x)
        rms = torch.empty(rows, device=x.device, dtype=torch.float32)
        grid, tiles = _launch_shape(rows, group_dim)
        _rms_fwd[grid](x, delta_c, gamma.contiguous(), total, y, rms, rows, group_dim, num_groups, eps,
                       HAS_DELTA=has_delta, **tiles)
        ctx.save_for_backward(total, rms, gamma)
        ctx.num_groups, ctx.eps, ctx.has_delta = num_groups, eps, has_delta
        return total, y

    @staticmethod
    def backward(ctx, d_total, dy):
        total, rms, gamma = ctx.saved_tensors
        group_dim = total.shape[-1] // ctx.num_groups
        rows = total.numel() // group_dim
        dy = dy.contiguous()
        ds = torch.empty_like(total)
        grid, tiles = _launch_shape(rows, group_dim)
        _rms_bwd[grid](dy, total, rms, gamma, ds, rows, group_dim, ctx.num_groups, ctx.eps, **tiles)
        if d_total is not None:
            ds = ds + d_total
        normalised = total.float().view(rows, group_dim) / (rms[:, None] + ctx.eps)
        dgamma = (dy.float().view(-1, ctx.num_groups, group_dim) * normalised.view(-1, ctx.num_groups, group_dim))
        dgamma = dgamma.sum(0).reshape(-1).to(gamma.dtype)
        return ds, (ds if ctx.has_delta else None), dgamma, None, None


def rms_group_norm(x: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """RMSGroupNorm of (..., D) -> (..., D) (module docstring). Differentiable w.r.t. x and gamma."""
    return _RMSGroupNorm.apply(x, None, gamma, num_groups, eps)[1]


def add_rms_group_norm(
    x: torch.Tensor, delta: torch.Tensor, gamma: torch.Tensor, num_groups: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x + delta, RMSGroupNorm(x + delta)) in one pass: the residual add and the next pre-norm."""
    return _RMSGroupNorm.apply(x, delta, gamma, num_groups, eps)
