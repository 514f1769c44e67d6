"""Production augmentation does what its physics says: room decay, band limit, level rides, stems untouched."""

import numpy as np
import pytest

from tuss_fx.model.prompts import STEM_PROMPTS
from tuss_fx.train.augment import (MODEL_RATE, ProductionAugment, band_limit, level_ride, reverberate,
                                   room_impulse_response)


def _band_energy_db(audio: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / MODEL_RATE)
    return float(10 * np.log10(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum() + 1e-30))


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_room_response_decays_by_60_db_in_rt60_and_keeps_the_direct_to_reverberant_ratio(rt60):
    response = room_impulse_response(np.random.default_rng(0), rt60, direct_to_reverberant_db=6.0).astype(np.float64)
    assert response[0] == 1.0
    np.testing.assert_allclose(10 * np.log10(1.0 / np.sum(response[1:] ** 2)), 6.0, atol=1e-6)
    # Schroeder backward integration of the tail; fit the -5..-25 dB range (T20) and extrapolate to 60 dB
    tail = response[1:] ** 2
    decay_db = 10 * np.log10(np.cumsum(tail[::-1])[::-1] / tail.sum())
    fit = (decay_db < -5) & (decay_db > -25)
    slope_db_per_s = np.polyfit(np.flatnonzero(fit) / MODEL_RATE, decay_db[fit], 1)[0]
    assert -60 / slope_db_per_s == pytest.approx(rt60, rel=0.2)


def test_reverberation_keeps_the_length_and_an_impulse_becomes_the_response():
    response = room_impulse_response(np.random.default_rng(1), 0.4, 3.0)
    impulse = np.zeros(48000, np.float32)
    impulse[100] = 1.0
    out = reverberate(impulse, response)
    assert out.shape == impulse.shape
    np.testing.assert_allclose(out[100 : 100 + len(response)], response[: 48000 - 100], atol=1e-5)


@pytest.mark.parametrize("rate", [8000, 16000, 22050])
def test_band_limit_removes_everything_above_the_recording_rates_nyquist(rate):
    for odd in (1, 7, 12001):  # lengths the low rate cannot hold exactly keep their length
        assert band_limit(np.ones(odd, np.float32), rate).shape == (odd,)
    white = np.random.default_rng(2).standard_normal(MODEL_RATE).astype(np.float32)
    limited = band_limit(white, rate)
    assert limited.shape == white.shape
    nyquist = rate / 2
    assert _band_energy_db(limited, nyquist * 1.08, 24000) - _band_energy_db(white, nyquist * 1.08, 24000) < -50
    assert abs(_band_energy_db(limited, 100, nyquist * 0.9) - _band_energy_db(white, 100, nyquist * 0.9)) < 0.3


def test_level_ride_stays_within_its_depth_and_moves():
    tone = np.ones(3 * MODEL_RATE, np.float32)
    ridden = level_ride(tone, np.random.default_rng(3), depth_db=10.0)
    gain_db = 20 * np.log10(ridden)
    assert gain_db.max() <= 5.0 + 1e-4 and gain_db.min() >= -5.0 - 1e-4
    assert gain_db.max() - gain_db.min() > 1.0


def test_stems_and_silence_pass_unchanged_speech_is_processed_reproducibly():
    augment = ProductionAugment(reverb_prob=1.0, band_limit_prob=1.0, chain_prob=1.0, ride_prob=1.0)
    audio = (np.random.default_rng(4).standard_normal(2 * MODEL_RATE) * 0.1).astype(np.float32)
    for stem in STEM_PROMPTS:
        assert augment(stem, audio, np.random.default_rng(5)) is audio
    silent = np.zeros_like(audio)
    np.testing.assert_array_equal(augment("speech", silent, np.random.default_rng(5)), silent)
    first = augment("speech", audio, np.random.default_rng(6))
    second = augment("speech", audio, np.random.default_rng(6))
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and first.shape == audio.shape and np.isfinite(first).all()
    assert not np.allclose(first, audio)
    # band limit at 8 kHz at most: the full-band white noise has lost its top octave
    assert _band_energy_db(first, 17000, 24000) - _band_energy_db(audio, 17000, 24000) < -20


def test_nothing_happens_when_every_probability_is_zero():
    augment = ProductionAugment(reverb_prob=0.0, band_limit_prob=0.0, chain_prob=0.0, ride_prob=0.0)
    audio = (np.random.default_rng(7).standard_normal(MODEL_RATE) * 0.1).astype(np.float32)
    for prompt in ("speech", "sfx", "sfxbg", "musicbg"):
        np.testing.assert_array_equal(augment(prompt, audio, np.random.default_rng(8)), audio)
