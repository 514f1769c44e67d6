import pytest
import torch

from tuss_fx.kernels.rms_group_norm import add_rms_group_norm, rms_group_norm
from tuss_fx.model import ops

FP32 = dict(atol=1e-5, rtol=1e-5)  # same formula, fp32 throughout; reductions reorder sums


@pytest.mark.parametrize("shape, groups", [((5, 7, 16), 4), ((1, 64), 8), ((3, 48), 4), ((2, 1, 12), 3)])
def test_norm_matches_reference(shape, groups):
    torch.manual_seed(1)
    x = torch.randn(shape, requires_grad=True)
    gamma = torch.randn(shape[-1], requires_grad=True)
    out, ref = rms_group_norm(x, gamma, groups, 1e-5), ops.rms_group_norm(x, gamma, groups, 1e-5)
    torch.testing.assert_close(out, ref, **FP32)
    grad = torch.randn_like(out)
    for kernel_grad, ref_grad in zip(torch.autograd.grad(out, (x, gamma), grad), torch.autograd.grad(ref, (x, gamma), grad)):
        torch.testing.assert_close(kernel_grad, ref_grad, **FP32)


def test_fused_residual_add_matches_reference():
    torch.manual_seed(2)
    x, delta = torch.randn(9, 32, requires_grad=True), torch.randn(9, 32, requires_grad=True)
    gamma = torch.randn(32, requires_grad=True)
    total, normed = add_rms_group_norm(x, delta, gamma, 8, 1e-5)
    ref_total, ref_normed = x + delta, ops.rms_group_norm(x + delta, gamma, 8, 1e-5)
    torch.testing.assert_close(total, ref_total, **FP32)
    torch.testing.assert_close(normed, ref_normed, **FP32)
    g_total, g_normed = torch.randn_like(total), torch.randn_like(normed)
    kernel = torch.autograd.grad((total * g_total).sum() + (normed * g_normed).sum(), (x, delta, gamma))
    ref = torch.autograd.grad((ref_total * g_total).sum() + (ref_normed * g_normed).sum(), (x, delta, gamma))
    for a, b in zip(kernel, ref):
        torch.testing.assert_close(a, b, **FP32)


def test_all_zero_group_has_finite_gradient():
    x = torch.zeros(2, 8, requires_grad=True)
    out = rms_group_norm(x, torch.ones(8), 2, 1e-5)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(grad).all()
