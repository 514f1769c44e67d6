import pytest
import torch

from tuss_fx.kernels.band_group_norm import band_group_norm
from tuss_fx.model import ops
from tuss_fx.model.encoder import band_widths

FP32 = dict(atol=2e-5, rtol=1e-4)  # two-pass statistics in both; sums reorder


@pytest.mark.parametrize("widths, frames", [
    ([2 * w for w in band_widths(48000, 2048)], 9),  # the encoder: 61 bands, 4..134 channels
    ([16] * 61, 5),  # the decoder: 61 bands of D channels
    ([3, 1, 7], 1),  # ragged widths, one frame
])
def test_matches_reference_forward_and_backward(widths, frames):
    torch.manual_seed(len(widths))
    x = (torch.randn(2, frames, sum(widths)) * 3 + 1).requires_grad_()
    weight = torch.randn(sum(widths), requires_grad=True)
    bias = torch.randn(sum(widths), requires_grad=True)
    starts = torch.tensor([0, *widths]).cumsum(0).int()
    out, ref = band_group_norm(x, starts, weight, bias), ops.band_group_norm(x, starts, weight, bias)
    torch.testing.assert_close(out, ref, **FP32)
    grad = torch.randn_like(out)
    kernel = torch.autograd.grad(out, (x, weight, bias), grad)
    reference = torch.autograd.grad(ref, (x, weight, bias), grad)
    for a, b in zip(kernel, reference):
        torch.testing.assert_close(a, b, **FP32)
