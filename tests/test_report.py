"""Reports: the numbers beside the picture equal the reference meters on the files written."""

import json
import sys

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.measure.meters import ProgrammeMeter
from tuss_fx.media.audio_io import read_audio

from tests.film_clips import RATE, soundtrack, write_clip

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def run(parity_dir):
    def invoke(*args, model=True):
        extra = ["--checkpoint", str(parity_dir), "--segment-seconds", "1"] if model else []
        return CliRunner().invoke(main, [*map(str, args), *extra])

    return invoke


def _lufs(path):
    audio, rate = read_audio(path)
    return pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))


def _true_peak(path):
    audio, rate = read_audio(path)
    meter = ProgrammeMeter(rate, audio.shape[0])
    meter.push(audio)
    meter.finish()
    return meter.summary()["true_peak_dbtp"]


@pytest.fixture()
def scene(tmp_path):
    path = tmp_path / "scene.wav"
    sf.write(path, soundtrack(4.0).T, RATE, subtype="FLOAT")
    return path


def test_remix_report_numbers_match_the_files(run, scene, tmp_path):
    out, stems, report = tmp_path / "out.wav", tmp_path / "stems", tmp_path / "report.png"
    result = run("remix", scene, "--preset", "dialogue-boost", "-o", out, "--stems-dir", stems, "--report", report)
    assert result.exit_code == 0, result.output
    assert report.read_bytes().startswith(PNG_SIGNATURE) and str(report) in result.stdout
    numbers = json.loads(report.with_suffix(".json").read_text())
    signals = numbers["signals"]
    assert numbers["target_lufs"] == -24.0 and numbers["title"] == "scene.wav remixed with dialogue-boost (stems plan)"
    # the parity fixture is an official checkpoint: TUSS serves the dialogue and makes every stem
    assert numbers["plan"]["name"] == "stems" and "TUSS serves the dialogue" in numbers["plan"]["reason"]
    assert signals["input"]["integrated_lufs"] == pytest.approx(_lufs(scene), abs=0.006)
    assert signals["output"]["integrated_lufs"] == pytest.approx(_lufs(out), abs=0.006)
    assert signals["output"]["true_peak_dbtp"] == pytest.approx(_true_peak(out), abs=0.006)
    assert list(signals["stems"]) == ["speech", "sfxbg", "musicbg", "residual"]
    for name, states in signals["stems"].items():
        assert set(states) == {"before", "after"}
        assert states["after"]["integrated_lufs"] == pytest.approx(_lufs(stems / f"{name}.wav"), abs=0.006)
    speech = signals["stems"]["speech"]
    assert speech["after"]["integrated_lufs"] - speech["before"]["integrated_lufs"] > 3  # +5 dB and a chain
    curve = signals["output"]["short_term_lufs"]
    assert len(curve) == 40 and curve[:29] == [None] * 29 and all(v is not None for v in curve[29:])
    # loudness range and the dialogue gate, from the same meters as `tuss-fx loudness`
    from tuss_fx.measure.loudness import loudness_range

    assert signals["output"]["loudness_range_lu"] == pytest.approx(loudness_range(np.array(curve, dtype=float)),
                                                                   abs=0.02)
    gate = numbers["dialogue_gate"]
    assert gate["stem"] == "speech" and 0.0 <= gate["share"] <= 1.0
    by_stem = CliRunner().invoke(main, ["loudness", str(out), "--dialogue-stem", str(stems / "speech.wav"), "--json"])
    assert json.loads(by_stem.stdout)["dialogue_gated_lufs"] == pytest.approx(gate["output_lufs"], abs=0.05)


def test_html_report_embeds_the_picture_and_the_table(run, scene, tmp_path):
    report = tmp_path / "reports" / "r.html"  # a folder the run makes, as for stems
    result = run("separate", scene, "-o", tmp_path / "stems", "--residual", "--report", report)
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert "<img alt='loudness and spectrograms' src='data:image/png;base64,iVBORw0KGgo" in page
    assert "<td>speech (as separated)</td>" in page and "<td>residual (as separated)</td>" in page
    numbers = json.loads(report.with_suffix(".json").read_text())
    assert sorted(p.name for p in report.parent.iterdir()) == ["r.html", "r.json"]
    assert "output" not in numbers["signals"] and numbers["target_lufs"] is None
    assert numbers["signals"]["stems"]["speech"]["before"]["integrated_lufs"] == pytest.approx(
        _lufs(tmp_path / "stems" / "scene" / "speech.wav"), abs=0.006)


def test_report_command_redraws_a_remix_from_its_stem_folder(run, tmp_path):
    film = tmp_path / "reel.mov"
    write_clip(film, [soundtrack(3.0)], RATE, "pcm_s24le")
    first = run("remix", film, "-o", tmp_path / "out.mov", "--stems-dir", tmp_path / "stems",
                "--report", tmp_path / "remix.png")
    assert first.exit_code == 0, first.output
    again = run("report", tmp_path / "stems", "-o", tmp_path / "again.png", "--input", film,
                "--remix", tmp_path / "out.mov", "--target-lufs", "-24", model=False)
    assert again.exit_code == 0, again.output
    remix = json.loads((tmp_path / "remix.json").read_text())["signals"]
    redrawn = json.loads((tmp_path / "again.json").read_text())["signals"]
    assert redrawn["input"]["integrated_lufs"] == remix["input"]["integrated_lufs"]
    # the film's 24-bit track against the float remix: within a rounding of the last figure
    assert redrawn["output"]["integrated_lufs"] == pytest.approx(remix["output"]["integrated_lufs"], abs=0.011)
    for name, states in redrawn["stems"].items():
        assert states["written"]["integrated_lufs"] == remix["stems"][name]["after"]["integrated_lufs"]
    summed = run("report", tmp_path / "stems", "-o", tmp_path / "sum.png", model=False)
    assert summed.exit_code == 0, summed.output
    # without --input the input is the sum of the stems (with the residual: the remix before its master stage)
    assert json.loads((tmp_path / "sum.json").read_text())["signals"]["input"]["integrated_lufs"] is not None


@pytest.mark.parametrize("case, problem", [
    ("suffix", "report.pdf: a report is .png or .html, not .pdf"),
    ("exists", "report.json: exists already (pass --overwrite to replace it)"),
    ("no matplotlib", "reports need matplotlib: pip install 'tuss-fx[report]'"),
])
def test_report_problems_stop_before_any_work(run, scene, tmp_path, monkeypatch, case, problem):
    report = tmp_path / ("report.pdf" if case == "suffix" else "report.png")
    if case == "exists":
        report.with_suffix(".json").write_text("{}")
    if case == "no matplotlib":
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    result = run("remix", scene, "-o", tmp_path / "out.wav", "--report", report)
    assert result.exit_code == 1 and problem in result.stderr
    assert not (tmp_path / "out.wav").exists()


def test_report_of_mismatched_stems_is_one_line(run, tmp_path):
    (tmp_path / "stems").mkdir()
    sf.write(tmp_path / "stems" / "speech.wav", soundtrack(1.0).T, RATE)
    sf.write(tmp_path / "stems" / "musicbg.wav", soundtrack(1.5).T, RATE)
    result = run("report", tmp_path / "stems", "-o", tmp_path / "r.png", model=False)
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: {tmp_path / 'stems' / 'speech.wav'}: has 48000 samples where the "
                                     f"other stems have 72000 samples (musicbg.wav)")
