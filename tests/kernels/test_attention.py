import pytest
import torch

from tuss_fx.kernels.attention import rotary_attention
from tuss_fx.model import ops

# fp32 kernels use IEEE dots and the same softmax maths; only summation order differs
TOLERANCE = {torch.float32: dict(atol=2e-5, rtol=1e-4), torch.float16: dict(atol=2e-3, rtol=2e-3)}


def _freqs(head_dim):
    return 1.0 / 10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)


@pytest.mark.parametrize("batch, seq_len, heads, head_dim", [
    (3, 61, 2, 8),  # the band axis, small heads
    (2, 1, 2, 16),  # length 1
    (2, 7, 4, 24),  # non-power-of-2 head and length
    (1, 100, 2, 32),  # more than one key block, ragged last block
    (2, 33, 1, 48),
])
def test_matches_reference_forward_and_backward(batch, seq_len, heads, head_dim):
    torch.manual_seed(seq_len)
    qkv = torch.randn(batch, seq_len, 3 * heads * head_dim, requires_grad=True)
    out = rotary_attention(qkv, _freqs(head_dim), heads)
    ref = ops.rotary_attention(qkv, _freqs(head_dim), heads)
    torch.testing.assert_close(out, ref, **TOLERANCE[torch.float32])
    grad = torch.randn_like(out)
    (d_kernel,) = torch.autograd.grad(out, qkv, grad)
    (d_ref,) = torch.autograd.grad(ref, qkv, grad)
    torch.testing.assert_close(d_kernel, d_ref, **TOLERANCE[torch.float32])


def test_half_precision_accumulates_in_fp32():
    torch.manual_seed(0)
    qkv = torch.randn(2, 40, 3 * 2 * 16)
    out = rotary_attention(qkv.half(), _freqs(16), 2)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), ops.rotary_attention(qkv, _freqs(16), 2), **TOLERANCE[torch.float16])
