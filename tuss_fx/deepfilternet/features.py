"""DeepFilterNet's signal front end: its STFT, ERB band layout and running feature normalisation.

Everything here follows libDF (Rikorose/DeepFilterNet, libDF/src/lib.rs at d375b2d), the code
the upstream runtime runs, so the network sees the features it was trained on:
- STFT: 960-sample Vorbis window, hop 480 (10 ms at 48 kHz), forward scaled by 2·hop/N².
- ERB features: mean power per ERB band in dB, minus an exponential running mean, over 40.
- Complex features: the lowest 96 bins over the square root of a running mean magnitude.
Both running means start from libDF's fixed initial states and use alpha = 0.99 (tau 1 s).

Axis letters: B batch, T frames, F STFT bins (481), E ERB bands (32), D DF bins (96).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SAMPLE_RATE = 48000
FFT_SIZE = 960
HOP_SIZE = 480
NUM_FREQS = FFT_SIZE // 2 + 1
NUM_ERB = 32
NUM_DF = 96
MIN_FREQS_PER_ERB = 2
NORM_ALPHA = 0.99  # libDF's calc_norm_alpha(48000, 480, tau=1 s): exp(-0.01) rounded to 3 places
MEAN_NORM_INIT_DB = (-60.0, -90.0)  # libDF MEAN_NORM_INIT: first and last ERB band
UNIT_NORM_INIT = (0.001, 0.0001)  # libDF UNIT_NORM_INIT: first and last DF bin


def erb_band_widths(sample_rate: int = SAMPLE_RATE, fft_size: int = FFT_SIZE, num_bands: int = NUM_ERB,
                    min_freqs: int = MIN_FREQS_PER_ERB) -> list[int]:
    """STFT bins per ERB band, low to high, summing to fft_size / 2 + 1 (libDF erb_fb).

    Band edges are equally spaced on the ERB scale (Glasberg & Moore); a band narrower than
    `min_freqs` bins is widened and the next one starts later. Computed in float32 as libDF does,
    so edges that round at .5 land where they land there.
    """
    f32 = np.float32

    def freq2erb(freq_hz):
        return f32(9.265) * np.log1p(f32(freq_hz) / f32(24.7 * 9.265), dtype=f32)

    def erb2freq(n_erb):
        return f32(24.7 * 9.265) * (np.exp(f32(n_erb) / f32(9.265), dtype=f32) - f32(1.0))

    freq_width = f32(sample_rate) / f32(fft_size)
    erb_low, erb_high = freq2erb(0.0), freq2erb(sample_rate // 2)
    step = (erb_high - erb_low) / f32(num_bands)
    widths, prev_bin, carried = [], 0, 0
    for band in range(1, num_bands + 1):
        edge_bin = int(np.round(erb2freq(erb_low + f32(band) * step) / freq_width))
        width = edge_bin - prev_bin - carried
        carried = max(0, min_freqs - width)
        widths.append(max(width, min_freqs))
        prev_bin = edge_bin
    widths[-1] += 1  # the Nyquist bin
    widths[-1] -= sum(widths) - (fft_size // 2 + 1)
    return widths


def vorbis_window(size: int = FFT_SIZE) -> torch.Tensor:
    """(size,) float32 sin(pi/2 · sin²(pi (n + 1/2) / size)): its square overlap-adds to 1 at hop size/2."""
    n = torch.arange(size, dtype=torch.float64)
    inner = torch.sin(0.5 * math.pi * (n + 0.5) / (size // 2))
    return torch.sin(0.5 * math.pi * inner * inner).float()


@dataclass
class FeatureState:
    """Running means carried across chunks, per batch item."""

    erb_mean_db: torch.Tensor  # (B, E)
    unit_norm: torch.Tensor  # (B, D)

    @classmethod
    def initial(cls, batch: int, device: torch.device) -> "FeatureState":
        erb = torch.linspace(*MEAN_NORM_INIT_DB, NUM_ERB, device=device)
        unit = torch.linspace(*UNIT_NORM_INIT, NUM_DF, device=device)
        return cls(erb.expand(batch, -1).clone(), unit.expand(batch, -1).clone())


def _running_mean(values: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """values (B, T, X), state (B, X) -> means (B, T, X), state updated in place to the last mean.

    s_t = alpha · s_(t-1) + (1 - alpha) · x_t, frame by frame in float32 as libDF does (a closed
    form would round differently, and the loop costs microseconds a frame next to the network).
    """
    means = torch.empty_like(values)
    mean = state
    for t in range(values.shape[1]):
        mean = values[:, t] * (1.0 - NORM_ALPHA) + mean * NORM_ALPHA
        means[:, t] = mean
    state.copy_(mean)
    return means


class FrontEnd:
    """STFT analysis, features and synthesis of DeepFilterNet on a device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.window = vorbis_window().to(device)
        widths = torch.tensor(erb_band_widths(), device=device)
        self.band_of_bin = torch.repeat_interleave(torch.arange(NUM_ERB, device=device), widths)  # (F,)
        self.band_widths = widths.float()
        self.analysis_scale = 2.0 * HOP_SIZE / FFT_SIZE**2  # libDF wnorm, applied on analysis only

    def analysis(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 960) float -> spectra (B, T, F) complex64."""
        return torch.fft.rfft(frames * self.window) * self.analysis_scale

    def synthesis(self, spec: torch.Tensor) -> torch.Tensor:
        """spectra (B, T, F) -> windowed frames (B, T, 960), ready to overlap-add at hop 480."""
        # libDF's inverse FFT is unnormalised; torch's divides by N
        return torch.fft.irfft(spec, n=FFT_SIZE) * FFT_SIZE * self.window

    def erb_features(self, spec: torch.Tensor, state: FeatureState) -> torch.Tensor:
        """spectra (B, T, F) -> normalised ERB band powers (B, T, E)."""
        power = spec.real.square() + spec.imag.square()
        band_power = torch.zeros(*power.shape[:2], NUM_ERB, device=power.device)
        band_power.index_add_(2, self.band_of_bin, power)
        band_db = torch.log10(band_power / self.band_widths + 1e-10) * 10.0
        return (band_db - _running_mean(band_db, state.erb_mean_db)) / 40.0

    def complex_features(self, spec: torch.Tensor, state: FeatureState) -> torch.Tensor:
        """spectra (B, T, F) -> the lowest D bins over sqrt(running mean magnitude), (B, T, D) complex."""
        low = spec[..., :NUM_DF]
        return low / torch.sqrt(_running_mean(low.abs(), state.unit_norm))

    def bin_gains(self, band_gains: torch.Tensor) -> torch.Tensor:
        """ERB band gains (B, T, E) -> per-bin gains (B, T, F): each bin takes its band's gain."""
        return band_gains[..., self.band_of_bin]
