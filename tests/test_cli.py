import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.separation.separator import Separator

from tests.conftest import PARITY_DIR, noise


@pytest.fixture()
def run(parity_dir):
    def invoke(*args, checkpoint=True):
        extra = ["--checkpoint", str(parity_dir)] if checkpoint else []
        return CliRunner().invoke(main, [*args, *extra])

    return invoke


@pytest.fixture()
def stereo_44k(tmp_path):
    path = tmp_path / "scene.wav"
    sf.write(path, noise(2, 44100 + 123).T, 44100, subtype="PCM_24")
    return path


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_separate_writes_stems_like_the_input(run, stereo_44k, tmp_path):
    out = tmp_path / "out"
    result = run("separate", str(stereo_44k), "-o", str(out), "--residual", "--segment-seconds", "0.5", "-q")
    assert result.exit_code == 0, result.output
    written = result.stdout.split()
    assert [p.rsplit("/", 1)[-1] for p in written] == ["speech.wav", "sfxbg.wav", "musicbg.wav", "residual.wav"]
    mixture, _ = sf.read(stereo_44k, dtype="float32")
    # the files hold what the library's in-memory separation gives for the same input and settings
    separator = Separator.from_pretrained(PARITY_DIR, device="cpu", segment_seconds=0.5)
    expected = separator.separate(mixture.T, 44100, ["speech", "sfxbg", "musicbg"])
    for index, path in enumerate(written):
        stem, rate = sf.read(path, dtype="float32")
        assert rate == 44100 and stem.shape == mixture.shape
        reference = expected[index] if index < 3 else mixture.T - expected.sum(axis=0)  # then the residual
        np.testing.assert_allclose(stem.T, reference, atol=1e-6)
    assert not list(out.rglob(".*part"))


def test_flac_template_and_repeated_prompts(run, stereo_44k, tmp_path):
    result = run("separate", str(stereo_44k), "-o", str(tmp_path), "-p", "speech", "-p", "speech",
                 "--format", "flac", "--filename", "{stem}_{track}.{ext}")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.flac")) == ["speech-1_scene.flac", "speech-2_scene.flac"]


def test_existing_output_needs_overwrite(run, stereo_44k, tmp_path):
    assert run("separate", str(stereo_44k), "-o", str(tmp_path), "-p", "speech").exit_code == 0
    _one_line_error(run("separate", str(stereo_44k), "-o", str(tmp_path), "-p", "speech"), "exists", "--overwrite")
    assert run("separate", str(stereo_44k), "-o", str(tmp_path), "-p", "speech", "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    "content, problem",
    [(None, "no such file"), (b"", "empty"), (b"RIFF....WAVEfmt garbage", "not a readable audio file")],
)
def test_bad_input_is_one_line(run, tmp_path, content, problem):
    path = tmp_path / "in.wav"
    if content is not None:
        path.write_bytes(content)
    _one_line_error(run("separate", str(path), "-o", str(tmp_path / "o")), str(path), problem)
    assert not (tmp_path / "o").exists()


def test_nan_input_leaves_no_output(run, tmp_path):
    audio = noise(1, 48000 * 2)
    audio[0, 70000] = np.nan
    sf.write(tmp_path / "nan.wav", audio.T, 48000, subtype="FLOAT")
    result = run("separate", str(tmp_path / "nan.wav"), "-o", str(tmp_path / "o"), "--segment-seconds", "0.5")
    _one_line_error(result, "nan.wav", "frame 70000")
    assert [p for p in (tmp_path / "o").rglob("*") if p.is_file()] == []


