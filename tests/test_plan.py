"""Remix plans: stems only where the model's music/effects split was measured good, else the dialogue
and one background (mix - dialogue) without TUSS; the same plan from the CLI, the library and the
processors."""

import json
import math

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.mix.automation import GainAutomation
from tuss_fx.mix.plan import BACKGROUND, background_settings, choose_plan
from tuss_fx.mix.presets import PresetError, load_preset, parse_preset
from tuss_fx.mix.remix import remix_file
from tuss_fx.mix.request import RemixRequest
from tuss_fx.plugin import TUSSExtract, TUSSRemix, TUSSRemove
from tuss_fx.separation.checkpoint import record_in_json, save_native
from tuss_fx.separation.separator import Separator
from tuss_fx.separation.split import MIN_SPLIT_SI_SNRI_DB, STEM_SPLIT_KEY, StemSplit, read_split, split_record
from tuss_fx.recordings import RECORDINGS_DIR

from tests.conftest import noise

RATE = 48000


class _TussCalled(AssertionError):
    pass


def _no_tuss(*args, **kwargs):
    raise _TussCalled("TUSS ran where the dialogue plan should not run it")


@pytest.fixture()
def dialogue_separator(parity_model):
    """DFN3 serves speech; the TUSS network (random weights) has no record, so its split is untrusted."""
    return Separator(parity_model, device="cpu", segment_seconds=1.0, dialogue_engine="deepfilternet")


@pytest.fixture()
def scene(tmp_path):
    """2 s of stereo: a voiced buzz (speech-like harmonics, syllable rhythm) over noise and a low tone."""
    t = np.arange(2 * RATE) / RATE
    voice = 0.2 * np.sign(np.sin(2 * np.pi * 140 * t)) * (np.sin(2 * np.pi * 4 * t) > 0)
    bed = noise(2, t.size, seed=3, scale=0.03) + 0.05 * np.sin(2 * np.pi * 60 * t)
    audio = (voice + bed).astype(np.float32)
    path = tmp_path / "scene.wav"
    sf.write(path, audio.T, RATE, subtype="FLOAT")
    return path, audio


def test_untrusted_split_runs_the_dialogue_plan_without_tuss(dialogue_separator, scene, tmp_path):
    path, audio = scene
    dialogue_separator.runner = _no_tuss
    report = remix_file(dialogue_separator, load_preset("dme"), path,
                        RemixRequest(tmp_path / "out.wav", stems_dir=tmp_path / "stems"))
    assert report.plan.name == "dialogue" and "never measured" in report.plan.reason
    assert sorted(p.name for p in (tmp_path / "stems").iterdir()) == ["background.wav", "speech.wav"]
    speech, _ = sf.read(tmp_path / "stems" / "speech.wav", dtype="float32", always_2d=True)
    background, _ = sf.read(tmp_path / "stems" / "background.wav", dtype="float32", always_2d=True)
    # the dialogue is DFN3's (it takes energy), the background exactly what it left
    assert 0 < np.sum(speech ** 2) < np.sum(audio ** 2)
    np.testing.assert_array_equal(background.T, audio - speech.T)
    out, _ = sf.read(report.output, dtype="float32", always_2d=True)
    np.testing.assert_allclose(out.T, audio, atol=2e-7)  # the null test: unity gains return the input


def test_music_and_effects_is_the_mix_minus_the_dialogue(dialogue_separator, scene, tmp_path):
    path, audio = scene
    dialogue = dialogue_separator.separate(audio, RATE, ["speech"])[0]
    report = remix_file(dialogue_separator, load_preset("music-and-effects"), path, tmp_path / "me.wav")
    out, _ = sf.read(report.output, dtype="float32", always_2d=True)
    np.testing.assert_allclose(out.T, audio - dialogue, atol=2e-7)
    assert report.gains == {"speech": "muted", BACKGROUND: "+0.0 dB"}


def test_dialogue_boost_plays_the_background_at_its_stated_gain(dialogue_separator, scene, tmp_path):
    path, audio = scene
    preset = load_preset("dialogue-boost", ["master.ceiling_db=0"])
    report = remix_file(dialogue_separator, preset, path,
                        RemixRequest(tmp_path / "db.wav", stems_dir=tmp_path / "stems", stems_format="wav32f"))
    dialogue = dialogue_separator.separate(audio, RATE, ["speech"])[0]
    background, _ = sf.read(tmp_path / "stems" / "background.wav", dtype="float32", always_2d=True)
    np.testing.assert_allclose(background.T, (audio - dialogue) * 10 ** (-5 / 20), atol=1e-6)
    assert report.gains[BACKGROUND] == "-5.0 dB" and report.gains["speech"] == "+5.0 dB"


