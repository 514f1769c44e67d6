import pytest
import torch

from tuss_fx.model.config import STFTConfig
from tuss_fx.model.encoder import STFT, BandSplitModule, band_widths


def test_band_layout_at_48k():
    widths = band_widths(48000, 2048)
    assert len(widths) == 61 and sum(widths) == 1025
    assert widths == [2] * 22 + [4] * 11 + [12] * 8 + [24] * 8 + [48] * 8 + [66, 66, 66, 67]


@pytest.mark.parametrize("length", [1, 511, 48000, 48001])
def test_stft_round_trip(length):
    """iSTFT(STFT(x)) = x on the input span: sqrt-Hann at 75 % overlap sums to a constant."""
    stft = STFT(STFTConfig())
    wave = torch.randn(2, length, dtype=torch.float64)
    spec = stft.forward(wave)
    back = stft.inverse(spec)
    assert back.shape[-1] >= length and (back.shape[-1] - length) < 512 + 1024
    torch.testing.assert_close(back[..., :length], wave, atol=1e-9, rtol=0)


def test_stft_frame_count_is_the_official_one():
    # 1 s at 48 kHz -> 95 frames and a 48128-sample inverse (the parity fixture's shapes)
    stft = STFT(STFTConfig())
    spec = stft.forward(torch.zeros(1, 48000))
    assert spec.shape == (1, 95, 1025)
    assert stft.inverse(spec).shape[-1] == 48128


def test_band_split_equals_per_band_modules():
    """The vectorised encoder/decoder against the literal per-band nn.Sequential calls."""
    torch.manual_seed(0)
    module = BandSplitModule(emb_dim=8, fft_size=2048, sample_rate=48000)
    for p in module.parameters():
        torch.nn.init.normal_(p, std=0.3)
    spec = torch.randn(2, 7, 1025, 2)
    features = module.band_split(spec)  # (B, T, K, D)
    start = 0
    for band, width in enumerate(module.bands):
        sub = spec[:, :, start : start + width].reshape(2, 7, 2 * width).transpose(1, 2)  # (B, 2w, T)
        expected = module.band_split_module[band](sub).transpose(1, 2)
        torch.testing.assert_close(features[:, :, band], expected, atol=1e-5, rtol=1e-5)
        start += width
    real, imag = module.bandwise_decoding(features)
    start = 0
    for band, width in enumerate(module.bands):
        out = module.bandwise_decoding_module[band](features[:, :, band].transpose(1, 2))  # (B, 2w, T)
        torch.testing.assert_close(real[:, :, start : start + width], out[:, :width].transpose(1, 2), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(imag[:, :, start : start + width], out[:, width:].transpose(1, 2), atol=1e-5, rtol=1e-5)
        start += width
