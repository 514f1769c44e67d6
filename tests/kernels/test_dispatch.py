"""The whole TUSS network with every op forced onto its kernel matches the reference path."""

import pytest
import torch

from tuss_fx.model import ops
from tuss_fx.separation.checkpoint import load_model

from tests.conftest import PARITY_RTOL, max_rel_error


def _forward_backward(model, mixture, prompts):
    model.zero_grad()
    out = model(mixture, prompts)
    (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_forced_kernels_match_reference_on_the_parity_fixture(parity_dir, parity_io, prompt_sets, monkeypatch):
    model = load_model(parity_dir)
    # The interpreter runs one Python call per kernel program, so its time grows with frames x prompts:
    # a tenth of a second (10 STFT frames) and two prompts still cross prompts in every block and take
    # every op through its kernel, forward and backward, in half the time of 0.5 s x 3 prompts.
    # Tile shapes at other lengths are each kernel's own tests.
    mixture = parity_io["mixture"][:, :4800]
    prompts = prompt_sets["dme"][:2]
    monkeypatch.setenv(ops.KERNELS_ENV, "0")
    ref_out, ref_grads = _forward_backward(model, mixture, prompts)
    monkeypatch.setenv(ops.KERNELS_ENV, "force")
    calls = {op: 0 for op in ops.FUSED_OPS}
    for op in calls:
        module = ops._kernel_module(ops.FUSED_OPS[op])
        original = getattr(module, op)

        def counted(*args, _op=op, _original=original, **kwargs):
            calls[_op] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, op, counted)
    out, grads = _forward_backward(model, mixture, prompts)
    assert all(calls.values()), calls  # every op really ran on its kernel
    assert max_rel_error(out, ref_out) < PARITY_RTOL
    for name, grad in ref_grads.items():
        assert max_rel_error(grads[name], grad) < 1e-3, name


def test_force_without_interpreter_or_gpu_raises(monkeypatch):
    monkeypatch.setenv(ops.KERNELS_ENV, "force")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ops.KernelUnavailableError, match="run on CUDA"):
        ops.rms_group_norm(torch.randn(2, 8), torch.ones(8), 2, 1e-5)


def test_report_and_off_switch(monkeypatch):
    monkeypatch.setenv(ops.KERNELS_ENV, "0")
    assert set(ops.dispatch_report(torch.device("cpu")).values()) == {"PyTorch reference (TUSS_FX_KERNELS=0)"}
    monkeypatch.delenv(ops.KERNELS_ENV)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert all("reference" in v for v in ops.dispatch_report(torch.device("cpu")).values())


def test_auto_takes_a_kernel_only_where_it_was_measured_faster():
    table = {"NVIDIA H100 80GB HBM3": {"rotary_attention": {"inference": 1.8, "training": 0.4},
                                       "band_projection": {"inference": 1.02}}}
    gpu = "NVIDIA H100 80GB HBM3"
    assert ops.choose_by_measurement(table, gpu, "rotary_attention", training=False) == (
        True, "Triton kernel (auto: measured 1.80x in inference on NVIDIA H100 80GB HBM3)")
    assert ops.choose_by_measurement(table, gpu, "rotary_attention", training=True)[0] is False
    assert ops.choose_by_measurement(table, gpu, "band_projection", training=False)[0] is False  # within noise
    assert ops.choose_by_measurement(table, gpu, "rms_group_norm", training=False) == (
        False, "PyTorch reference (auto: rms_group_norm not measured in inference on NVIDIA H100 80GB HBM3)")
    assert ops.choose_by_measurement(table, "NVIDIA H200", "rotary_attention", training=False)[0] is False


def test_the_shipped_table_reads_and_names_only_known_ops():
    table = ops.measured_speedups()
    for gpu, speedups in table.items():
        assert set(speedups) <= set(ops.FUSED_OPS), gpu
        assert all(set(modes) <= {"inference", "training"} for modes in speedups.values()), gpu
    # with the table as it ships, auto takes the reference for every op on any GPU, so it is never
    # slower than TUSS_FX_KERNELS=0 (docs/figures/speed.md): only a measured GPU model gets a kernel
    unmeasured = "a GPU model the table does not list"
    assert not any(ops.choose_by_measurement(table, unmeasured, op, training)[0]
                   for op in ops.FUSED_OPS for training in (False, True))


def test_an_unknown_kernel_mode_is_refused(monkeypatch):
    monkeypatch.setenv(ops.KERNELS_ENV, "yes")
    with pytest.raises(ValueError, match="TUSS_FX_KERNELS must be one of auto, 1, 0, force, not 'yes'"):
        ops.rms_group_norm(torch.randn(2, 8), torch.ones(8), 2, 1e-5)
