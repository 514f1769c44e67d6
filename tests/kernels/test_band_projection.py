import pytest
import torch

from tuss_fx.kernels.band_projection import band_projection
from tuss_fx.model import ops
from tuss_fx.model.encoder import band_widths

FP32 = dict(atol=2e-5, rtol=1e-4)  # IEEE fp32 dots in both; only summation order differs


@pytest.mark.parametrize("widths, rows, dim", [
    ([2 * w for w in band_widths(48000, 2048)], 7, 16),  # the encoder: 61 bands of 4..134 channels
    ([3, 1, 17, 5], 1, 24),  # ragged widths, one row, non-power-of-2 D
    ([4] * 5, 130, 8),  # more than one row tile
])
def test_matches_reference_forward_and_backward(widths, rows, dim):
    torch.manual_seed(rows)
    x = torch.randn(2, rows, sum(widths), requires_grad=True)
    weight = torch.randn(sum(widths), dim, requires_grad=True)
    bias = torch.randn(len(widths), dim, requires_grad=True)
    starts = torch.tensor([0, *widths]).cumsum(0).int()
    out, ref = band_projection(x, starts, weight, bias), ops.band_projection(x, starts, weight, bias)
    assert out.shape == (2, rows, len(widths), dim)
    torch.testing.assert_close(out, ref, **FP32)
    grad = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (x, weight, bias), grad), torch.autograd.grad(ref, (x, weight, bias), grad)):
        torch.testing.assert_close(a, b, **FP32)


def test_reference_equals_one_matmul_per_band():
    torch.manual_seed(0)
    widths = [2, 2, 3, 5, 5]
    x, weight, bias = torch.randn(4, sum(widths)), torch.randn(sum(widths), 6), torch.randn(len(widths), 6)
    starts = torch.tensor([0, *widths]).cumsum(0).int()
    out = ops.band_projection(x, starts, weight, bias)
    for band, (a, b) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist())):
        torch.testing.assert_close(out[:, band], x[:, a:b] @ weight[a:b] + bias[band])
