"""STFT with the official padding, and the band-split encoder / band-wise mask decoder (TUSS.md 2-3, 8)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import groupby

import torch
import torch.nn.functional as F
from torch import nn

from tuss_fx.model import ops
from tuss_fx.model.config import STFTConfig

# BS-RoFormer band layout used by TUSS: (range in Hz) -> bins per band
_BAND_SPLIT_HZ = {(0, 1000): 2, (1000, 2000): 4, (2000, 4000): 12, (4000, 8000): 24, (8000, 16000): 48}
GROUP_NORM_EPS = 1e-5  # nn.GroupNorm's default, which the official per-band norms use


def band_widths(sample_rate: int, fft_size: int) -> list[int]:
    """Bins per band, low to high (61 bands summing to 1025 at 48 kHz / 2048)."""
    num_bins = fft_size // 2 + 1
    hz_per_bin = sample_rate // 2 / num_bins  # the official spacing (~23.41 Hz), not sr / fft_size
    widths: list[int] = []
    for (start_hz, end_hz), width in _BAND_SPLIT_HZ.items():
        widths += [width] * math.ceil((end_hz - start_hz) / (width * hz_per_bin))
    rest = num_bins - sum(widths)
    if sample_rate == 48000:
        widths += [rest // 4] * 3 + [rest // 4 + rest % 4]
    else:
        widths += [rest // 2, rest - rest // 2]
    return widths


@dataclass(frozen=True)
class _Run:
    """Consecutive bands of equal width: one batched matmul instead of one module call per band."""

    first_band: int
    num_bands: int
    width: int
    first_bin: int


def _runs(widths: list[int]) -> list[_Run]:
    runs, band, bin_ = [], 0, 0
    for width, members in groupby(widths):
        count = len(list(members))
        runs.append(_Run(band, count, width, bin_))
        band, bin_ = band + count, bin_ + count * width
    return runs


class STFT:
    """Official STFT wrapper: pad n_fft/2 both sides plus whole-hop end padding, centre=False;
    the inverse is torch.istft(centre=True), which drops n_fft/2 at each end."""

    def __init__(self, conf: STFTConfig) -> None:
        self.conf = conf

    def window(self, like: torch.Tensor) -> torch.Tensor:
        """The analysis/synthesis window on like's device, in like's real dtype."""
        dtype = like.real.dtype if like.is_complex() else like.dtype
        window = torch.hann_window(self.conf.window_length, periodic=True, device=like.device, dtype=dtype)
        if self.conf.window_type == "sqrt_hann":
            window = window.sqrt()
        return window / window.sum() if self.conf.normalize == "window" else window

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """wave: (B, L) float -> (B, T, F) complex."""
        c = self.conf
        padded_length = wave.shape[-1] + 2 * (c.fft_size // 2)
        end_pad = (-(padded_length - c.window_length) % c.hop_length) % c.window_length
        wave = F.pad(wave, (c.fft_size // 2, c.fft_size // 2 + end_pad))
        spec = torch.stft(
            wave,
            n_fft=c.fft_size,
            hop_length=c.hop_length,
            win_length=c.window_length,
            window=self.window(wave),
            normalized=c.normalize == "default",
            center=False,
            return_complex=True,
        )
        return spec.transpose(-1, -2)

    def inverse(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (B, T, F) complex -> (B, hop·(T-1)) float."""
        c = self.conf
        return torch.istft(
            spec.transpose(-1, -2),
            n_fft=c.fft_size,
            hop_length=c.hop_length,
            win_length=c.window_length,
            window=self.window(spec),
            normalized=c.normalize == "default",
            center=True,
        )


