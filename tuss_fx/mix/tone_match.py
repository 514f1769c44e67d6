"""The tone match of a replacement (mix.replace --match-eq): an octave-band EQ fitted to the ratio of two
long-term spectra, applied as a linear-phase FIR filter.

Linear phase, because the replaced mix is judged against the original sample by sample: the new dialogue
takes the place of one the separation took out, and a minimum-phase EQ (peaking biquads) turns each band's
phase by up to 20 degrees around its centre, which against the original is error however right the
levels are. On the real suite's trumpet scene the biquads' match left the replaced mix 5.6 dB further
from the original than the separation's own error; this filter, with the same octave gains, does not
(benchmarks/bench_replace.py). Its delay, half its length, is taken back as it streams.

The response between the octave centres is interpolated in log frequency and held flat beyond the first
and the last, so the filter is smooth (no ripple that would be heard as a colour of its own), and the
gains are refined against the filter's own band means since the interpolation spreads each into its
neighbours.
"""

from __future__ import annotations

import functools
import math

import numpy as np

EQ_CENTRES_HZ = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)  # octave bands: the tone, not the words
EQ_LIMIT_DB = 9.0  # most a band is moved: a room's tone, not a repair
EQ_FRAME_SAMPLES = 8192  # the spectrum frames the tone is measured in
EQ_FIT_ROUNDS = 4
FIR_SECONDS = 0.085  # the filter's length: a tenth of the 125 Hz octave's width is resolved (4081 taps at 48 kHz)
SILENT_DB = -200.0  # octave levels under this are no signal (a zero power reads -300 dB)


def octave_powers(power: np.ndarray, sample_rate: int) -> np.ndarray:
    """(..., len(EQ_CENTRES_HZ)): power spectra (..., rfft bins of EQ_FRAME_SAMPLES) summed in each octave."""
    return power @ _octave_bins(power.shape[-1], sample_rate).T


def octave_levels_db(power: np.ndarray, sample_rate: int) -> np.ndarray:
    """(len(EQ_CENTRES_HZ),) dB: a power spectrum summed in each octave."""
    return 10 * np.log10(octave_powers(power, sample_rate) + 1e-30)


@functools.cache
def _octave_bins(num_bins: int, sample_rate: int) -> np.ndarray:
    """(bands, bins) 1.0 where an rfft bin lies in the octave around a centre."""
    freqs = np.linspace(0, sample_rate / 2, num_bins)
    return np.array([(freqs >= centre / math.sqrt(2)) & (freqs < centre * math.sqrt(2)) for centre in EQ_CENTRES_HZ],
                    np.float64)


def fit_eq(original_db: np.ndarray, new_db: np.ndarray, sample_rate: int) -> dict[float, float]:
    """Octave gains (dB, at EQ_CENTRES_HZ) that bring the recording's long-term octave levels (new_db) to the
    original's shape (original_db): their difference less its mean (the level is the gain match's), each
    within ±EQ_LIMIT_DB, refined so the filter's own band means land on them. {} where either was silent."""
    if new_db.max() < SILENT_DB or original_db.max() < SILENT_DB:
        return {}
    usable = [centre < sample_rate / 2 / math.sqrt(2) for centre in EQ_CENTRES_HZ]
    target = original_db - new_db
    target = np.clip(target - np.mean(target[usable]), -EQ_LIMIT_DB, EQ_LIMIT_DB)
    gains = target.copy()
    for _ in range(EQ_FIT_ROUNDS):
        response = eq_response_db(dict(zip(EQ_CENTRES_HZ, gains)), sample_rate)
        gains = np.clip(gains + (target - response), -1.5 * EQ_LIMIT_DB, 1.5 * EQ_LIMIT_DB)
    return {centre: float(gain) for centre, gain, use in zip(EQ_CENTRES_HZ, gains, usable) if use}


def eq_filter(eq_db: dict[float, float], sample_rate: int) -> np.ndarray:
    """(taps,) float64: the linear-phase FIR filter of these octave gains (odd length, delay (taps - 1) / 2)."""
    from scipy.signal import firwin2

    taps = 2 * round(FIR_SECONDS * sample_rate / 2) + 1
    freqs = np.linspace(0.0, sample_rate / 2, 2049)
    return firwin2(taps, freqs, 10 ** (eq_curve_db(eq_db, freqs) / 20), fs=sample_rate)


def eq_curve_db(eq_db: dict[float, float], freqs: np.ndarray) -> np.ndarray:
    """The gains at `freqs` (Hz): interpolated in log frequency between the centres, flat beyond them."""
    if not eq_db:
        return np.zeros_like(freqs)
    centres, gains = zip(*sorted(eq_db.items()))
    return np.interp(np.log2(np.maximum(freqs, 1.0)), np.log2(centres), gains)


def eq_response_db(eq_db: dict[float, float], sample_rate: int) -> np.ndarray:
    """The filter's gain in each octave band (dB): its mean power gain over the band's bins."""
    power = np.abs(np.fft.rfft(eq_filter(eq_db, sample_rate), EQ_FRAME_SAMPLES)) ** 2
    return octave_levels_db(power, sample_rate) - octave_levels_db(np.ones_like(power), sample_rate)


class FirStream:
    """(C, n) blocks through a linear-phase FIR filter, its delay taken back: once finished, as many samples
    out as in, each where its input was (overlap-add of FFT convolutions)."""

    def __init__(self, taps: np.ndarray, num_channels: int) -> None:
        from scipy.signal import oaconvolve

        self._convolve = oaconvolve
        self._taps = taps.astype(np.float32)  # float32 FFTs: twice as fast, 1e-7 of the signal apart
        self._delay = (len(taps) - 1) // 2  # output samples still to drop: the filter's delay
        self._overlap = np.zeros((num_channels, len(taps) - 1), np.float32)  # what earlier blocks add to the next
        self._pushed = self._emitted = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) -> (C, m) float32, m <= n: the filtered samples ready."""
        if not block.shape[1]:
            return block.astype(np.float32)
        full = self._convolve(block.astype(np.float32), self._taps[None], axes=1)  # (C, n + taps - 1)
        full[:, :self._overlap.shape[1]] += self._overlap  # the tails of the blocks before
        count = block.shape[1]
        self._overlap = full[:, count:]
        self._pushed += count
        return self._emit(full[:, :count])

    def finish(self) -> np.ndarray:
        """The samples the filter still holds, up to as many as were pushed."""
        return self._emit(self._overlap)

    def _emit(self, ready: np.ndarray) -> np.ndarray:
        """What is ready less the delay still to drop, never more in all than was pushed."""
        dropped = min(self._delay, ready.shape[1])
        self._delay -= dropped
        out = ready[:, dropped:][:, :max(0, self._pushed - self._emitted)]
        self._emitted += out.shape[1]
        return out.astype(np.float32)
