import pytest
import torch

from tuss_fx.model import ops


@pytest.mark.parametrize("widths, frames", [([2, 2, 5, 1], 7), ([3], 1), ([4] * 6, 33)])
def test_band_group_norm_equals_group_norm_per_band(widths, frames):
    torch.manual_seed(len(widths))
    x = torch.randn(3, frames, sum(widths)) * 5 + 2
    weight, bias = torch.randn(sum(widths)), torch.randn(sum(widths))
    starts = torch.tensor([0, *widths]).cumsum(0).int()
    out = ops.band_group_norm(x, starts, weight, bias, 1e-5)
    start = 0
    for width in widths:
        norm = torch.nn.GroupNorm(1, width)
        norm.weight.data, norm.bias.data = weight[start : start + width], bias[start : start + width]
        expected = norm(x[..., start : start + width].transpose(1, 2)).transpose(1, 2)
        torch.testing.assert_close(out[..., start : start + width], expected, atol=1e-5, rtol=1e-5)
        start += width


def test_rms_group_norm_keeps_dtype_and_computes_in_fp32():
    x = (torch.randn(4, 16) * 300).to(torch.bfloat16)
    out = ops.rms_group_norm(x, torch.ones(16), 4, 1e-5)
    assert out.dtype == torch.bfloat16
    expected = ops.rms_group_norm(x.float(), torch.ones(16), 4, 1e-5)
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=1e-2)
