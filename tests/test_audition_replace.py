"""A replacement in the audition (audition.replaced): the recording placed over the whole programme as a
remix places it, its own fader beside the original stem's, the preview and the save that follow it."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.audition_scene import MEDIA, RATE, audition_of, write_scene
from tuss_fx.audition.cache import CachedSeparation
from tuss_fx.audition.replaced import place_recordings
from tuss_fx.audition.session import PREVIEW
from tuss_fx.mix.presets import load_preset
from tuss_fx.mix.remix import remix_file
from tuss_fx.mix.replace import Replacement
from tuss_fx.mix.request import RemixRequest

PLAIN = 'name = "plain"\nprompts = ["speech", "sfxbg", "musicbg"]\nplan = "dialogue"\n[stems.speech]\ngain_db = 2.0\n[background]\ngain_db = -5.0\n'


def write_dub(path, scene_seconds: float = 8.0, speech_at: float = 1.5) -> None:
    """The scene's reading as a mono studio dub: the same words at the same place, 8 dB quieter."""
    speech, rate = sf.read(MEDIA / "ljspeech-LJ050-0131.ogg", dtype="float32")
    speech = soxr.resample(speech, rate, RATE)
    dub = np.zeros(int(scene_seconds * RATE), np.float32)
    start = int(speech_at * RATE)
    line = speech[: dub.size - start]
    dub[start:start + line.size] = 0.5 * 10 ** (-8 / 20) * line
    sf.write(path, dub, RATE, subtype="FLOAT")


@pytest.fixture(scope="module")
def replaced(tmp_path_factory):
    """(session with `speech` replaced by the dub, the scene's path, the dub's path, the preset's path)."""
    folder = tmp_path_factory.mktemp("audition-replace")
    scene, dub, preset = folder / "scene.wav", folder / "dub.wav", folder / "plain.toml"
    write_scene(scene)
    write_dub(dub)
    preset.write_text(PLAIN)
    session = audition_of(scene, folder / "cache", preset=str(preset), save_path=folder / "tuned.toml")
    placed_dir = folder / "placed"
    placed_dir.mkdir()
    session.replaced = place_recordings(session.info, session.plan, session.entry, [Replacement("speech", dub)],
                                        "lines", True, placed_dir, session.fold)
    return session, scene, dub, preset


def test_the_new_stem_has_its_own_fader_and_the_original_starts_muted(replaced):
    session = replaced[0]
    assert session.sources == ["speech", "background", "speech (new)"]
    assert session.preset_gains() == {"speech": -np.inf, "background": -5.0, "speech (new)": 2.0}
    overview = session.overview()
    assert overview["gains_db"]["speech"] == "-inf" and overview["replacements"][0]["fader"] == "speech (new)"
    low, high = overview["peaks"]["speech (new)"]
    assert len(low) == len(overview["peaks"]["original"][0]) and max(high) > 0.01


def test_the_new_stem_is_what_a_remix_with_the_replacement_mixes(replaced, tmp_path):
    """Placed once over the whole programme on the cached stems: the same lines, gains and EQ a remix of the
    file with --replace decides, so the page plays what the remix will write."""
    session, scene, dub, preset = replaced
    request = RemixRequest(tmp_path / "remix.wav", "wav32f", tmp_path / "stems", "wav32f", match_eq=True,
                           replacements=(Replacement("speech", dub),))
    report = remix_file(_Cached(session), load_preset(str(preset)), scene, request)
    placed = sf.read(tmp_path / "stems" / "speech.wav", dtype="float32", always_2d=True)[0].T / 10 ** (2.0 / 20)
    first, count = RATE, 5 * RATE
    np.testing.assert_allclose(session.listen("speech (new)", first, count), session.fold @ placed[:, first:first + count],
                               atol=1e-5)
    assert report.replacements[0]["lines"] == session.replaced.stems[0].summary["lines"]
    assert report.replacements[0]["eq_db"] == session.replaced.stems[0].summary["eq_db"]


def test_the_preview_and_the_save_give_the_stem_the_new_fader_s_gain(replaced):
    session, _, dub, _ = replaced
    first, count = RATE // 2, 4 * RATE
    gains = {"speech": 6.0, "background": -3.0, "speech (new)": 4.5}  # the original's fader: heard live only
    session.render_preview(first, count, gains)
    expected = 10 ** (4.5 / 20) * session.listen("speech (new)", first, count) \
        + 10 ** (-3.0 / 20) * session.listen("background", first, count)
    np.testing.assert_allclose(session.listen(PREVIEW, first, count), expected, atol=1e-5)
    live = session.loudness(first, count, gains)["mix_lufs"]
    assert session.loudness(first, count, {**gains, "speech (new)": 10.5})["mix_lufs"] > live + 1.0
    saved = session.save(gains, "dubbed.toml", overwrite=True)
    assert load_preset(saved["preset"]).stem("speech").gain_db == 4.5
    assert f"--replace speech={dub.absolute()} --match lines --match-eq" in saved["commands"][0]


class _Cached:
    """The audition's cached stems in place of a separator for remix_file: the same stems, no model."""

    def __init__(self, session):
        self._cached = CachedSeparation(session.entry, 0, "default", "deepfilternet")
        self.prompts, self.name, self.dialogue_engine = self._cached.prompts, "default", "deepfilternet"

    def separate_regions(self, *args, **kwargs):
        return self._cached.separate_regions(*args, **kwargs)
