"""DeepFilterNet3 with gradients: the inference arithmetic itself, and the loss it is fine-tuned on.

`enhance_batch` runs DeepFilterNet3Stream.process_raw, the code the product's dialogue engine runs
(features, ERB gains, deep filter, the local-SNR stage choice, synthesis), on whole excerpts from a
fresh state with autograd on, and aligns its output with the input as the stream does. So what is
trained is what ships, sample for sample (tested against `enhance`).

The loss follows the DeepFilterNet papers (Schröter et al., "DeepFilterNet2: Towards real-time
speech enhancement on embedded devices for full-band audio", IWAENC 2022, section 3.3;
"DeepFilterNet: Perceptually motivated real-time speech enhancement", Interspeech 2023, for DFN3):
- a multi-resolution spectral loss on the output waveform: for STFT sizes of 5, 10, 20 and 40 ms,
  the squared difference of compressed magnitudes |Y|^c - |S|^c and of compressed complex spectra
  |Y|^c e^{j arg Y} - |S|^c e^{j arg S}, c = 0.3;
- a local-SNR loss: the squared error of the network's per-frame SNR estimate against the frame's
  true speech-to-background ratio, clipped to the [-15, 35] dB the runtime's stage choice uses.
Band-limited speech (an 8 or 16 kHz recording in a 48 kHz mixture) is scored only below its band
edge, so the network is never taught that speech has no highs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tuss_fx.deepfilternet.enhancer import LATENCY_SAMPLES, MAX_LSNR_DB, MIN_LSNR_DB, SAMPLE_RATE, DeepFilterNet3Stream
from tuss_fx.deepfilternet.features import FFT_SIZE, HOP_SIZE
from tuss_fx.deepfilternet.network import DeepFilterNet3

MR_FFT_SIZES = (240, 480, 960, 1920)  # 5, 10, 20 and 40 ms at 48 kHz
COMPRESSION = 0.3  # c: the papers' magnitude compression
LSNR_WEIGHT = 1e-3  # the local-SNR term (dB²) next to the spectral terms (compressed linear units)


@dataclass(frozen=True)
class EnhancedBatch:
    waveform: torch.Tensor  # (B, L) the dialogue estimate, aligned with the input
    lsnr_db: torch.Tensor  # (B, T) the network's local SNR of each analysis frame


def enhance_batch(network: DeepFilterNet3, mixture: torch.Tensor) -> EnhancedBatch:
    """(B, L) float32 mixtures at 48 kHz -> the dialogue estimate, with gradients, as `enhance` gives it.

    The input is padded with silence past its end, as DeepFilterNet3Stream.finish does, so the
    frames that hold its last samples are computed too."""
    length = mixture.shape[1]
    padded_length = -(-(length + LATENCY_SAMPLES) // HOP_SIZE) * HOP_SIZE
    stream = DeepFilterNet3Stream(network, mixture.shape[0])
    raw, lsnr = stream.process_raw(F.pad(mixture, (0, padded_length - length)))
    return EnhancedBatch(raw[:, LATENCY_SAMPLES: LATENCY_SAMPLES + length], lsnr)


def frame_snr_db(speech: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """(B, L) true speech and background -> (B, T) their energy ratio per analysis frame, as the
    network frames its input (a 960-sample window every 480, the first half window before the
    signal), clipped to the range the local-SNR stage uses."""
    def energies(signal: torch.Tensor) -> torch.Tensor:
        length = signal.shape[1]
        padded_length = -(-(length + LATENCY_SAMPLES) // HOP_SIZE) * HOP_SIZE
        padded = F.pad(signal, (FFT_SIZE - HOP_SIZE, padded_length - length))
        return padded.unfold(1, FFT_SIZE, HOP_SIZE).square().sum(-1)

    ratio = 10 * torch.log10((energies(speech) + 1e-10) / (energies(background) + 1e-10))
    return ratio.clamp(MIN_LSNR_DB, MAX_LSNR_DB)


def _band_mask(cutoffs_hz: torch.Tensor, fft_size: int) -> torch.Tensor:
    """(B,) band edges -> (B, 1, F) 1 below each edge, 0 above (an edge at or past Nyquist keeps all)."""
    bins = torch.fft.rfftfreq(fft_size, 1.0 / SAMPLE_RATE).to(cutoffs_hz.device)
    return (bins[None, None, :] <= cutoffs_hz[:, None, None]).float()


def spectral_loss(estimate: torch.Tensor, speech: torch.Tensor, cutoffs_hz: torch.Tensor,
                  fft_sizes: Sequence[int] = MR_FFT_SIZES) -> torch.Tensor:
    """The multi-resolution compressed spectral loss (magnitude and complex terms), band-masked."""
    total = estimate.new_zeros(())
    for size in fft_sizes:
        window = torch.hann_window(size, device=estimate.device)
        spectra = [torch.stft(x, size, size // 4, window=window, return_complex=True).transpose(1, 2)
                   for x in (estimate, speech)]  # (B, T, F)
        mask = _band_mask(cutoffs_hz, size)
        # |S| with a floor under the root, so silent bins (a frame the LSNR stage zeroed) keep finite
        # gradients: abs() and angle() of 0 have none
        exact = [(s.real.square() + s.imag.square() + 1e-12).sqrt() for s in spectra]
        magnitudes = [m.pow(COMPRESSION) for m in exact]
        compressed = [s * m.pow(COMPRESSION - 1) for s, m in zip(spectra, exact)]  # |S|^c e^{j arg S}
        weight = mask.expand_as(magnitudes[0]).sum().clamp_min(1.0)
        total = total + ((magnitudes[0] - magnitudes[1]).square() * mask).sum() / weight
        total = total + ((compressed[0] - compressed[1]).abs().square() * mask).sum() / weight
    return total


def dialogue_loss(network: DeepFilterNet3, speech: torch.Tensor, background: torch.Tensor,
                  cutoffs_hz: torch.Tensor | None = None,
                  lsnr_weight: float = LSNR_WEIGHT) -> tuple[torch.Tensor, dict[str, float]]:
    """The fine-tuning loss of one batch: (B, L) speech and background, their sum the mixture;
    cutoffs_hz (B,) where each example's speech band ends (default: full band); lsnr_weight: the
    local-SNR term's weight (0 leaves the estimate that picks each frame's stage as converted).

    Returns the loss (a scalar with gradients) and its terms as floats."""
    cutoffs = cutoffs_hz if cutoffs_hz is not None else speech.new_full((speech.shape[0],), SAMPLE_RATE / 2)
    enhanced = enhance_batch(network, speech + background)
    spectral = spectral_loss(enhanced.waveform, speech, cutoffs)
    target = frame_snr_db(speech, background)
    frames = min(target.shape[1], enhanced.lsnr_db.shape[1])
    lsnr = (enhanced.lsnr_db[:, :frames] - target[:, :frames]).square().mean()
    total = spectral + lsnr_weight * lsnr
    return total, {"spectral": float(spectral.detach()), "lsnr": float(lsnr.detach()), "total": float(total.detach())}