def test_unwritable_output_folder(run, stereo_44k, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    _one_line_error(run("separate", str(stereo_44k), "-o", str(blocker / "sub")), "cannot write")


def test_unknown_prompt_and_missing_default(run, stereo_44k, tmp_path, monkeypatch):
    from tuss_fx.separation import checkpoint

    _one_line_error(run("separate", str(stereo_44k), "-p", "dialog"), "dialog", "speech, sfx")
    monkeypatch.setattr(checkpoint, "WEIGHTS_DIR", tmp_path / "no-weights")  # a build without the default model
    _one_line_error(run("separate", str(stereo_44k), checkpoint=False), "--checkpoint")


def test_bad_option_values_are_usage_errors(run, stereo_44k):
    assert run("separate", str(stereo_44k), "--overlap", "1.5").exit_code == 2
    assert run("separate", str(stereo_44k), "--filename", "{nope}.wav").exit_code == 2


def test_info_reports_model_prompts_and_ops(run):
    result = run("info")
    assert result.exit_code == 0, result.output
    assert "speech, sfx, sfxbg, drums, bass, vocals, other, musicbg" in result.stdout
    assert "device:     cpu" in result.stdout
    assert "rotary_attention" in result.stdout


@pytest.mark.parametrize("onednn, bf16", [(True, True), (False, False)])
def test_info_reports_the_cpu_levers_this_machine_takes(run, monkeypatch, onednn, bf16):
    from tuss_fx.model import ops
    from tuss_fx.separation import forward

    monkeypatch.setattr(ops, "_ONEDNN_LINEAR", onednn)
    monkeypatch.setattr(forward, "cpu_does_bf16", lambda: bf16)
    line = next(line for line in run("info").stdout.splitlines() if line.startswith("cpu:"))
    assert torch.backends.cpu.get_cpu_capability() in line
    assert ("linears: oneDNN's linear;" in line) is onednn
    assert ("bf16: native" in line) is bf16 and ("bf16: emulated" in line) is not bf16


def test_remix_prints_loudness_and_gains(run, stereo_44k, tmp_path):
    out = tmp_path / "boosted.wav"
    result = run("remix", str(stereo_44k), "--preset", "dialogue-boost", "-o", str(out), "--set",
                 "stems.speech.gain_db=8", "--target-lufs", "-20", "--stems-dir", str(tmp_path / "stems"), "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == str(out)
    assert "output loudness: -20.0 LUFS" in result.stderr and "speech     +8.0 dB" in result.stderr
    assert (tmp_path / "stems" / "residual.wav").exists()


def test_remix_errors_are_one_line(run, stereo_44k, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nprompts = ["speech", "dialog"]\n')
    _one_line_error(run("remix", str(stereo_44k), "--preset", str(bad), "-o", str(tmp_path / "o.wav")),
                    "bad.toml", "prompts[1]", "dialog")
    _one_line_error(run("remix", str(stereo_44k), "--set", "stems.speech.gain_db"), "--set")
    (tmp_path / "o.wav").write_bytes(b"keep me")
    _one_line_error(run("remix", str(stereo_44k), "-o", str(tmp_path / "o.wav")), "exists")
    assert (tmp_path / "o.wav").read_bytes() == b"keep me"
    _one_line_error(run("remix", str(tmp_path / "missing.wav")), "missing.wav", "no such file")


def test_layouts_loudness_has_no_weights_for_separate_but_do_not_remix(run, tmp_path):
    seven = tmp_path / "seven.wav"
    sf.write(seven, noise(7, 24000).T, 48000, subtype="FLOAT")
    _one_line_error(run("remix", str(seven), "-o", str(tmp_path / "o.wav")), "seven.wav", "7 channels", "separate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seven.wav"]
    assert run("separate", str(seven), "-o", str(tmp_path / "stems")).exit_code == 0
    assert sf.info(tmp_path / "stems" / "seven" / "speech.wav").channels == 7


def test_presets_listing_and_show(run):
    listing = run("presets", checkpoint=False)
    assert listing.exit_code == 0 and len(listing.stdout.splitlines()) >= 7
    assert any(line.startswith("dialogue-boost ") for line in listing.stdout.splitlines())
    shown = run("presets", "show", "karaoke", checkpoint=False)
    assert shown.exit_code == 0 and 'prompts = ["vocals", "drums", "bass", "other"]' in shown.stdout
    _one_line_error(run("presets", "show", "nope", checkpoint=False), "no such preset")


def test_automation_template_has_the_lanes_of_the_plan_the_model_runs(run, stereo_44k, tmp_path):
    """On the shipped model dme runs the dialogue plan: the template holds the dialogue's lane and the
    background's (on the residual's channel), so it comes back through --automation on the same plan
    instead of forcing the stems plan with music and effects lanes."""
    from tuss_fx.mix.automation import GainAutomation

    midi = tmp_path / "lanes.mid"
    made = run("automation", "template", str(stereo_44k), "--preset", "dme", "-o", str(midi), checkpoint=False)
    assert made.exit_code == 0, made.output
    assert "dialogue plan" in made.stderr
    lanes = GainAutomation.from_midi(midi, ["speech", "sfxbg", "musicbg", "residual"]).lanes
    assert sorted(lanes) == ["residual", "speech"]
    back = run("remix", str(stereo_44k), "--preset", "dme", "--automation", str(midi), "-o", str(tmp_path / "r.wav"),
               checkpoint=False)
    assert back.exit_code == 0, back.output
    assert "dialogue plan" in back.stderr


def test_automation_template_drives_remix(run, stereo_44k, tmp_path):
    """The template's unity lanes return the input at the fader law's nearest 14-bit step to 0 dB; the
    same lanes pulled to 0 silence every stem and the residual once the 10 ms de-zipper ramp has run."""
    import mido

    from tuss_fx.mix.automation import RAMP_MS, cc14_to_gain_db, gain_db_to_cc14

    midi = tmp_path / "lanes.mid"
    made = run("automation", "template", str(stereo_44k), "--preset", "dme", "-o", str(midi))
    assert made.exit_code == 0, made.output
    assert "stems plan" in made.stderr  # the fixture model serves speech by TUSS: every stem has a lane
    unity = run("remix", str(stereo_44k), "--preset", "dme", "--automation", str(midi), "-o", str(tmp_path / "u.wav"),
                "--format", "wav32f")
    assert unity.exit_code == 0, unity.output
    assert "automated (2 CC events)" in unity.stderr
    source, rate = sf.read(stereo_44k, dtype="float32")
    unity_gain = 10 ** (cc14_to_gain_db(*gain_db_to_cc14(0.0)) / 20)
    ramp = int(RAMP_MS * 1e-3 * rate) + 1  # the lanes start at the preset's 0 dB and ramp to the CC's gain
    np.testing.assert_allclose(sf.read(tmp_path / "u.wav", dtype="float32")[0][ramp:], source[ramp:] * unity_gain,
                               atol=2e-7)
    muted = mido.MidiFile(str(midi))
    for track in muted.tracks:
        for message in track:
            if message.type == "control_change":
                message.value = 0
    muted.save(str(tmp_path / "muted.mid"))
    result = run("remix", str(stereo_44k), "--preset", "dme", "--automation", str(tmp_path / "muted.mid"),
                 "-o", str(tmp_path / "m.wav"), "--format", "wav32f")
    assert result.exit_code == 0, result.output
    out = sf.read(tmp_path / "m.wav", dtype="float32")[0]
    assert not out[ramp:].any() and np.abs(out[:ramp]).max() > 0


