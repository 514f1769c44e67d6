"""Batched forward passes: same output as one segment at a time, precision, out-of-memory halving."""

import numpy as np
import pytest
import torch

from tuss_fx.separation import forward
from tuss_fx.separation.forward import (BatchShrunkWarning, EmulatedBf16Warning, ModelRunner, items_that_fit,
                                            resolve_precision)
from tuss_fx.separation.separator import Separator

from tests.conftest import noise


def test_precision_defaults_to_bf16_on_cuda_only(monkeypatch):
    monkeypatch.setattr(forward, "cpu_does_bf16", lambda: True)
    assert resolve_precision("auto", torch.device("cuda")) is torch.bfloat16
    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("fp32", torch.device("cuda")) is None
    assert resolve_precision("bf16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_on_a_cpu_without_bf16_arithmetic_warns_and_is_still_given(monkeypatch, recwarn):
    monkeypatch.setattr(forward, "cpu_does_bf16", lambda: False)
    with pytest.warns(EmulatedBf16Warning, match="emulated"):
        assert resolve_precision("bf16", torch.device("cpu")) is torch.bfloat16
    recwarn.clear()
    # fp32, auto on a CPU and bf16 on CUDA have nothing to warn of
    for precision, device in (("fp32", "cpu"), ("auto", "cpu"), ("bf16", "cuda")):
        resolve_precision(precision, torch.device(device))
    assert not [w for w in recwarn if issubclass(w.category, EmulatedBf16Warning)]


@pytest.mark.parametrize("free, per_item, cap, expected", [
    (10 * 2**30, 2**30, 64, 6),  # 60 % of 10 GiB at 1 GiB an item
    (10 * 2**30, 2**20, 64, 64),  # capped
    (2**20, 2**30, 64, 1),  # never below one
])
def test_items_that_fit(free, per_item, cap, expected):
    assert items_that_fit(free, per_item, cap) == expected


def test_batched_segments_equal_one_at_a_time(parity_dir):
    """Stereo, 9 segments: 8 segments x 2 channels per pass against 1 segment per call (fp32)."""
    signal = noise(2, 4 * 48000, seed=5)
    prompts = ["speech", "sfxbg", "musicbg"]
    alone = Separator.from_pretrained(parity_dir, device="cpu", segment_seconds=0.5)
    batched = Separator.from_pretrained(parity_dir, device="cpu", segment_seconds=0.5, batch_size=16)
    assert alone.segments_per_call(3, 2, True) == 1 and batched.segments_per_call(3, 2, True) == 8
    assert batched.segments_per_call(3, 2, known_length=False) == 1  # live streams do not wait
    expected = alone.separate(signal, 48000, prompts)
    # batching changes only how GEMMs are blocked: float rounding, far below audibility
    np.testing.assert_allclose(batched.separate(signal, 48000, prompts), expected, atol=2e-6, rtol=0)


class _RefusesBigBatches(torch.nn.Module):
    """A model whose device 'runs out of memory' above two items, as a full GPU would: the
    runner cannot tell the difference, and no GPU is needed to prove it goes on."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config, self.sizes = model, model.config, []

    def forward(self, batch, prompts):
        self.sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(batch, prompts)


def test_out_of_memory_halves_the_batch_and_goes_on(parity_model):
    model = _RefusesBigBatches(parity_model)
    runner = ModelRunner(model, torch.device("cpu"), "fp32", max_items=8)
    items = noise(7, 4800, seed=2)
    with pytest.warns(BatchShrunkWarning) as shrinks:
        out = runner(items, ["speech", "musicbg"])
    assert [str(w.message) for w in shrinks] == ["CUDA out of memory with 7 segments per pass; going on with 4",
                                                 "CUDA out of memory with 4 segments per pass; going on with 2"]
    assert model.sizes == [7, 4, 2, 2, 2, 1] and out.shape == (7, 2, 4800)
    with torch.inference_mode():
        np.testing.assert_allclose(out, parity_model(torch.from_numpy(items), ["speech", "musicbg"]).numpy(),
                                   atol=2e-6)
    model.sizes.clear()
    runner(items[:1], ["speech"])
    assert model.sizes == [1]


@pytest.mark.filterwarnings("ignore::tuss_fx.separation.forward.EmulatedBf16Warning")  # on AVX2-only CPUs
def test_bf16_stays_close_to_fp32(parity_dir):
    signal = noise(1, 48000, seed=9)
    fp32 = Separator.from_pretrained(parity_dir, device="cpu").separate(signal, 48000, ["speech", "musicbg"])
    bf16 = Separator.from_pretrained(parity_dir, device="cpu", precision="bf16").separate(
        signal, 48000, ["speech", "musicbg"])
    error = np.sum((bf16 - fp32) ** 2) / np.sum(fp32**2)
    assert bf16.dtype == np.float32 and 0 < error < 1e-2  # bf16 really ran, and stays 20 dB under the signal
