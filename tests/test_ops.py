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


def _ran_ops(fn) -> set[str]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {event.key for event in prof.key_averages()}


@pytest.mark.parametrize("capability, pays", [("AVX512", True), ("AVX2", False), ("DEFAULT", False)])
def test_onednn_linear_is_chosen_where_it_measured_faster(capability, pays):
    assert ops.onednn_linear_pays(capability) is pays


@pytest.mark.skipif(not hasattr(torch.ops.mkldnn, "_linear_pointwise"), reason="this torch build has no oneDNN linear")
def test_linear_takes_onednn_for_cpu_inference_and_equals_f_linear(monkeypatch):
    monkeypatch.setattr(ops, "_ONEDNN_LINEAR", True)  # as on an AVX-512 CPU, whatever this one is
    torch.manual_seed(0)
    x, weight, bias = torch.randn(3, 50, 96), torch.randn(40, 96), torch.randn(40)
    strided = torch.randn(3, 50, 192)[..., :96]  # rows 192 apart, as the FFN's gated half
    with torch.inference_mode():
        assert "mkldnn::_linear_pointwise" in _ran_ops(lambda: ops.linear(x, weight, bias))
        torch.testing.assert_close(ops.linear(x, weight, bias), torch.nn.functional.linear(x, weight, bias))
        torch.testing.assert_close(ops.linear(strided, weight.t().contiguous().t()),
                                   torch.nn.functional.linear(strided, weight))


def test_linear_takes_f_linear_where_onednn_does_not_pay(monkeypatch):
    monkeypatch.setattr(ops, "_ONEDNN_LINEAR", False)  # as on an AVX2 CPU
    x, weight = torch.randn(4, 16), torch.randn(8, 16)
    with torch.inference_mode():
        assert "mkldnn::_linear_pointwise" not in _ran_ops(lambda: ops.linear(x, weight))
        torch.testing.assert_close(ops.linear(x, weight), x @ weight.T)


def test_linear_keeps_autograd_and_autocast_on_f_linear(monkeypatch):
    monkeypatch.setattr(ops, "_ONEDNN_LINEAR", True)
    x, weight = torch.randn(5, 8, requires_grad=True), torch.randn(3, 8, requires_grad=True)
    assert "mkldnn::_linear_pointwise" not in _ran_ops(lambda: ops.linear(x, weight).sum().backward())
    torch.testing.assert_close(weight.grad, x.detach().sum(0).expand(3, 8))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert ops.linear(x, weight).dtype == torch.bfloat16
