import numpy as np
import pytest

from tuss_fx.media.resample import StreamResampler, resample, resampled_length


@pytest.mark.parametrize("in_rate, out_rate", [(44100, 48000), (48000, 44100), (16000, 48000), (48000, 48000)])
def test_sine_keeps_frequency_and_level(in_rate, out_rate):
    t = np.arange(in_rate) / in_rate
    sine = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]
    out = resample(sine, in_rate, out_rate)
    assert out.shape == (1, resampled_length(in_rate, in_rate, out_rate))
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(out.shape[1]) / out_rate)
    middle = slice(out_rate // 10, -out_rate // 10)  # away from the filter's edge transients
    np.testing.assert_allclose(out[0, middle], expected[middle], atol=2e-3)


def test_streamed_equals_one_shot_and_lands_on_a_given_length():
    signal = np.random.default_rng(0).standard_normal((2, 30011)).astype(np.float32)
    stream = StreamResampler(44100, 48000, 2, 30011, output_length=32000)
    parts = [stream.push(signal[:, i : i + 777]) for i in range(0, 30011, 777)] + [stream.finish()]
    streamed = np.concatenate(parts, axis=1)
    assert streamed.shape == (2, 32000)
    one_shot = resample(signal, 44100, 48000)
    np.testing.assert_allclose(streamed[:, : one_shot.shape[1]], one_shot[:, :32000], atol=1e-6)
