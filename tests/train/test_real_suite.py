"""The real-recording suite mixes what it says and scores what a separator returns."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio

from tuss_fx.model.prompts import DMX_PROMPTS
from tuss_fx.train.real_suite import (MODEL_RATE, REFERENCE_RMS, Recordings, RealSuiteError, Scene,
                                      default_scenes, evaluate_real, render, si_snr)
from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
SHARED = Recordings(MEDIA)


def _rms(audio):
    return np.sqrt(np.mean(audio.astype(np.float64) ** 2))


@pytest.mark.parametrize("scene", [Scene("librispeech-male", "orchestra", None, -6.0),
                                   Scene("ljspeech-female", "strings", "robin", 0.0),
                                   Scene("librispeech-male", "trumpet", "robin", -12.0)])
def test_scenes_hold_real_speech_at_the_asked_dialogue_to_background_ratio(scene):
    sources = render(scene, SHARED)
    assert sources.shape == (3, 6 * MODEL_RATE) and sources.dtype == np.float32
    speech, effects, music = sources
    assert _rms(speech) == pytest.approx(REFERENCE_RMS, rel=1e-4)
    assert 20 * np.log10(_rms(speech) / _rms(effects + music)) == pytest.approx(scene.dbr_db, abs=1e-3)
    assert music.any() and effects.any() == (scene.effects is not None)
    if scene.effects:  # the bird sits 6 dB under the music inside the background
        assert 20 * np.log10(_rms(music) / _rms(effects)) == pytest.approx(6.0, abs=1e-3)


def test_si_snr_matches_torchmetrics():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal(4800).astype(np.float32)
    estimate = reference * 0.5 + 0.2 * rng.standard_normal(4800).astype(np.float32)
    expected = float(scale_invariant_signal_noise_ratio(torch.from_numpy(estimate), torch.from_numpy(reference)))
    assert si_snr(estimate, reference) == pytest.approx(expected, abs=1e-3)


def test_doing_nothing_scores_zero_and_the_truth_scores_high():
    def identity(mixture, prompts):
        return np.stack([mixture] * len(prompts))

    scores, summary = evaluate_real(identity, SHARED, dbrs_db=(0.0,))
    mixed = [s for s in scores if np.isfinite(s.dbr_db)]
    assert len(mixed) == 6 and len(scores) == 8
    for score in mixed:
        assert all(abs(value) < 1e-6 for value in score.si_snri_db.values())
    assert summary["speech alone kept_db"] == pytest.approx(0.0, abs=1e-6)
    assert summary["speech alone si_snr_db"] > 100  # the identity returns a clean reading untouched

    truths = {}

    def oracle(mixture, prompts):
        return truths[mixture.tobytes()]

    for scene in default_scenes(SHARED, dbrs_db=(-6.0,)):
        sources = render(scene, SHARED)
        truths[sources.sum(0).tobytes()] = sources
    _, summary = evaluate_real(oracle, SHARED, dbrs_db=(-6.0,))
    assert summary["speech si_snri_db"] > 50 and summary["musicbg si_snri_db"] > 50
    assert set(summary) >= {f"{p} si_snri_db" for p in DMX_PROMPTS}


def test_extra_ambience_and_dialogue_recordings_join_the_scenes(tmp_path):
    rain, line = tmp_path / "rain.flac", tmp_path / "line.wav"
    sf.write(rain, np.random.default_rng(1).standard_normal(3 * 44100).astype(np.float32) * 0.05, 44100)
    sf.write(line, np.sin(np.arange(8 * 22050) / 22050 * 2 * np.pi * 200).astype(np.float32), 22050)
    recordings = Recordings(MEDIA, ambience=(rain,), speech=(line,))
    scenes = default_scenes(recordings, dbrs_db=(0.0,))
    assert len(scenes) == 3 * 3 + 3  # three readings over three backgrounds, and each alone
    assert Scene("line.wav", "trumpet", "rain.flac", 0.0) in scenes and Scene("line.wav", None, None, np.inf) in scenes
    sources = render(Scene("librispeech-male", "trumpet", "rain.flac", 0.0), recordings)
    assert not sources[1, 3 * MODEL_RATE + 10 :].any()  # a 3 s recording is padded, not looped
    # played from its start (past the resampler's 10 ms edge): a 200 Hz sine at the reference level
    np.testing.assert_allclose(render(Scene("line.wav", "orchestra", None, 0.0), recordings)[0, 480:4800] / 0.1,
                               np.sin(np.arange(480, 4800) / 48000 * 2 * np.pi * 200) * np.sqrt(2), atol=2e-3)
    with pytest.raises(RealSuiteError, match="rain.flac"):
        render(Scene("librispeech-male", "trumpet", "rain.flac", 0.0), SHARED)


def test_missing_media_is_a_one_line_error(tmp_path):
    with pytest.raises(RealSuiteError, match="librispeech"):
        render(Scene("librispeech-male", "orchestra", None, 0.0), Recordings(tmp_path))


def test_evaluate_real_command_reports_and_writes_json(tmp_path, parity_dir):
    from click.testing import CliRunner

    from tuss_fx.cli.commands import main

    report = tmp_path / "real.json"
    result = CliRunner().invoke(main, ["evaluate-real", str(MEDIA), "--checkpoint", str(parity_dir), "--dbr", "-6",
                                       "--json", str(report), "-q"])
    assert result.exit_code == 0, result.output
    assert "librispeech-male over orchestra at -6 dB" in result.output
    written = json.loads(report.read_text())
    assert len(written["scenes"]) == 8 and written["scenes"][-1]["dbr_db"] is None
    assert np.isfinite(written["summary"]["speech si_snri_db"])
