import math

import pytest
import torch
import torch.nn.functional as F

from tuss_fx.model import ops
from tuss_fx.model.blocks import RMSGroupNorm, RotaryEmbedding, SwiGLUConvDeconv1d
from tuss_fx.model.config import FFNConfig


@pytest.mark.parametrize("kernel", [1, 2, 4])
@pytest.mark.parametrize("length", [1, 5, 61])
def test_ffn_gemm_form_equals_conv_deconv(kernel, length):
    """The GEMM rewrite against torch's own Conv1d/ConvTranspose1d with the official padding."""
    torch.manual_seed(kernel)
    ffn = SwiGLUConvDeconv1d(6, FFNConfig(dim_inner=10, conv1d_kernel=kernel))
    x = torch.randn(3, length, 6)
    padded = F.pad(x.transpose(1, 2), (kernel - 1, kernel - 1))
    hidden = ffn.conv1d(padded)
    gated = hidden[:, :10] * F.silu(hidden[:, 10:])
    expected = ffn.deconv1d(gated)[..., kernel - 1 : kernel - 1 + length].transpose(1, 2)
    torch.testing.assert_close(ffn(x), expected, atol=1e-5, rtol=1e-5)


def test_rms_group_norm_closed_form():
    norm = RMSGroupNorm(num_groups=2, dim=4, eps=0.0)
    norm.gamma.data = torch.tensor([1.0, 2.0, 3.0, 4.0])
    x = torch.tensor([[3.0, 4.0, 0.0, 2.0]])
    # group RMS: sqrt((9+16)/2) and sqrt(4/2)
    expected = torch.tensor([[3 / math.sqrt(12.5), 8 / math.sqrt(12.5), 0.0, 4 * 2 / math.sqrt(2)]])
    torch.testing.assert_close(norm(x), expected)


def test_rotary_freqs_are_rotary_embedding_torch_defaults():
    freqs = RotaryEmbedding(16).freqs
    torch.testing.assert_close(freqs, 10000.0 ** (-torch.arange(0, 16, 2).float() / 16))


def test_rotary_is_a_relative_position_encoding():
    """<R_m q, R_n k> depends on m - n only, and rotation keeps norms."""
    freqs = RotaryEmbedding(8).freqs
    phases = ops.rotary_phases(freqs, 12)
    q, k = torch.randn(8), torch.randn(8)
    rq = ops.apply_rotary(q.expand(12, 8), phases)
    rk = ops.apply_rotary(k.expand(12, 8), phases)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm().expand(12))
    torch.testing.assert_close(rq[5] @ rk[2], rq[9] @ rk[6], atol=1e-5, rtol=1e-5)
    # position 1 rotates pair (0, 1) by freqs[0] = 1 rad
    expected = torch.tensor([q[0] * math.cos(1) - q[1] * math.sin(1), q[1] * math.cos(1) + q[0] * math.sin(1)])
    torch.testing.assert_close(rq[1, :2], expected)


def test_rotary_attention_equals_explicit_softmax():
    torch.manual_seed(0)
    qkv = torch.randn(2, 7, 3 * 2 * 4, dtype=torch.float64)
    freqs = RotaryEmbedding(4).freqs.double()
    out = ops.rotary_attention(qkv, freqs, num_heads=2)
    q, k, v = qkv.view(2, 7, 3, 2, 4).permute(2, 0, 3, 1, 4)
    phases = ops.rotary_phases(freqs, 7)
    q, k = ops.apply_rotary(q, phases), ops.apply_rotary(k, phases)
    weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
    expected = (weights @ v).transpose(1, 2).reshape(2, 7, 8)
    torch.testing.assert_close(out, expected)
