import numpy as np
import pytest

from tuss_fx.errors import AudioReadError, PromptError
from tuss_fx.separation.separator import stem_names

from tests.conftest import noise


@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000])
@pytest.mark.parametrize("num_channels", [1, 2, 6])
def test_stems_keep_rate_length_and_layout(separator, sample_rate, num_channels):
    separator.segment_seconds = 0.4
    length = int(sample_rate * 1.1) + 7  # several segments and a ragged end
    stems = separator.separate(noise(num_channels, length), sample_rate, ["speech", "sfxbg", "musicbg"])
    assert stems.shape == (3, num_channels, length) and stems.dtype == np.float32
    assert np.isfinite(stems).all()


def test_channels_are_separated_independently(separator):
    left, right = noise(1, 30000, seed=1), noise(1, 30000, seed=2)
    both = separator.separate(np.concatenate([left, right]), 48000, ["speech", "sfxbg"])
    alone = separator.separate(right, 48000, ["speech", "sfxbg"])
    np.testing.assert_allclose(both[:, 1], alone[:, 0], atol=1e-6)


def test_one_dimensional_input(separator):
    assert separator.separate(noise(1, 4800)[0], 48000, ["speech"]).shape == (1, 1, 4800)


def test_unknown_prompt_lists_the_known_ones(separator):
    with pytest.raises(PromptError, match="'dialog'.*knows: speech, sfx, sfxbg"):
        separator.separate(noise(1, 4800), 48000, ["dialog"])


def test_non_finite_input_is_refused(separator):
    audio = noise(1, 4800)
    audio[0, 100] = np.nan
    with pytest.raises(AudioReadError, match="frame 100"):
        separator.separate(audio, 48000, ["speech"])


def test_stem_names_number_repeats():
    assert stem_names(["speech", "speech", "sfxbg"]) == ["speech-1", "speech-2", "sfxbg"]
