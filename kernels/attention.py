"""Rotary multi-head self-attention from the packed qkv projection, flash style, forward and backward.

Formula (per batch item b, head h; positions m, n; E = head_dim, pairs d = 0..E/2-1):
    angle[m, d] = m · freqs[d]
    rot(x)[m, 2d]   = x[m, 2d] cos - x[m, 2d+1] sin,   rot(x)[m, 2d+1] = x[m, 2d+1] cos + x[m, 2d] sin
    S = rot(q) rot(k)ᵀ / √E,  P = softmax_n(S),  O = P v
Fused: q/k/v are read straight from the (B, L, 3·H·E) projection (no split, no rotated copies:
the rotation is applied to each tile in registers, even and odd channels held as two half tiles
so no interleaving shuffle is needed); online softmax, so S and P never reach memory; the
log-sum-exp per row is kept for the backward.
Bytes: forward reads qkv once per query block pass over keys (3·B·L·H·E elements) and writes O
(B·L·H·E) and LSE (B·H·L fp32); backward recomputes P from LSE (standard flash recompute).
Gradients, with D = rowsum(dO ∘ O):
    dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - D),  d rot(q) = dS rot(k) / √E,  d rot(k) = dSᵀ rot(q) / √E
    and the rotation's transpose: dx[2d] = dr[2d] cos + dr[2d+1] sin,  dx[2d+1] = dr[2d+1] cos - dr[2d] sin.
Accumulation is fp32 for every input dtype; fp32 inputs use IEEE fp32 dots (no TF32).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl


@triton.jit
def _rotated_halves(
    base_ptr,  # pointer to channel 0 of this head's q or k for sequence position 0
    offs_seq,  # (BLOCK,) positions of the rows
    offs_pair,  # (BLOCK_HALF,) pair indices d
    freqs,  # (BLOCK_HALF,) inverse frequencies (0 past half_dim)
    stride_qkv_l,  # elements between positions
    mask,  # (BLOCK, BLOCK_HALF) valid rows and pairs
):
    ptrs = base_ptr + offs_seq[:, None] * stride_qkv_l + 2 * offs_pair[None, :]
    even = tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
    odd = tl.load(ptrs + 1, mask=mask, other=0.0).to(tl.float32)
    angle = offs_seq[:, None].to(tl.float32) * freqs[None, :]
    cos, sin = tl.cos(angle), tl.sin(angle)
    return even * cos - odd * sin, odd * cos + even * sin, cos, sin


@triton.jit
def _tile(ptr, offs_seq, offs_e, stride_l, mask):
    """Load a (rows, BLOCK_E) tile of one head's channels (v or dO) as fp32; zeros where masked."""
    return tl.load(ptr + offs_seq[:, None] * stride_l + offs_e[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _scaled_scores(q_even, q_odd, k_even, k_odd, scale):
    """rot(q) rot(k)ᵀ / √E from the even/odd half tiles, fp32 (IEEE) for the backward recompute."""
    return (tl.dot(q_even, tl.trans(k_even), input_precision="ieee")
            + tl.dot(q_odd, tl.trans(k_odd), input_precision="ieee")) * scale


@triton.jit
def _dot(a, b, IEEE: tl.constexpr):
    """a @ b with fp32 accumulation; IEEE fp32 products for fp32 inputs (never TF32)."""
    if IEEE:
        return tl.dot(a, b, input_precision="ieee")
    return tl.dot(a, b)


@triton.jit
def _attn_fwd(
    qkv_ptr,  # (B, L, 3·H·E) input projection
    freqs_ptr,  # (E/2,) rotary inverse frequencies
    out_ptr,  # (B, L, H·E) output
    lse_ptr,  # (B, H, L) fp32 log-sum-exp of the scaled scores
    stride_qkv_b, stride_qkv_l,  # qkv strides (channel stride is 1)
    stride_out_b, stride_out_l,  # out strides (channel stride is 1)
    seq_len, num_heads, head_dim, half_dim,  # L, H, E, E/2
    scale,  # 1/√E
    IEEE: tl.constexpr,  # fp32 inputs: exact fp32 dots
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_HALF: tl.constexpr, BLOCK_E: tl.constexpr,
):
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = pid_bh // num_heads, pid_bh % num_heads
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_HALF)
    offs_e = tl.arange(0, BLOCK_E)
    mask_d = offs_d < half_dim
    freqs = tl.load(freqs_ptr + offs_d, mask=mask_d, other=0.0)
    base = qkv_ptr + b * stride_qkv_b
    dtype = qkv_ptr.dtype.element_ty
    q_even, q_odd, _, _ = _rotated_halves(base + h * head_dim, offs_m, offs_d, freqs, stride_qkv_l,
                                          (offs_m < seq_len)[:, None] & mask_d[None, :])
    q_even, q_odd = (q_even * scale).to(dtype), (q_odd * scale).to(dtype)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_E), tl.float32)
    for start_n in range(0, seq_len, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        mask_n = offs_n < seq_len
        k_even, k_odd, _, _ = _rotated_halves(base + (num_heads + h) * head_dim, offs_n, offs_d, freqs,
                                              stride_qkv_l, mask_n[:, None] & mask_d[None, :])
        scores = _dot(q_even, tl.trans(k_even.to(dtype)), IEEE) + _dot(q_odd, tl.trans(k_odd.to(dtype)), IEEE)
        scores = tl.where(mask_n[None, :], scores, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, 1))
        p = tl.exp(scores - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = _tile(base + (2 * num_heads + h) * head_dim, offs_n, offs_e, stride_qkv_l,
                  mask_n[:, None] & (offs_e < head_dim)[None, :])
        acc = acc * alpha[:, None] + _dot(p.to(dtype), v.to(dtype), IEEE)
        m_i = m_new
    acc = acc / l_i[:, None]
    mask_m = offs_m < seq_len
    tl.store(out_ptr + b * stride_out_b + offs_m[:, None] * stride_out_l + h * head_dim + offs_e[None, :],
             acc.to(out_ptr.dtype.element_ty), mask=mask_m[:, None] & (offs_e < head_dim)[None, :])
    tl.store(lse_ptr + pid_bh * seq_len + offs_m, m_i + tl.log(l_i), mask=mask_m)


@triton.jit
def _store_unrotated(ptr, offs_seq, offs_d, d_even, d_odd, cos, sin, stride_l, mask):
    """Write the gradient w.r.t. the un-rotated channels (the rotation's transpose)."""
    ptrs = ptr + offs_seq[:, None] * stride_l + 2 * offs_d[None, :]
    dtype = ptr.dtype.element_ty
    tl.store(ptrs, (d_even * cos + d_odd * sin).to(dtype), mask=mask)
    tl.store(ptrs + 1, (d_odd * cos - d_even * sin).to(dtype), mask=mask)


@triton.jit
def _attn_bwd_dkdv(
    qkv_ptr, freqs_ptr, dout_ptr, lse_ptr, delta_ptr,  # inputs; delta (B, H, L) = rowsum(dO ∘ O)
    dqkv_ptr,  # (B, L, 3·H·E) gradient: this kernel writes the k and v channels
    stride_qkv_b, stride_qkv_l, stride_out_b, stride_out_l,
    seq_len, num_heads, head_dim, half_dim, scale,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_HALF: tl.constexpr, BLOCK_E: tl.constexpr,
):
    pid_n, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = pid_bh // num_heads, pid_bh % num_heads
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_HALF)
    offs_e = tl.arange(0, BLOCK_E)
    mask_n, mask_d, mask_e = offs_n < seq_len, offs_d < half_dim, offs_e < head_dim
    freqs = tl.load(freqs_ptr + offs_d, mask=mask_d, other=0.0)
    base = qkv_ptr + b * stride_qkv_b
    k_mask = mask_n[:, None] & mask_d[None, :]
    k_even, k_odd, k_cos, k_sin = _rotated_halves(base + (num_heads + h) * head_dim, offs_n, offs_d, freqs,
                                                  stride_qkv_l, k_mask)
    v = _tile(base + (2 * num_heads + h) * head_dim, offs_n, offs_e, stride_qkv_l, mask_n[:, None] & mask_e[None, :])
    dk_even = tl.zeros((BLOCK_N, BLOCK_HALF), tl.float32)
    dk_odd = tl.zeros((BLOCK_N, BLOCK_HALF), tl.float32)
    dv = tl.zeros((BLOCK_N, BLOCK_E), tl.float32)
    for start_m in range(0, seq_len, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        mask_m = offs_m < seq_len
        q_even, q_odd, _, _ = _rotated_halves(base + h * head_dim, offs_m, offs_d, freqs, stride_qkv_l,
                                              mask_m[:, None] & mask_d[None, :])
        scores = _scaled_scores(q_even, q_odd, k_even, k_odd, scale)
        lse = tl.load(lse_ptr + pid_bh * seq_len + offs_m, mask=mask_m, other=float("inf"))
        p = tl.exp(scores - lse[:, None])
        p = tl.where(mask_m[:, None] & mask_n[None, :], p, 0.0)
        dout = _tile(dout_ptr + b * stride_out_b + h * head_dim, offs_m, offs_e, stride_out_l,
                     mask_m[:, None] & mask_e[None, :])
        dv += tl.dot(tl.trans(p), dout, input_precision="ieee")
        dp = tl.dot(dout, tl.trans(v), input_precision="ieee")
        delta = tl.load(delta_ptr + pid_bh * seq_len + offs_m, mask=mask_m, other=0.0)
        ds = p * (dp - delta[:, None]) * scale
        dk_even += tl.dot(tl.trans(ds), q_even, input_precision="ieee")
        dk_odd += tl.dot(tl.trans(ds), q_odd, input_precision="ieee")
    dbase = dqkv_ptr + b * stride_qkv_b
    _store_unrotated(dbase + (num_heads + h) * head_dim, offs_n, offs_d, dk_even, dk_odd, k_cos, k_sin,
                     stride_qkv_l, k_mask)
    tl.store(dbase + offs_n[:, None] * stride_qkv_l + (2 * num_heads + h) * head_dim + offs_e[None, :],
             dv.to(dqkv_ptr.dtype.element_ty), mask=mask_n[:, None] & mask_e[None, :])


@triton.jit
def _attn_bwd_dq(
    qkv_ptr, freqs_ptr, dout_ptr, lse_ptr, delta_ptr,
    dqkv_ptr,  # this kernel writes the q channels
    stride_qkv_b, stride_qkv_l, stride_out_b, stride_out_l,
    seq_len, num_heads, head_dim, half_dim, scale,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_HALF: tl.constexpr, BLOCK_E: tl.constexpr,
):
    pid_m, pid_bh = tl.program_id(0), tl.program_id(1)
    b, h = pid_bh // num_heads, pid_bh % num_heads
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_HALF)
    offs_e = tl.arange(0, BLOCK_E)
    mask_m, mask_d, mask_e = offs_m < seq_len, offs_d < half_dim, offs_e < head_dim
    freqs = tl.load(freqs_ptr + offs_d, mask=mask_d, other=0.0)
    base = qkv_ptr + b * stride_qkv_b
    q_mask = mask_m[:, None] & mask_d[None, :]
    q_even, q_odd, q_cos, q_sin = _rotated_halves(base + h * head_dim, offs_m, offs_d, freqs, stride_qkv_l, q_mask)
    dout = _tile(dout_ptr + b * stride_out_b + h * head_dim, offs_m, offs_e, stride_out_l,
                 mask_m[:, None] & mask_e[None, :])
    lse = tl.load(lse_ptr + pid_bh * seq_len + offs_m, mask=mask_m, other=float("inf"))
    delta = tl.load(delta_ptr + pid_bh * seq_len + offs_m, mask=mask_m, other=0.0)
    dq_even = tl.zeros((BLOCK_M, BLOCK_HALF), tl.float32)
    dq_odd = tl.zeros((BLOCK_M, BLOCK_HALF), tl.float32)
    for start_n in range(0, seq_len, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        mask_n = offs_n < seq_len
        k_even, k_odd, _, _ = _rotated_halves(base + (num_heads + h) * head_dim, offs_n, offs_d, freqs,
                                              stride_qkv_l, mask_n[:, None] & mask_d[None, :])
        v = _tile(base + (2 * num_heads + h) * head_dim, offs_n, offs_e, stride_qkv_l,
                  mask_n[:, None] & mask_e[None, :])
        scores = _scaled_scores(q_even, q_odd, k_even, k_odd, scale)
        p = tl.where(mask_n[None, :], tl.exp(scores - lse[:, None]), 0.0)
        dp = tl.dot(dout, tl.trans(v), input_precision="ieee")
        ds = p * (dp - delta[:, None]) * scale
        dq_even += tl.dot(ds, k_even, input_precision="ieee")
        dq_odd += tl.dot(ds, k_odd, input_precision="ieee")
    _store_unrotated(dqkv_ptr + b * stride_qkv_b + h * head_dim, offs_m, offs_d, dq_even, dq_odd, q_cos, q_sin,
                     stride_qkv_l, q_mask)


def _tiles(seq_len: int, head_dim: int) -> dict[str, int]:
    """Tile sizes from the shapes: dots need every dimension >= 16 and a power of two."""
    block = 64 if seq_len > 32 else 16 if seq_len <= 16 else 32
    return {
        "BLOCK_M": block,
        "BLOCK_N": block,
        "BLOCK_HALF": max(16, triton.next_power_of_2(head_dim // 2)),
        "BLOCK_E": max(16, triton.next_power_of_2(head_dim)),
    }


class _RotaryAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv: torch.Tensor, freqs: torch.Tensor, num_heads: int) -> torch.Tensor:
        qkv = qkv.contiguous()
        freqs = freqs.float().contiguous()
        batch, seq_len, width = qkv.shape
        head_dim = width // (3 * num_heads)
        out = qkv.new_empty(batch, seq_len, num_heads * head_dim)
        lse = torch.empty(batch, num_heads, seq_len, device=qkv.device, dtype=torch.float32)
        tiles = _tiles(seq_len, head_dim)
        grid = (triton.cdiv(seq_len, tiles["BLOCK_M"]), batch * num_heads)
        _attn_fwd[grid](qkv, freqs, out, lse, qkv.stride(0), qkv.stride(1), out.stride(0), out.stride(1),
                        seq_len, num_heads, head_dim, head_dim // 2, 1.0 / math.sqrt(head_dim),
                        IEEE=qkv.dtype == torch.float32, **tiles)
        ctx.save_for_backward(qkv, freqs, out, lse)
        ctx.num_heads = num_heads
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        qkv, freqs, out, lse = ctx.saved_tensors
        num_heads = ctx.num_heads
        batch, seq_len, width = qkv.shape
        head_dim = width // (3 * num_heads)
        dout = dout.contiguous()
        # D = rowsum(dO ∘ O) per head: (B, L, H, E) -> (B, H, L)
        delta = (dout.float() * out.float()).view(batch, seq_len, num_heads, head_dim).sum(-1).transpose(1, 2)
        delta = delta.contiguous()
        dqkv = torch.empty_like(qkv)
        tiles = _tiles(seq_len, head_dim)
        args = (qkv, freqs, dout, lse, delta, dqkv, qkv.stride(0), qkv.stride(1), dout.stride(0), dout.stride(1),
                seq_len, num_heads, head_dim, head_dim // 2, 1.0 / math.sqrt(head_dim))
        _attn_bwd_dkdv[(triton.cdiv(seq_len, tiles["BLOCK_N"]), batch * num_heads)](*args, **tiles)
        _attn_bwd_dq[(triton.cdiv(seq_len, tiles["BLOCK_M"]), batch * num_heads)](*args, **tiles)
        return dqkv, None, None


def rotary_attention(qkv: torch.Tensor, freqs: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Rotary multi-head self-attention on the packed projection (see module docstring).

    Args:
        qkv: (B, L, 3·H·E) fp32/fp16/bf16, channels ordered (3, H, E).
        freqs: (E/2,) rotary inverse frequencies.
        num_heads: H.

    Returns:
        (B, L, H·E) in qkv's dtype. Differentiable w.r.t. qkv.
    """
    return _RotaryAttention.apply(qkv, freqs, num_heads)
