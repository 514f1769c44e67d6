"""Channels separated together equal each channel separated alone (issue #10, item 5): on the
shipped model, stereo in one pass against each channel in its own pass, and several segments
per call against one."""

import numpy as np

from tuss_fx.media.audio_io import read_audio
from tuss_fx.media.resample import resample
from tuss_fx.recordings import RECORDINGS_DIR
from tuss_fx.separation.separator import Separator

MEDIA = RECORDINGS_DIR
PROMPTS = ["speech", "sfxbg", "musicbg"]


def _stereo_scene(seconds: float = 5.0) -> np.ndarray:
    """(2, L) at 48 kHz: real speech left-heavy, real music right-heavy."""
    length = round(seconds * 48000)
    speech, speech_rate = read_audio(MEDIA / "librispeech-198-209-0000.ogg")
    music, music_rate = read_audio(MEDIA / "kevin-macleod-sugar-plum-fairy.ogg")
    speech = resample(speech[:1], speech_rate, 48000)[0, :length]
    music = resample(music[:1], music_rate, 48000)[0, :length]
    return np.stack([speech + 0.3 * music, 0.4 * speech + music]).astype(np.float32)


def test_stereo_together_equals_each_channel_alone_on_the_default_model():
    separator = Separator.from_pretrained("default", device="cpu", segment_seconds=2.0)
    scene = _stereo_scene()
    together = separator.separate(scene, 48000, PROMPTS)
    for channel in range(2):
        alone = separator.separate(scene[channel], 48000, PROMPTS)[:, 0]
        peak = np.abs(alone).max()
        assert np.abs(together[:, channel] - alone).max() <= 1e-4 * peak
    batched = Separator.from_pretrained("default", device="cpu", segment_seconds=2.0, batch_size=8)
    assert batched.segments_per_call(3, 2, True) == 4  # 4 segments x 2 channels per pass
    np.testing.assert_allclose(batched.separate(scene, 48000, PROMPTS), together, atol=1e-4 * np.abs(together).max())
