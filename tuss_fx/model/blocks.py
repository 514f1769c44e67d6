"""TF-Locoformer blocks (TUSS.md; Saijo et al., TF-Locoformer): frequency and time transformer paths.

Module attributes follow the official state_dict keys (`freq_path.ffn.0.conv1d.weight`, ...),
so official checkpoints load without renaming. Features are channels-last everywhere here:
(B, T, K, D); the official code moves axes around at every layer, we do it once per path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tuss_fx.model import ops
from tuss_fx.model.config import BlockConfig, FFNConfig


class RMSGroupNorm(nn.Module):
    """Channels of each TF bin split into groups, each divided by its RMS + eps, then a gain."""

    def __init__(self, num_groups: int, dim: int, eps: float) -> None:
        super().__init__()
        self.num_groups = num_groups
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) -> (..., D)."""
        return ops.rms_group_norm(x, self.gamma, self.num_groups, self.eps)

    def add_and_norm(self, x: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x + delta, this norm of it), both (..., D): a residual add and the next pre-norm."""
        return ops.add_rms_group_norm(x, delta, self.gamma, self.num_groups, self.eps)


class SwiGLUConvDeconv1d(nn.Module):
    """Conv1d(D -> 2I, k) -> SwiGLU -> ConvTranspose1d(I -> D, k), length preserved.

    The official layer pads k-1 zeros on both sides, convolves, transposes-convolves and keeps
    the L centre samples. We compute the same thing as two matrix products: the conv as one GEMM
    over unfolded windows, the transposed conv as one GEMM followed by k shifted adds. That
    removes the conv layout round trips that dominate the official CPU profile.
    """

    def __init__(self, dim: int, ffn: FFNConfig) -> None:
        super().__init__()
        self.kernel_size = ffn.conv1d_kernel
        self.dim_inner = ffn.dim_inner
        self.conv1d = nn.Conv1d(dim, 2 * ffn.dim_inner, ffn.conv1d_kernel)
        self.deconv1d = nn.ConvTranspose1d(ffn.dim_inner, dim, ffn.conv1d_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, L, D), the sequence axis second -> (N, L, D)."""
        k, length = self.kernel_size, x.shape[1]
        in_weight = self.conv1d.weight.flatten(1)  # (2I, D·k), index d·k + j
        out_weight = self.deconv1d.weight.flatten(1)  # (I, D·k), index o·k + j
        if k > 1:
            padded = F.pad(x, (0, 0, k - 1, k - 1))
            x = padded.unfold(1, k, 1).flatten(2)  # (N, L+k-1, D·k): window t holds t..t+k-1
        hidden = ops.linear(x, in_weight, self.conv1d.bias)
        gated = hidden[..., : self.dim_inner] * F.silu(hidden[..., self.dim_inner :])
        taps = ops.linear(gated, out_weight.t())  # (N, L+k-1, D·k)
        if k == 1:
            return taps + self.deconv1d.bias
        taps = taps.unflatten(-1, (-1, k))  # (N, L+k-1, D, k)
        # transposed conv: output s (after the k-1 trim) sums tap j of input s + k-1-j
        out = taps[:, k - 1 : k - 1 + length, :, 0]
        for j in range(1, k):
            out = out + taps[:, k - 1 - j : k - 1 - j + length, :, j]
        return out + self.deconv1d.bias


class RotaryEmbedding(nn.Module):
    """Holds the rotary inverse frequencies (rotary-embedding-torch 0.6.1: theta 10000)."""

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        exponents = torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim
        self.register_buffer("freqs", 1.0 / theta**exponents)


class MultiHeadSelfAttention(nn.Module):
    """Bias-free qkv projection, rotary q/k, softmax attention, bias-free output projection."""

    def __init__(self, emb_dim: int, attention_dim: int, n_heads: int, rope: RotaryEmbedding) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.rope = rope
        self.qkv = nn.Linear(emb_dim, 3 * attention_dim, bias=False)
        self.aggregate_heads = nn.Sequential(nn.Linear(attention_dim, emb_dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, L, D) -> (N, L, D)."""
        heads = ops.rotary_attention(ops.linear(x, self.qkv.weight), self.rope.freqs, self.n_heads)
        return ops.linear(heads, self.aggregate_heads[0].weight)


class LocoformerBlock(nn.Module):
    """One path: macaron FFN -> RoPE MHSA -> FFN, each pre-normed by RMSGroupNorm, residual."""

    def __init__(self, conf: BlockConfig, ffn_configs: tuple[FFNConfig, ...], rope: RotaryEmbedding, eps: float):
        super().__init__()
        # the official list is built from the configs in reverse and ffn[-1] runs first
        self.ffn_norm = nn.ModuleList(RMSGroupNorm(conf.num_groups, conf.emb_dim, eps) for _ in ffn_configs)
        self.ffn = nn.ModuleList(SwiGLUConvDeconv1d(conf.emb_dim, ffn) for ffn in ffn_configs[::-1])
        self.attn_norm = RMSGroupNorm(conf.num_groups, conf.emb_dim, eps)
        self.attn = MultiHeadSelfAttention(conf.emb_dim, conf.attention_dim, conf.n_heads, rope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, S, L, D), sequences along L -> (B, S, L, D)."""
        shape = x.shape
        x = x.reshape(-1, shape[2], shape[3])  # (B·S, L, D)
        if len(self.ffn) == 2:
            # each residual add is fused with the pre-norm that reads its result
            x, h = self.attn_norm.add_and_norm(x, self.ffn[1](self.ffn_norm[1](x)))
        else:
            h = self.attn_norm(x)
        x, h = self.ffn_norm[0].add_and_norm(x, self.attn(h))
        x = x + self.ffn[0](h)
        return x.view(shape)


class TFLocoformerBlock(nn.Module):
    """Frequency path over the K bands of each frame, then time path over the frames of each band."""

    def __init__(self, conf: BlockConfig, rope_freq: RotaryEmbedding, rope_time: RotaryEmbedding, eps: float):
        super().__init__()
        self.tf_order = conf.tf_order
        self.freq_path = LocoformerBlock(conf, conf.freq_ffn_config, rope_freq, eps)
        self.frame_path = LocoformerBlock(conf, conf.frame_ffn_config, rope_time, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, K, D) -> (B, T, K, D)."""
        if self.tf_order == "ft":
            x = self.freq_path(x)
            return self.frame_path(x.transpose(1, 2).contiguous()).transpose(1, 2).contiguous()
        x = self.frame_path(x.transpose(1, 2).contiguous()).transpose(1, 2).contiguous()
        return self.freq_path(x)


def build_stack(conf: BlockConfig, num_blocks: int, eps: float) -> nn.ModuleList:
    """`num_blocks` TF-Locoformer blocks sharing one rotary table per path, as the official module does."""
    rope_freq, rope_time = RotaryEmbedding(conf.head_dim), RotaryEmbedding(conf.head_dim)
    return nn.ModuleList(TFLocoformerBlock(conf, rope_freq, rope_time, eps) for _ in range(num_blocks))
