"""Streaming measurements for reports: loudness curves, true peak and a spectrogram strip of one
signal, each in memory that does not grow with the signal's length (past one float per 100 ms)."""

from __future__ import annotations

import math

import numpy as np
import soxr

from tuss_fx.measure.loudness import LoudnessMeter, loudness_range

HOP_SECONDS = 0.1  # curve resolution: EBU Tech 3341 asks for at least 10 updates per second
MOMENTARY_SECONDS = 0.4
SHORT_TERM_SECONDS = 3.0


def true_peak_oversampling(sample_rate: int) -> int:
    """BS.1770-4 Annex 2: 4x below 96 kHz, 2x below 192 kHz, none above."""
    return 4 if sample_rate < 96000 else 2 if sample_rate < 192000 else 1


class TruePeakMeter:
    """Highest absolute sample of the signal oversampled per BS.1770-4 Annex 2 (soxr's VHQ
    band-limited interpolation stands in for the Annex's example FIR)."""

    def __init__(self, sample_rate: int, num_channels: int) -> None:
        factor = true_peak_oversampling(sample_rate)
        self._stream = soxr.ResampleStream(sample_rate, sample_rate * factor, num_channels, "float32", "VHQ") \
            if factor > 1 else None
        self._peak = 0.0

    def push(self, block: np.ndarray, last: bool = False) -> None:
        """block: (C, n) float32."""
        upsampled = block.T
        if self._stream is not None:
            upsampled = self._stream.resample_chunk(np.ascontiguousarray(block.T, dtype=np.float32), last=last)
        if upsampled.size:
            self._peak = max(self._peak, float(np.abs(upsampled).max()))

    def dbtp(self) -> float:
        """True peak in dBTP (after the last push with last=True); -inf for silence."""
        return 20.0 * math.log10(self._peak) if self._peak > 0 else -math.inf


class SpectrogramStrip:
    """Mean power spectrum of a mono downmix over `num_columns` equal slices of a signal of known
    length: a fixed-size picture of hours of audio."""

    FFT_SAMPLES = 2048

    def __init__(self, sample_rate: int, num_frames: int, num_columns: int = 1200) -> None:
        self.sample_rate, self.num_frames = sample_rate, num_frames
        self.num_columns = max(1, min(num_columns, num_frames // (self.FFT_SAMPLES // 2)))
        self.frequencies_hz = np.fft.rfftfreq(self.FFT_SAMPLES, 1.0 / sample_rate)
        self._power = np.zeros((len(self.frequencies_hz), self.num_columns))
        self._frames_per_column = np.zeros(self.num_columns)
        self._window = np.hanning(self.FFT_SAMPLES).astype(np.float32)
        self._pending = np.zeros(0, np.float32)
        self._start = 0  # sample index of self._pending[0]

    def push(self, block: np.ndarray) -> None:
        """block: (C, n); frames hop by half an FFT, each counted in the column its centre falls in."""
        self._pending = np.concatenate([self._pending, block.mean(axis=0, dtype=np.float32)])
        hop = self.FFT_SAMPLES // 2
        count = max(0, (len(self._pending) - self.FFT_SAMPLES) // hop + 1)
        if count == 0:
            return
        frames = np.lib.stride_tricks.sliding_window_view(self._pending, self.FFT_SAMPLES)[::hop][:count]
        power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        centres = self._start + np.arange(count) * hop + self.FFT_SAMPLES // 2
        columns = np.minimum(centres * self.num_columns // self.num_frames, self.num_columns - 1)
        np.add.at(self._power.T, columns, power)
        np.add.at(self._frames_per_column, columns, 1)
        self._pending = self._pending[count * hop :]
        self._start += count * hop

    def db(self) -> np.ndarray:
        """(F, columns) mean power in dB relative to a full-scale sine in one bin, floored at -120;
        a column no frame reached is NaN."""
        full_scale = (self._window.sum() / 2) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self._power / self._frames_per_column
            return 10.0 * np.log10(np.maximum(mean / full_scale, 1e-12))


class ProgrammeMeter:
    """One signal of a report: integrated loudness (equal to pyloudnorm's), loudness curves every
    100 ms, sample and true peak, and optionally its spectrogram strip."""

    def __init__(self, sample_rate: int, num_channels: int, num_frames: int | None = None) -> None:
        self.num_channels = num_channels
        self.loudness = LoudnessMeter(sample_rate, num_channels, HOP_SECONDS)
        self._true_peak = TruePeakMeter(sample_rate, num_channels)
        self.spectrogram = SpectrogramStrip(sample_rate, num_frames) if num_frames else None

    def push(self, block: np.ndarray) -> None:
        """block: (C, n) float32."""
        self.loudness.push(block)
        self._true_peak.push(block)
        if self.spectrogram is not None:
            self.spectrogram.push(block)

    def finish(self) -> None:
        """Flush the true-peak interpolator's tail (call once, after the last block)."""
        self._true_peak.push(np.zeros((self.num_channels, 0), np.float32), last=True)

    def summary(self) -> dict:
        """Numbers of the whole signal: integrated LUFS (None below 0.4 s), loudness range (EBU Tech
        3342, LU), the highest momentary and short-term loudness (None before a window is full),
        true and sample peak."""
        try:
            integrated = self.loudness.integrated_lufs()
        except ValueError:
            integrated = None
        sample_peak = self.loudness.peak
        short_term = self.loudness.sliding_lufs(SHORT_TERM_SECONDS)
        return {"integrated_lufs": integrated, "loudness_range_lu": loudness_range(short_term),
                "max_momentary_lufs": _highest(self.loudness.sliding_lufs(MOMENTARY_SECONDS)),
                "max_short_term_lufs": _highest(short_term), "true_peak_dbtp": self._true_peak.dbtp(),
                "sample_peak_dbfs": 20.0 * math.log10(sample_peak) if sample_peak > 0 else -math.inf}


def _highest(curve: np.ndarray) -> float | None:
    finite = curve[~np.isnan(curve)]
    return float(finite.max()) if finite.size else None
