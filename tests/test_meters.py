"""Report meters against references: pyloudnorm, closed forms, known signals."""

import math

import numpy as np
import pyloudnorm
import pytest

from tuss_fx.measure.meters import (MOMENTARY_SECONDS, SHORT_TERM_SECONDS, ProgrammeMeter, SpectrogramStrip,
                                    TruePeakMeter)

RATE = 48000


def _push(meter, audio, block):
    for start in range(0, audio.shape[1], block):
        meter.push(audio[:, start : start + block])


def test_momentary_loudness_equals_pyloudnorm_on_each_window():
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((2, 6 * RATE)) * 0.1).astype(np.float32)
    audio[:, 2 * RATE : 3 * RATE] *= 0.05  # a quiet second, so the curve moves
    meter = ProgrammeMeter(RATE, 2)
    _push(meter, audio, 7777)
    momentary = meter.loudness.sliding_lufs(MOMENTARY_SECONDS)
    hop = meter.loudness.hop_samples
    assert len(momentary) == audio.shape[1] // hop and np.isnan(momentary[:3]).all()
    reference = pyloudnorm.Meter(RATE)
    for end_hop in (4, 23, 31, 60):  # one 0.4 s block: pyloudnorm's gating cannot drop it
        window = audio[:, end_hop * hop - 4 * hop : end_hop * hop]
        # pyloudnorm filters each window from rest; the running meter's K-weighting carries the
        # signal before it, which moves later windows by a few 1e-5 LU
        tolerance = 1e-6 if end_hop == 4 else 1e-3
        assert momentary[end_hop - 1] == pytest.approx(reference.integrated_loudness(window.T), abs=tolerance)


def test_short_term_of_a_steady_sine_is_its_loudness():
    t = np.arange(5 * RATE) / RATE
    audio = np.stack([0.5 * np.sin(2 * np.pi * 997 * t)] * 2).astype(np.float32)
    meter = ProgrammeMeter(RATE, 2)
    _push(meter, audio, 4096)
    short_term = meter.loudness.sliding_lufs(SHORT_TERM_SECONDS)
    integrated = meter.summary()["integrated_lufs"]
    assert integrated == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(audio.T), abs=1e-6)
    # BS.1770: a 997 Hz sine at -6.02 dBFS in both channels reads -6.02 LUFS (-3.01 per channel, summed)
    assert integrated == pytest.approx(20 * math.log10(0.5), abs=0.1)
    assert np.isnan(short_term[:29]).all() and np.allclose(short_term[29:], integrated, atol=0.01)


@pytest.mark.parametrize("block", [100, 4096, 48000])
def test_true_peak_finds_the_peak_between_samples(block):
    """A sine at a quarter of the rate, 45 degrees off: every sample sits at 0.707, the wave at 1.0."""
    n = np.arange(2 * RATE)
    audio = np.stack([np.sin(np.pi / 2 * n + np.pi / 4)] * 2).astype(np.float32)
    meter = ProgrammeMeter(RATE, 2)
    _push(meter, audio, block)
    meter.finish()
    summary = meter.summary()
    assert summary["sample_peak_dbfs"] == pytest.approx(-3.01, abs=0.01)
    assert summary["true_peak_dbtp"] == pytest.approx(0.0, abs=0.2)  # BS.1770-4's allowance for 4x is ~0.7 dB


def test_true_peak_of_silence_is_minus_infinity():
    meter = TruePeakMeter(44100, 1)
    meter.push(np.zeros((1, 1000), np.float32), last=True)
    assert meter.dbtp() == -math.inf


def test_spectrogram_strip_puts_a_tone_in_its_bin_and_time():
    strip_length = 4 * RATE
    bin_hz = RATE / SpectrogramStrip.FFT_SAMPLES
    t = np.arange(strip_length) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 43 * bin_hz * t) * (t >= 2.0)  # on a bin centre, second half only
    audio = np.stack([tone, tone]).astype(np.float32)
    strips = []
    for block in (1000, 65536):
        strip = SpectrogramStrip(RATE, strip_length, num_columns=40)
        _push(strip, audio, block)
        strips.append(strip.db())
    np.testing.assert_allclose(strips[0], strips[1], atol=1e-6)  # blocks do not matter
    picture = strips[0]
    assert picture.shape == (SpectrogramStrip.FFT_SAMPLES // 2 + 1, 40)
    assert np.nanargmax(picture[:, 30]) == 43
    assert picture[43, 30] == pytest.approx(20 * math.log10(0.5), abs=0.05)  # -6 dB re a full-scale sine
    assert picture[43, 5] < -100  # silence before the tone starts