def test_a_recorded_good_split_keeps_the_full_stem_plan(parity_model, scene, tmp_path):
    """A fine-tuned model whose JSON records a good music/effects split still gets every stem from TUSS."""
    weights = save_native(parity_model, tmp_path / "show.safetensors")
    good = {"sfxbg": MIN_SPLIT_SI_SNRI_DB + 4.0, "musicbg": MIN_SPLIT_SI_SNRI_DB + 1.0}
    record_in_json(weights, STEM_SPLIT_KEY, split_record(good, "held-out show stems"))
    separator = Separator.from_pretrained(weights, device="cpu", segment_seconds=1.0,
                                          dialogue_engine="deepfilternet")
    assert separator.stem_split.trusted
    path, audio = scene
    report = remix_file(separator, load_preset("dialogue-boost"), path,
                        RemixRequest(tmp_path / "out.wav", stems_dir=tmp_path / "stems"))
    assert report.plan.name == "stems" and "+7.0" in report.plan.reason
    stems = {p.stem: sf.read(p, dtype="float32")[0] for p in (tmp_path / "stems").iterdir()}
    assert sorted(stems) == ["musicbg", "residual", "sfxbg", "speech"]
    assert all(np.abs(stems[name]).max() > 0 for name in ("sfxbg", "musicbg"))  # TUSS made them


def test_the_shipped_model_records_an_untrusted_split():
    split = Separator.from_pretrained("default", device="cpu").stem_split
    assert not split.trusted and split.si_snri_db["sfxbg"] < 0 and split.si_snri_db["musicbg"] < 0


def test_official_checkpoints_count_as_able(separator):
    assert separator.stem_split.trusted and "official" in separator.stem_split.reason


@pytest.mark.parametrize("name, why", [("stems-4", "need TUSS"), ("karaoke", "need TUSS")])
def test_presets_that_need_tuss_keep_the_stem_plan(dialogue_separator, name, why):
    plan = choose_plan(load_preset(name), dialogue_separator)
    assert plan.name == "stems" and why in plan.reason and plan.preset == load_preset(name)
    with pytest.raises(PresetError, match="cannot serve"):
        choose_plan(load_preset(name), dialogue_separator, "dialogue")


def test_talkers_keep_the_stem_plan(dialogue_separator):
    preset = parse_preset({"name": "two", "prompts": ["speech", "speech", "sfxbg"]}, "two.toml")
    assert choose_plan(preset, dialogue_separator).name == "stems"


def test_plan_can_be_forced_either_way(dialogue_separator, separator):
    preset = load_preset("dialogue-boost")
    assert choose_plan(preset, dialogue_separator, "stems").name == "stems"
    assert choose_plan(preset, separator, "dialogue").preset.prompts == ("speech",)
    assert choose_plan(parse_preset({"name": "x", "prompts": ["speech", "musicbg"], "plan": "stems"}, "x.toml"),
                       dialogue_separator).name == "stems"


def test_tuss_serving_speech_keeps_the_stem_plan(separator):
    separator.stem_split = StemSplit(False, "not measured")
    plan = choose_plan(load_preset("dialogue-boost"), separator)
    assert plan.name == "stems" and "TUSS serves the dialogue" in plan.reason


def test_automation_riding_music_keeps_the_stems(dialogue_separator):
    preset = load_preset("dme")
    riding = GainAutomation({"musicbg": [(0.0, -6.0)]})
    assert choose_plan(preset, dialogue_separator, automated=riding.lanes).name == "stems"
    assert choose_plan(preset, dialogue_separator, automated={"speech": []}).name == "dialogue"
    with pytest.raises(PresetError, match="musicbg"):
        choose_plan(preset, dialogue_separator, "dialogue", riding.lanes)


def test_background_gain_is_the_power_mean_of_the_other_stems():
    preset = parse_preset({"name": "x", "prompts": ["speech", "sfxbg", "musicbg"],
                           "stems": {"sfxbg": {"gain_db": -4.0}, "musicbg": {"gain_db": -6.0}}}, "x.toml")
    expected = 10 * math.log10((10 ** (-4 / 10) + 10 ** (-6 / 10)) / 2)
    assert background_settings(preset).gain_db == pytest.approx(expected, abs=1e-12)
    assert background_settings(load_preset("dialogue-only")).gain_db == -math.inf
    assert background_settings(load_preset("music-and-effects")).gain_db == 0.0
    assert background_settings(load_preset("dialogue-boost")).gain_db == -5.0  # stated in [background]


