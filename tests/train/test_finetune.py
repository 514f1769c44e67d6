"""tuss-fx finetune on a stems folder made of the real recordings that ship in tuss_fx/recordings."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.media.resample import resample
from tuss_fx.separation.separator import Separator
from tuss_fx.train.finetune import FinetuneResult, split_holdout
from tuss_fx.train.stems_folder import StemsFolderError, parse_name_map, scan_tracks
from tuss_fx.train.stems_sampler import StemsSampler, heldout_examples
from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
RATE = 44100  # not the model's: every excerpt is resampled on the way in
SECONDS = 3.0
# (speech, music, effects) recordings and where each track starts reading them
TRACKS = {
    "ep01": (("librispeech-198-209-0000.ogg", 0.5), ("kevin-macleod-sugar-plum-fairy.ogg", 30.0),
             ("inspectorj-robin.ogg", 0.0)),
    "ep02": (("ljspeech-LJ050-0131.ogg", 0.3), ("hungarian-dance-5-strings.ogg", 5.0),
             ("inspectorj-robin.ogg", 0.5)),
    "ep03": (("librispeech-198-209-0000.ogg", 4.0), ("sorohanro-solo-trumpet.ogg", 0.0),
             ("inspectorj-robin.ogg", 1.0)),
    "ep04": (("ljspeech-LJ050-0131.ogg", 3.5), ("kevin-macleod-sugar-plum-fairy.ogg", 60.0),
             ("inspectorj-robin.ogg", 0.2)),
}
GAINS_DB = {"speech": (-3.0, 0.0), "sfxbg": (-18.0, -8.0), "musicbg": (-12.0, -4.0)}


def _stereo(name: str, start_seconds: float, rng) -> np.ndarray:
    audio, rate = sf.read(MEDIA / name, dtype="float32", always_2d=True)
    mono = resample(audio.mean(axis=1)[None], rate, RATE)[0]
    excerpt = np.zeros(int(SECONDS * RATE), np.float32)
    piece = mono[int(start_seconds * RATE) :][: excerpt.size]
    excerpt[: piece.size] = piece
    pan = rng.uniform(0.6, 1.0)
    return np.stack([excerpt, excerpt * pan]) / (np.sqrt(np.mean(excerpt**2)) + 1e-8) * 0.1


@pytest.fixture()
def stems_dir(tmp_path) -> Path:
    """Four episodes: real speech, music and a real bird call at random gains, each with its mix."""
    rng = np.random.default_rng(3)
    root = tmp_path / "show"
    for track, recordings in TRACKS.items():
        (root / track).mkdir(parents=True)
        mix = 0
        for prompt, (name, start) in zip(("speech", "sfxbg", "musicbg"), (recordings[0], recordings[2],
                                                                          recordings[1])):
            stem = _stereo(name, start, rng) * 10 ** (rng.uniform(*GAINS_DB[prompt]) / 20)
            sf.write(root / track / f"{prompt}.wav", stem.T, RATE, subtype="FLOAT")
            mix = mix + stem
        sf.write(root / track / "mix.wav", mix.T, RATE, subtype="FLOAT")
    return root


def test_a_stems_folder_is_read_checked_and_sampled(stems_dir):
    tracks = scan_tracks([stems_dir])
    assert [t.folder.name for t in tracks] == list(TRACKS) and all(t.prompts == ["speech", "sfxbg", "musicbg"]
                                                                   for t in tracks)
    assert all(t.residual_db < -100 for t in tracks)  # each mix is its stems' exact sum
    training, held = split_holdout(tracks, 0.1, seed=0)
    assert len(held) == 1 and len(training) == 3 and held[0].folder not in {t.folder for t in training}
    sampler = StemsSampler(training, 24000, 48000, seed=1, real_share=1.0)
    mixture, sources, prompts = sampler.batch(3)
    assert mixture.shape == (3, 24000) and sources.shape == (3, 3, 24000) and prompts[0] == ["speech", "sfxbg",
                                                                                           "musicbg"]
    np.testing.assert_allclose(mixture, sources.sum(1), atol=2e-5)  # real moments: the mix file, read back
    assert np.abs(sources).max(axis=-1).min() > 1e-3  # stems of one moment, none of them silent here
    examples = heldout_examples(held, 24000, 48000, per_track=4)
    assert len(examples) == 4 and all(np.array_equal(a[1], b[1]) for a, b in
                                      zip(examples, heldout_examples(held, 24000, 48000, per_track=4)))


def test_a_mix_the_stems_do_not_sum_to_is_measured(stems_dir):
    noisy = stems_dir / "ep02" / "mix.wav"
    mix, _ = sf.read(noisy, dtype="float32")
    hiss = np.random.default_rng(0).standard_normal(mix.shape).astype(np.float32) * 0.003
    sf.write(noisy, mix + hiss, RATE, subtype="FLOAT")
    expected_db = 10 * np.log10(np.sum(hiss.astype(np.float64) ** 2) / np.sum((mix + hiss).astype(np.float64) ** 2))
    residual_db = {t.folder.name: t.residual_db for t in scan_tracks([stems_dir])}["ep02"]
    assert residual_db == pytest.approx(expected_db, abs=0.01)
    result = _invoke("finetune", stems_dir, "-o", stems_dir / "m.safetensors", "--checkpoint", "missing-model")
    assert f"ep02: the stems sum to the mix only within {residual_db:.1f} dB" in result.output


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "ep03" / "sfxbg.wav").unlink(), r"ep03: missing stem sfxbg \(other tracks"),
    (lambda d: sf.write(d / "ep02" / "musicbg.wav", np.zeros((1000, 2)), RATE), r"ep02: length in frames differs"),
    (lambda d: sf.write(d / "ep02" / "musicbg.wav", np.zeros((132300, 2)), 48000), r"ep02: sample rate differs"),
    (lambda d: (d / "ep01" / "speech.wav").rename(d / "ep01" / "dialog.wav"), r"dialog.wav: unknown stem name"),
    (lambda d: (d / "ep04" / "notes.wav").write_text("not audio"), r"notes.wav: unknown stem name"),
])
def test_bad_folders_get_one_line_errors(stems_dir, tmp_path, damage, message, parity_dir):
    damage(stems_dir)
    result = _invoke("finetune", stems_dir, "-o", tmp_path / "m.safetensors", "--checkpoint", parity_dir)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert re.search(message, result.output), result.output


def test_name_map_renames_stems(stems_dir):
    (stems_dir / "ep01" / "speech.wav").rename(stems_dir / "ep01" / "DX.wav")
    assert scan_tracks([stems_dir], parse_name_map("dx=speech"))[0].stems["speech"].name == "DX.wav"
    with pytest.raises(ValueError, match="PROMPT one of"):
        parse_name_map("dx=dialogue")
    with pytest.raises(StemsFolderError, match="needs at least two"):
        split_holdout(scan_tracks([stems_dir / "ep02"]), 0.1, 0)


FAST = ["--batch-size", "2", "--segment-seconds", "1", "--holdout", "0.25", "-q"]


def test_finetune_scores_exports_and_records_its_origin(stems_dir, tmp_path, parity_dir):
    out = tmp_path / "show.safetensors"
    result = _invoke("finetune", stems_dir, "-o", out, "--checkpoint", parity_dir, "--steps", "4",
                     "--eval-every", "2", "--force", *FAST)
    assert result.exit_code == 0, result.output
    assert "held-out SI-SNRi" in result.output and str(out) in result.output
    record = json.loads(out.with_suffix(".json").read_text())["tuss_fx"]
    assert record["finetune"]["start_model"] == str(parity_dir) and len(record["finetune"]["stems"]) == 4
    assert all(len(row["sha256"]) == 64 for row in record["finetune"]["stems"])
    assert set(record["heldout"]["start"]) == {"speech", "sfxbg", "musicbg"}
    scores = json.loads(out.with_suffix(".heldout.json").read_text())
    assert [entry["step"] for entry in scores["evaluations"]] == [2, 4]
    assert scores["best_step"] == record["finetune"]["steps"]
    # both dialogue engines were scored on the held-out speech; the better one is the model's "auto"
    engine = json.loads(out.with_suffix(".json").read_text())["dialogue_engine"]
    scored = engine["speech si_snri_db"]
    assert engine["choice"] == max(scored, key=scored.get) == "deepfilternet"  # the random-weight start can't win
    assert "dialogue engine: deepfilternet" in result.output
    # the music/effects split is re-measured on the same held-out stems: remix plans read it
    split = json.loads(out.with_suffix(".json").read_text())["stem_split"]
    best = next(e for e in scores["evaluations"] if e["step"] == scores["best_step"])["scores"]
    assert split["si_snri_db"] == {p: best[p]["si_snri"] for p in ("sfxbg", "musicbg")}
    assert split["trusted"] == (min(split["si_snri_db"].values()) >= split["threshold_db"])
    assert "music/effects split:" in result.output
    separator = Separator.from_pretrained(out)
    assert separator.dialogue_engine == "deepfilternet" and separator.stem_split.trusted == split["trusted"]
    stems = separator.separate(np.zeros((2, 9000), np.float32) + 0.01, 48000, ["speech", "sfxbg", "musicbg"])
    assert stems.shape == (3, 2, 9000)
    again = _invoke("finetune", stems_dir, "-o", out, "--checkpoint", parity_dir, *FAST)
    assert again.exit_code == 1 and "exists already" in again.output


def test_no_improvement_exports_nothing_unless_forced(stems_dir, tmp_path, parity_dir):
    """At lr 1e-30 the weights cannot move, so the fine-tuned score equals the start's: not better."""
    out = tmp_path / "same.safetensors"
    args = ["finetune", stems_dir, "-o", out, "--checkpoint", parity_dir, "--steps", "2", "--eval-every", "2",
            "--lr", "1e-30", *FAST]
    result = _invoke(*args)
    assert result.exit_code == 1 and "not exported: no fine-tuned checkpoint beat the start model" in result.output
    assert not out.exists() and out.with_suffix(".heldout.json").exists()
    assert _invoke(*args, "--force").exit_code == 0 and out.exists()