class BandSplitModule(nn.Module):
    """Per-band GroupNorm + 1x1 conv encoder, and per-band MLP mask decoder with GLU.

    Parameters sit in per-band `nn.Sequential`s named as in the official state_dict; forward
    gathers them into one table and runs all bands with a few batched ops.
    """

    def __init__(self, emb_dim: int, fft_size: int, sample_rate: int) -> None:
        super().__init__()
        self.bands = band_widths(sample_rate, fft_size)
        self.runs = _runs(self.bands)
        self.band_split_module = nn.ModuleList(
            nn.Sequential(nn.GroupNorm(1, 2 * width), nn.Conv1d(2 * width, emb_dim, 1)) for width in self.bands
        )
        self.bandwise_decoding_module = nn.ModuleList(
            nn.Sequential(
                nn.GroupNorm(1, emb_dim),
                nn.Conv1d(emb_dim, 4 * emb_dim, 1),
                nn.Tanh(),
                nn.Conv1d(4 * emb_dim, 4 * emb_dim, 1),
                nn.Tanh(),
                nn.Conv1d(4 * emb_dim, 2 * 2 * width, 1),
                nn.GLU(dim=1),
            )
            for width in self.bands
        )
        # first channel of each band (then the total) in the (real, imag)-interleaved spectrum,
        # and in the decoder's (K·D) feature rows
        spectrum_starts = torch.tensor([0] + self.bands).cumsum(0) * 2
        self.register_buffer("spectrum_band_starts", spectrum_starts.int(), False)
        self.register_buffer("feature_band_starts", (torch.arange(len(self.bands) + 1) * emb_dim).int(), False)

    @property
    def num_bands(self) -> int:
        return len(self.bands)

    def band_split(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (B, T, F, 2) real/imag -> (B, T, K, D)."""
        batch, frames = spec.shape[:2]
        norms = [seq[0] for seq in self.band_split_module]
        x = ops.band_group_norm(
            spec.reshape(batch, frames, -1),  # (B, T, 2F): channel 2f + (0 real | 1 imag)
            self.spectrum_band_starts,
            torch.cat([n.weight for n in norms]),
            torch.cat([n.bias for n in norms]),
            GROUP_NORM_EPS,
        )
        convs = [seq[1] for seq in self.band_split_module]
        return ops.band_projection(
            x,  # (B, T, 2F)
            self.spectrum_band_starts,
            torch.cat([c.weight[..., 0].T for c in convs]),  # (2F, D): band k's (2w, D) rows stacked
            torch.stack([c.bias for c in convs]),  # (K, D)
        )

    def bandwise_decoding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, K, D) -> complex mask as (real, imag), each (B, T, F)."""
        batch, frames, num_bands, emb_dim = x.shape
        seqs = list(self.bandwise_decoding_module)
        h = ops.band_group_norm(
            x.reshape(batch, frames, -1),
            self.feature_band_starts,
            torch.cat([s[0].weight for s in seqs]),
            torch.cat([s[0].bias for s in seqs]),
            GROUP_NORM_EPS,
        ).view(x.shape)
        for layer in (1, 3):
            weight = torch.stack([s[layer].weight[..., 0] for s in seqs])  # (K, E, D)
            bias = torch.stack([s[layer].bias for s in seqs])  # (K, E)
            h = torch.tanh(torch.einsum("btkd,ked->btke", h, weight) + bias)
        real, imag = [], []
        for run in self.runs:
            members = seqs[run.first_band : run.first_band + run.num_bands]
            weight = torch.stack([s[5].weight[..., 0] for s in members])  # (n, 4w, 4D)
            bias = torch.stack([s[5].bias for s in members])
            h_run = h[:, :, run.first_band : run.first_band + run.num_bands]
            out = torch.einsum("btnd,ncd->btnc", h_run, weight) + bias  # (B, T, n, 4w)
            mask = F.glu(out, dim=-1).unflatten(-1, (2, run.width))  # (B, T, n, 2, w)
            real.append(mask[..., 0, :].flatten(2))
            imag.append(mask[..., 1, :].flatten(2))
        return torch.cat(real, dim=-1), torch.cat(imag, dim=-1)
