import math

import pytest

from tuss_fx.mix.presets import PresetError, apply_override, builtin_names, load_preset, parse_preset

SHIPPED = ["dialogue-boost", "dialogue-only", "music-and-effects", "karaoke", "stems-4", "dme", "podcast-clean"]


def test_every_required_preset_ships_and_documents_itself():
    assert set(SHIPPED) <= set(builtin_names())
    for name in builtin_names():
        preset = load_preset(name)
        assert preset.name == name and preset.description
        for spec in [spec for settings in preset.stems.values() for spec in settings.chain]:
            plugin = spec.build()  # the pedalboard class the entry names, with the values it gives
            assert type(plugin).__name__ == spec.plugin
            assert all(getattr(plugin, key) == pytest.approx(value) for key, value in spec.params.items())


def test_dialogue_boost_is_what_it_says():
    preset = load_preset("dialogue-boost")
    assert preset.target_lufs == -24.0
    assert preset.stem("speech").gain_db > 0 > preset.stem("musicbg").gain_db
    assert {spec.plugin for spec in preset.stem("speech").chain} >= {"Compressor", "PeakFilter"}


def test_three_line_preset_is_valid(tmp_path):
    path = tmp_path / "mini.toml"
    path.write_text('name = "mini"\nprompts = ["speech", "sfxbg"]\n')
    preset = load_preset(path)
    assert preset.stem("speech").gain_db == 0.0 and preset.target_lufs is None and not preset.master_chain


@pytest.mark.parametrize(
    "toml, key",
    [
        ('[stems.speech]\nchain = [{ plugin = "Reverbb" }]', "stems.speech.chain[0].plugin"),
        ('[stems.speech]\nchain = [{ plugin = "Compressor", treshold_db = -3 }]', "stems.speech.chain[0].treshold_db"),
        ('[stems.speech]\nchain = [{ plugin = "Gain", gain_db = "loud" }]', "stems.speech.chain[0].gain_db"),
        ('[stems.speech]\ngain_db = "six"', "stems.speech.gain_db"),
        ('[stems.vocals]\ngain_db = 1', "stems.vocals"),
        ('[master]\ntarget_lufs = 5', "master.target_lufs"),
        ('[master]\nlimiter = true', "master.limiter"),
        ('colour = "red"', "colour"),
    ],
)
def test_bad_presets_name_file_and_key(tmp_path, toml, key):
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\nprompts = ["speech", "sfxbg"]\n{toml}\n')
    with pytest.raises(PresetError) as error:
        load_preset(path)
    assert str(error.value).startswith(f"{path}: {key}:")


def test_unknown_prompt_is_named_against_the_model(tmp_path):
    preset = parse_preset({"name": "x", "prompts": ["speech", "dialog"]}, "x.toml")
    with pytest.raises(PresetError, match=r"x.toml: prompts\[1\]: 'dialog'"):
        preset.check_prompts(["speech", "sfxbg"])


def test_unknown_preset_lists_the_shipped_ones():
    with pytest.raises(PresetError, match="dialogue-boost"):
        load_preset("nonexistent")


def test_overrides():
    preset = load_preset("dialogue-boost", ["stems.speech.gain_db=8", "master.target_lufs=-16",
                                            "stems.speech.chain.0.cutoff_frequency_hz=120", "stems.residual.gain_db=-inf"])
    assert preset.stem("speech").gain_db == 8 and preset.target_lufs == -16
    assert preset.stem("speech").chain[0].params["cutoff_frequency_hz"] == 120
    assert preset.stem("residual").gain_db == -math.inf
    with pytest.raises(PresetError, match="expected dotted.key=value"):
        apply_override({}, "stems.speech.gain_db")