def test_improved_compares_the_best_to_the_start():
    start = {"speech": {"si_snri": 2.0}, "musicbg": {"si_snri": 4.0}}
    better = {"step": 5, "scores": {}, "mean_si_snri": 3.5}
    assert FinetuneResult(start, better, 5, None, []).improved
    assert not FinetuneResult(start, {**better, "mean_si_snri": 3.0}, 5, None, []).improved
    assert not FinetuneResult(start, None, 0, None, []).improved


def test_a_killed_run_resumes_where_it_stopped(stems_dir, tmp_path, parity_dir):
    out, work = tmp_path / "show.safetensors", tmp_path / "work"
    command = [str(Path(sys.executable).parent / "tuss-fx"), "finetune", str(stems_dir), "-o", str(out),
               "--checkpoint", str(parity_dir), "--eval-every", "3", "--work-dir", str(work), *FAST]
    first = subprocess.Popen([*command, "--steps", "1000"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (work / "train.pt").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (work / "train.pt").exists() and not out.exists()
    second = subprocess.run([*command, "--steps", "6", "--force"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    resumed_at = int(second.stderr.split("resuming at step ")[1].split()[0])
    assert resumed_at >= 3
    steps = [entry["step"] for entry in json.loads(out.with_suffix(".heldout.json").read_text())["evaluations"]]
    assert steps == sorted(set(steps)) and steps[0] == 3
