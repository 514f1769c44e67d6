import numpy as np
import pedalboard
import pytest

from tuss_fx.mix.effects import ChainStream

from tests.conftest import noise

BLOCK = 4096


@pytest.mark.parametrize("make", [
    lambda: pedalboard.Pedalboard([pedalboard.HighpassFilter(120), pedalboard.Compressor(-24, 4)]),
    lambda: pedalboard.Pedalboard([pedalboard.Reverb(room_size=0.6)]),
    lambda: pedalboard.Pedalboard([pedalboard.Delay(0.05, 0.5)]),
    lambda: pedalboard.Pedalboard([pedalboard.MP3Compressor(4)]),  # a plugin with latency
])
def test_uneven_blocks_give_the_one_call_output(make):
    """pedalboard loses a plugin's state when the call size changes; the stream must not."""
    audio = noise(2, 50_000, scale=0.3)
    whole = make()(audio, 48000, buffer_size=BLOCK)
    stream = ChainStream(make(), 48000, 2, BLOCK)
    sizes = np.random.default_rng(1).integers(0, 9000, 30)
    bounds = np.minimum(np.concatenate([[0], np.cumsum(sizes)]), audio.shape[1])
    parts = [stream.push(audio[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    parts += [stream.push(audio[:, bounds[-1]:]), stream.finish()]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_holds_less_than_one_block_and_nothing_without_plugins():
    stream = ChainStream(pedalboard.Pedalboard([pedalboard.Gain(-6)]), 48000, 1, BLOCK)
    assert stream.push(noise(1, BLOCK - 1)).shape == (1, 0)
    assert stream.push(noise(1, 2)).shape == (1, BLOCK)
    assert stream.latency_samples == BLOCK - 1
    assert stream.finish().shape == (1, 1)
    empty = ChainStream(pedalboard.Pedalboard([]), 48000, 2)
    assert empty.push(noise(2, 5)).shape == (2, 5) and empty.latency_samples == 0
