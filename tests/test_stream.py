import numpy as np
import pytest

from tuss_fx.separation.stream import OverlapAdd, plan_chunks, segment_window

from tests.conftest import noise


@pytest.mark.parametrize("length", [1, 99, 100, 101, 250, 1000, 1234])
@pytest.mark.parametrize("segment, hop", [(100, 75), (100, 100), (100, 1)])
def test_plan_covers_the_signal_with_full_segments(length, segment, hop):
    offsets = plan_chunks(length, segment, hop)
    assert offsets[0] == 0 and all(b > a for a, b in zip(offsets, offsets[1:]))
    assert offsets[-1] + min(segment, length) == length
    # consecutive segments touch or overlap, so every sample is covered
    assert all(b <= a + segment for a, b in zip(offsets, offsets[1:]))
    assert all(b - a <= hop for a, b in zip(offsets, offsets[1:]))


def test_bad_plan_is_refused():
    with pytest.raises(ValueError):
        plan_chunks(0, 100, 50)
    with pytest.raises(ValueError):
        plan_chunks(10, 100, 200)


def test_window_is_positive_with_unit_middle():
    window = segment_window(100, 25)
    assert window.min() > 0 and window[25:75].min() == 1.0


def _run(engine, signal, block):
    out = []
    for start in range(0, signal.shape[1], block):
        out += list(engine.push(signal[:, start : start + block]))
    out += list(engine.finish())
    return np.concatenate(out, axis=-1)


@pytest.mark.parametrize("length", [50, 100, 400, 437])  # shorter, equal, exact multiple, ragged
@pytest.mark.parametrize("block", [1, 33, 1000])
def test_identity_model_reconstructs_input(length, block):
    signal = noise(2, length, seed=length)
    engine = OverlapAdd(lambda chunks: chunks[:, None], length, segment=100, overlap=0.25, num_channels=2)
    out = _run(engine, signal, block)
    assert out.shape == (1, 2, length)
    np.testing.assert_allclose(out[0], signal, atol=1e-6, rtol=0)


def test_buffers_stay_bounded_for_long_inputs():
    length, segment, block = 200_000, 1000, 512
    engine = OverlapAdd(lambda c: np.stack([c, -c], axis=1), length, segment, overlap=0.25, num_channels=1)
    largest = (0, 0)
    signal = noise(1, length)
    for start in range(0, length, block):
        for _ in engine.push(signal[:, start : start + block]):
            pass
        largest = tuple(max(a, b) for a, b in zip(largest, engine.buffered_samples))
    list(engine.finish())
    assert largest[0] <= segment + block and largest[1] <= segment


def test_chunked_equals_one_pass_where_one_segment_alone_covers(separator):
    """Samples before the first overlap come from segment 0 alone: they equal one forward pass on it."""
    separator.segment_seconds, separator.overlap = 0.5, 0.25
    signal = noise(1, 48000, seed=3)
    chunked = separator.separate(signal, 48000, ["speech", "musicbg"])
    first = separator.separate(signal[:, :24000], 48000, ["speech", "musicbg"])
    solo = 24000 - 6000  # segment minus overlap
    np.testing.assert_allclose(chunked[..., :solo], first[..., :solo], atol=1e-6, rtol=0)
    # in the overlap the windowed cross-fade is a weighted mean of segment 0's and segment 1's estimates
    # (segment 1, samples 18000-42000, is one forward pass on its own): it lies between the two
    second = separator.separate(signal[:, solo:solo + 24000], 48000, ["speech", "musicbg"])
    overlap_first, overlap_second = first[..., solo:], second[..., :24000 - solo]
    fade = chunked[..., solo:24000]
    low, high = np.minimum(overlap_first, overlap_second), np.maximum(overlap_first, overlap_second)
    assert ((fade >= low - 1e-6) & (fade <= high + 1e-6)).all()
    # and it moves from the first estimate to the second: nearer the first at the overlap's start
    start, end = slice(0, 600), slice(-600, None)
    assert np.abs(fade[..., start] - overlap_first[..., start]).mean() < np.abs(fade[..., start] - overlap_second[..., start]).mean()
    assert np.abs(fade[..., end] - overlap_second[..., end]).mean() < np.abs(fade[..., end] - overlap_first[..., end]).mean()


@pytest.mark.parametrize("length", [30, 100, 437])
def test_unknown_length_stream_is_independent_of_block_size(length):
    """Live mode: segments every hop, silence completes the last one; blocks do not matter."""
    signal = noise(1, length, seed=7)
    outputs = []
    for block in (1, 37, 500):
        engine = OverlapAdd(lambda c: np.stack([c, c * 0 + c.sum(axis=(1, 2), keepdims=True)], axis=1), None,
                            100, 0.25, 1)
        outputs.append(_run(engine, signal, block))
    for out in outputs:
        assert out.shape == (2, 1, length)
        np.testing.assert_allclose(out, outputs[0], atol=1e-6)
    np.testing.assert_allclose(outputs[0][0], signal, atol=1e-6)  # identity part reconstructs
