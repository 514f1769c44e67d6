import numpy as np
import pedalboard
import pytest

from tuss_fx.plugin import Chain, TUSSExtract, TUSSRemix, TUSSRemove

from tests.conftest import noise


@pytest.fixture()
def sep(separator):
    separator.segment_seconds = 0.5
    return separator


def _streamed(plugin, audio, rate, block):
    parts = [plugin.process(audio[:, i : i + block], rate, reset=False) for i in range(0, audio.shape[1], block)]
    return np.concatenate([*parts, plugin.flush()], axis=1), parts


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("make", [
    lambda s: TUSSExtract("speech", separator=s),
    lambda s: TUSSRemove("musicbg", separator=s),
    lambda s: TUSSRemix(stem_chains={"speech": pedalboard.Pedalboard([pedalboard.HighpassFilter(120),
                                                                       pedalboard.Compressor(-24, 3)])},
                        gains_db={"musicbg": -6.0}, separator=s),
])
def test_block_by_block_equals_one_call(sep, rate, make):
    plugin = make(sep)
    audio = noise(2, int(1.3 * rate) + 11)
    whole = plugin(audio, rate)
    assert whole.shape == audio.shape
    streamed, parts = _streamed(plugin, audio, rate, 4000)
    assert streamed.shape == audio.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    # early calls hold samples back, never more than the reported latency
    held = np.cumsum([4000] * len(parts[:-1])) - np.cumsum([p.shape[1] for p in parts[:-1]])
    assert held.max() > 0 and held.max() <= plugin.latency_samples


def test_extract_plus_remove_is_the_mixture(sep):
    audio = noise(1, 30000)
    np.testing.assert_allclose(TUSSExtract("speech", separator=sep)(audio, 48000)
                               + TUSSRemove("speech", separator=sep)(audio, 48000), audio, atol=1e-6)


def test_remix_at_unity_is_the_identity_and_gains_are_exact(sep):
    audio = noise(2, 24000)
    np.testing.assert_allclose(TUSSRemix(separator=sep)(audio, 48000), audio, atol=1e-6)
    stems = sep.separate(audio, 48000, ["speech", "sfxbg", "musicbg"])
    louder = TUSSRemix(gains_db={"speech": 6.0}, separator=sep)(audio, 48000)
    np.testing.assert_allclose(louder, audio + (10 ** 0.3 - 1) * stems[0], atol=1e-5)


def test_chain_hosts_native_and_tuss_processors(sep):
    audio = noise(1, 24000)[0]  # mono (L,) stays mono
    chain = Chain([pedalboard.Gain(gain_db=-6.0), TUSSExtract("speech", separator=sep), pedalboard.Gain(gain_db=6.0)])
    out = chain(audio, 48000)
    assert out.shape == audio.shape
    expected = sep.separate(audio * 10 ** (-6 / 20), 48000, ["speech", "sfxbg", "musicbg"])[0, 0] * 10 ** (6 / 20)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert chain.latency_samples == chain[1].latency_samples > 0


def test_layout_is_never_guessed(sep):
    with pytest.raises(ValueError, match="channels-first"):
        TUSSExtract("speech", separator=sep)(noise(1, 4800).T.repeat(2, axis=1), 48000)  # (L, 2)
    with pytest.raises(TypeError):
        Chain([object()])