def test_dropped_chains_are_named(dialogue_separator):
    preset = parse_preset({"name": "x", "prompts": ["speech", "musicbg"],
                           "stems": {"musicbg": {"chain": [{"plugin": "Gain", "gain_db": -3.0}]}}}, "x.toml")
    assert "chains of musicbg do not apply" in choose_plan(preset, dialogue_separator).reason


def test_split_records_judge_every_split_stem():
    record = split_record({"sfxbg": 5.0, "musicbg": 2.9, "speech": 9.0}, "suite")
    assert record["trusted"] is False and set(record["si_snri_db"]) == {"sfxbg", "musicbg"}
    assert read_split(record, official=False).trusted is False
    assert read_split(split_record({"sfxbg": 3.0, "musicbg": 3.0}, "suite"), official=False).trusted
    assert not read_split(None, official=False).trusted and read_split(None, official=True).trusted
    with pytest.raises(ValueError, match="musicbg"):
        split_record({"sfxbg": 5.0}, "suite")


def test_processors_run_the_cli_plan(dialogue_separator, scene, tmp_path):
    path, audio = scene
    preset = load_preset("dme")
    expected = remix_file(dialogue_separator, preset, path, tmp_path / "dme.wav")
    dialogue_separator.runner = _no_tuss
    remix = TUSSRemix(preset.prompts, separator=dialogue_separator)
    assert remix.plan.name == expected.plan.name == "dialogue" and remix.prompts == ("speech",)
    out, _ = sf.read(expected.output, dtype="float32", always_2d=True)
    np.testing.assert_allclose(remix(audio, RATE), out.T, atol=1e-6)
    dialogue = TUSSExtract("speech", separator=dialogue_separator)(audio, RATE)
    np.testing.assert_allclose(TUSSRemove("speech", separator=dialogue_separator)(audio, RATE), audio - dialogue,
                               atol=1e-7)


def test_processor_background_gain_and_warning(dialogue_separator, scene):
    _, audio = scene
    dialogue = TUSSExtract("speech", separator=dialogue_separator)(audio, RATE)
    remix = TUSSRemix(separator=dialogue_separator, gains_db={"speech": 0.0, BACKGROUND: -6.0})
    np.testing.assert_allclose(remix(audio, RATE), dialogue + (audio - dialogue) * 10 ** (-6 / 20), atol=1e-6)
    with pytest.warns(UserWarning, match="musicbg"):
        from pedalboard import Gain, Pedalboard
        TUSSRemix(separator=dialogue_separator, stem_chains={"musicbg": Pedalboard([Gain(gain_db=-3)])})


def test_cli_says_which_plan_ran_and_why(scene, tmp_path):
    path, _ = scene
    result = CliRunner().invoke(main, ["remix", str(path), "-o", str(tmp_path / "o.wav"), "--preset", "dme",
                                       "--segment-seconds", "1"])
    assert result.exit_code == 0, result.output
    assert "dialogue plan: the model cannot be trusted to split music from effects" in result.stderr
    assert "sfxbg -4.7, musicbg -4.1 dB" in result.stderr
    info = CliRunner().invoke(main, ["info"])
    assert "remix:      dialogue/music/effects presets run the dialogue plan" in info.output


def test_evaluate_real_records_the_split(parity_model, tmp_path):
    weights = save_native(parity_model, tmp_path / "m.safetensors")
    result = CliRunner().invoke(main, ["evaluate-real", str(tmp_path.parents[0] / "absent"), "--checkpoint",
                                       str(weights), "--record"])
    assert result.exit_code != 0  # no media: nothing recorded
    assert STEM_SPLIT_KEY not in json.loads(weights.with_suffix(".json").read_text())
    media = RECORDINGS_DIR
    result = CliRunner().invoke(main, ["evaluate-real", str(media), "--checkpoint", str(weights), "--dbr", "0",
                                       "--dialogue-engine", "tuss", "--record", "-q"])
    assert result.exit_code == 0, result.output
    record = json.loads(weights.with_suffix(".json").read_text())[STEM_SPLIT_KEY]
    lines = {line.split()[0]: float(line.split()[-1]) for line in result.stdout.splitlines()
             if line.startswith(("sfxbg si_snri_db", "musicbg si_snri_db"))}
    assert record["si_snri_db"] == pytest.approx(lines, abs=0.006) and "evaluate-real" in record["measured_on"]
    assert Separator.from_pretrained(weights, device="cpu").stem_split.trusted == record["trusted"]
