"""Channel layouts from files, and which channels the separation engines get: never the LFE."""

import struct

import numpy as np
import pytest
import soundfile as sf

from tuss_fx.media.audio_io import probe
from tuss_fx.media.layout import channel_layout, engine_channels
from tuss_fx.mix.presets import parse_preset
from tuss_fx.mix.remix import remix_file
from tuss_fx.mix.request import RemixRequest
from tuss_fx.separation.separator import Separator

from tests.conftest import noise
from tests.film_clips import write_clip

RATE = 48000
FIVE_ONE = ("FL", "FR", "FC", "LFE", "BL", "BR")


def _wavex(path, audio, mask=None):
    """A WAVE_FORMAT_EXTENSIBLE float file of (C, L) audio; `mask` rewrites its channel mask."""
    sf.write(path, audio.T, RATE, subtype="FLOAT", format="WAVEX")
    if mask is not None:
        data = bytearray(path.read_bytes())
        fmt = data.index(b"fmt ") + 8
        data[fmt + 20: fmt + 24] = struct.pack("<I", mask)
        path.write_bytes(bytes(data))
    return path


def test_wav_channel_mask_is_read(tmp_path):
    path = _wavex(tmp_path / "six.wav", noise(6, 100))
    assert probe(path).channel_layout == FIVE_ONE
    # FL FR FC LFE as a 4-channel mask: only the mask says channel 4 is the LFE (quad would be FL FR BL BR)
    assert probe(_wavex(tmp_path / "four.wav", noise(4, 100), mask=0xF)).channel_layout == ("FL", "FR", "FC", "LFE")
    # 5.1 with side surrounds
    assert channel_layout(_wavex(tmp_path / "side.wav", noise(6, 100), mask=0x60F), 6)[-2:] == ("SL", "SR")


def test_default_orders_by_format(tmp_path):
    plain = tmp_path / "plain.wav"
    sf.write(plain, noise(6, 100).T, RATE, subtype="PCM_16")  # no mask: the WAV default order
    assert probe(plain).channel_layout == FIVE_ONE
    ogg = tmp_path / "six.ogg"
    sf.write(ogg, noise(6, 4800).T, RATE, format="OGG", subtype="VORBIS")
    assert probe(ogg).channel_layout == ("FL", "FC", "FR", "BL", "BR", "LFE")  # Vorbis I order
    assert probe(_wavex(tmp_path / "two.wav", noise(2, 100))).channel_layout == ("FL", "FR")
    assert channel_layout(plain, 10)[-2:] == ("C9", "C10")  # past any default: numbered


def test_film_track_layout_is_the_containers(tmp_path):
    film = tmp_path / "film.mov"
    write_clip(film, [noise(6, RATE)], RATE)
    assert probe(film, 1).channel_layout == FIVE_ONE


@pytest.mark.parametrize("which, expected", [("front", [0, 1, 2]), ("all", [0, 1, 2, 4, 5]), ("center", [2])])
def test_engine_channels_never_take_the_lfe(which, expected):
    assert engine_channels(FIVE_ONE, which) == expected
    assert engine_channels(("FL", "FR"), which) == [0, 1]  # no centre: both, whichever is asked for
    assert engine_channels(("FC",), which) == [0]
    with pytest.raises(ValueError):
        engine_channels(FIVE_ONE, "surround")


@pytest.mark.parametrize("which", ["front", "all", "center"])
def test_five_one_remix_keeps_the_lfe_and_unprocessed_channels_in_the_background(parity_model, tmp_path, which):
    """Dialogue plan, dialogue at +0 dB and background at -6 dB: each channel the engine does not get
    is exactly the input at -6 dB; the LFE is among them whatever the choice."""
    audio = noise(6, 2 * RATE, seed=7)
    path = _wavex(tmp_path / "film51.wav", audio)
    preset = parse_preset({"name": "duck", "prompts": ["speech", "sfxbg", "musicbg"],
                           "background": {"gain_db": -6.0}}, "duck.toml")
    separator = Separator(parity_model, device="cpu", segment_seconds=1.0, dialogue_engine="deepfilternet")
    report = remix_file(separator, preset, path, RemixRequest(tmp_path / "out.wav", "wav32f", tmp_path / "stems",
                                                              engine_channels=which))
    assert report.plan.name == "dialogue"
    out = sf.read(report.output, dtype="float32", always_2d=True)[0].T
    speech = sf.read(tmp_path / "stems" / "speech.wav", dtype="float32", always_2d=True)[0].T
    processed = engine_channels(FIVE_ONE, which)
    for channel in range(6):
        if channel in processed:
            assert np.abs(speech[channel]).max() > 0
        else:
            assert not speech[channel].any()
            np.testing.assert_allclose(out[channel], audio[channel] * 10 ** (-6 / 20), rtol=1e-6, atol=1e-8)
