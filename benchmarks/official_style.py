"""The official TUSS forward's execution pattern, on tuss-fx modules: the speed baseline.

Same weights and same maths as tuss_fx.model, but run the way the official implementation
runs it (nets/tuss.py, release 1.0.0): a Python loop over the 61 bands calling each band's
GroupNorm/Conv1d, SwiGLU FFNs as padded Conv1d/ConvTranspose1d on channels-first copies,
attention through SDPA restricted to the math/efficient backends (the official
`flash_attention: false` setting), rotary tables recomputed per call, and the official
channel moves around every path. Written from the paper's description and the official
code's structure, for timing only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from tuss_fx.model import TussModel
from tuss_fx.model.blocks import LocoformerBlock, SwiGLUConvDeconv1d, TFLocoformerBlock

OFFICIAL_BACKENDS = [SDPBackend.MATH, SDPBackend.EFFICIENT_ATTENTION]


def _ffn(ffn: SwiGLUConvDeconv1d, x: torch.Tensor) -> torch.Tensor:
    b, s1, s2, h = x.shape
    k = ffn.kernel_size
    x = x.contiguous().view(b * s1, s2, h).transpose(-1, -2)
    x = F.pad(x, (k - 1, k - 1))
    x = ffn.conv1d(x)
    x = x[..., : ffn.dim_inner, :] * F.silu(x[..., ffn.dim_inner :, :])
    x = ffn.deconv1d(x).transpose(-1, -2)
    return x[..., k - 1 : k - 1 + s2, :].contiguous().view(b, s1, s2, h)


def rotate_pairs(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of x (..., L, E) in rotary-embedding-torch's form, x·cos + swapped pairs·sin,
    tables rebuilt on every call: the official pattern, and tuss-fx's before the complex multiply
    (bench_cpu.py's lever off)."""
    angles = torch.outer(torch.arange(x.shape[-2], dtype=torch.float32), freqs.float())
    cos = angles.cos().repeat_interleave(2, dim=-1)
    signed_sin = torch.stack((-angles.sin(), angles.sin()), dim=-1).flatten(-2)
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    return (x.float() * cos + swapped.float() * signed_sin).to(x.dtype)


def _attention(block: LocoformerBlock, x: torch.Tensor) -> torch.Tensor:
    attn = block.attn
    batch, seq_len = x.shape[:2]
    qkv = attn.qkv(x).reshape(batch, seq_len, 3, attn.n_heads, -1).movedim(-2, 1)
    q, k, v = qkv[..., 0, :], qkv[..., 1, :], qkv[..., 2, :]
    q, k = rotate_pairs(q, attn.rope.freqs), rotate_pairs(k, attn.rope.freqs)
    with sdpa_kernel(OFFICIAL_BACKENDS):
        out = F.scaled_dot_product_attention(q, k, v)
    return attn.aggregate_heads(out.transpose(1, 2).reshape(batch, seq_len, -1))


def _path(block: LocoformerBlock, x: torch.Tensor) -> torch.Tensor:
    b, t, f, c = x.shape
    if len(block.ffn) == 2:
        x = x + _ffn(block.ffn[1], block.ffn_norm[1](x))
    x = x + _attention(block, block.attn_norm(x).contiguous().view(b * t, f, c)).view(b, t, f, c)
    return x + _ffn(block.ffn[0], block.ffn_norm[0](x))


def _tf_block(block: TFLocoformerBlock, x: torch.Tensor) -> torch.Tensor:
    out = _path(block.freq_path, x.movedim(1, -1))  # (B, D, T, K) -> (B, T, K, D)
    out = _path(block.frame_path, out.transpose(1, 2))
    return out.transpose(-1, 1)


@torch.inference_mode()
def official_style_forward(model: TussModel, mixture: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """mixture: (B, L) -> (B, P, L), with the official execution pattern."""
    sep, bands = model.separator, model.separator.band_split_module
    std = mixture.std(dim=-1, keepdim=True) + 1e-8
    spec = model.stft.forward(mixture / std)  # (B, T, F)
    n_batch, n_frames, n_freqs = spec.shape
    n_src = len(prompts)
    spec_ri = torch.view_as_real(spec).movedim(1, -1)  # (B, F, 2, T)
    edges = [0]
    for width in bands.bands:
        edges.append(edges[-1] + width)
    x = torch.stack(
        [bands.band_split_module[i](spec_ri[:, edges[i] : edges[i + 1]].reshape(n_batch, -1, n_frames))
         for i in range(len(bands.bands))], dim=-1)  # (B, D, T, K)
    sos = sep.sos_token.unsqueeze(0).repeat(n_batch, 1, 1, bands.num_bands)
    x = torch.cat((sos, x), dim=2)
    out = x.new_zeros(n_batch, x.shape[1], x.shape[2] + n_src, x.shape[3])
    out[..., n_src:, :] = x
    for i, prompt in enumerate(prompts):
        out[:, :, i : i + 1, :] = sep.prompts[prompt].repeat(1, 1, 1, bands.num_bands)
    x = out
    for block in sep.cross_prompt_module:
        x = _tf_block(block, x)
    prompt_vectors = x[..., :n_src, :].reshape(n_batch, -1, n_src, 1, bands.num_bands).transpose(1, 2)
    x = x[..., n_src + 1 :, :].unsqueeze(1).repeat(1, n_src, 1, 1, 1) * prompt_vectors
    x = x.reshape(n_batch * n_src, -1, n_frames, bands.num_bands)
    for block in sep.cond_tse_module:
        x = _tf_block(block, x)
    decoded = [
        bands.bandwise_decoding_module[i](x[..., i]).reshape(n_batch * n_src, 2, 1, -1, n_frames)
        for i in range(len(bands.bands))
    ]
    mask = torch.cat(decoded, dim=-2).transpose(-1, -2).reshape(n_batch, n_src, 2, n_frames, n_freqs)
    est = spec.unsqueeze(1) * torch.complex(mask[:, :, 0], mask[:, :, 1])
    waves = model.stft.inverse(est.flatten(0, 1)).unflatten(0, (n_batch, n_src)) * std.unsqueeze(1)
    return waves[..., : mixture.shape[-1]]
