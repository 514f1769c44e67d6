"""The dialogue engine learns: DFN3 trained through its own inference path, on a show's stems, resumable,
exported only where it beats the start on held-out tracks, and then used by the model it belongs to."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.train.test_finetune import stems_dir  # noqa: F401 - the fixture: four real "episodes"
from tuss_fx.cli.commands import main
from tuss_fx.deepfilternet import enhance, load_network
from tuss_fx.deepfilternet.training import dialogue_loss, enhance_batch, frame_snr_db, spectral_loss
from tuss_fx.separation.separator import Separator
from tuss_fx.train.dialogue_finetune import (DialogueSettings, TrackPairs, finetune_dialogue, finetune_show_dialogue,
                                             heldout_pairs)
from tuss_fx.train.finetune import split_holdout
from tuss_fx.train.stems_folder import scan_tracks
from tuss_fx.recordings import RECORDINGS_DIR

RATE = 48000


@pytest.fixture(scope="module")
def network():
    return load_network()


def test_the_training_path_is_the_inference_path(network, stems_dir):  # noqa: F811
    tracks = scan_tracks([stems_dir])
    speech, background, _ = heldout_pairs(tracks[:1], RATE)[0]
    mixture = (speech + background)[None].astype(np.float32)
    with torch.no_grad():
        trained = enhance_batch(network, torch.from_numpy(mixture)).waveform.numpy()
    shipped = enhance(network, mixture)
    snr = 10 * np.log10(np.sum(shipped ** 2) / np.sum((shipped - trained) ** 2))
    assert snr > 120.0  # the same arithmetic: only float summation order may differ


def test_the_loss_has_gradients_and_its_terms_are_right(network):
    rng = np.random.default_rng(0)
    speech = torch.from_numpy((rng.standard_normal((2, RATE)) * 0.1).astype(np.float32))
    background = torch.from_numpy((rng.standard_normal((2, RATE)) * 0.05).astype(np.float32))
    assert float(spectral_loss(speech, speech, torch.full((2,), 24000.0))) == pytest.approx(0.0, abs=1e-9)
    # a band edge hides what lies above it: a high tone added to the estimate costs nothing below 4 kHz
    tone = torch.sin(torch.arange(RATE) * 2 * np.pi * 12000 / RATE)[None] * 0.1
    assert float(spectral_loss(speech + tone, speech, torch.full((2,), 4000.0))) < 1e-3
    assert float(spectral_loss(speech + tone, speech, torch.full((2,), 24000.0))) > 0.01
    snr = frame_snr_db(speech, background)
    assert snr[:, 2:-4].mean() == pytest.approx(20 * np.log10(2), abs=0.5)  # 0.1 over 0.05 of noise
    network.zero_grad()
    loss, terms = dialogue_loss(network, speech, background)
    loss.backward()
    assert terms["total"] == pytest.approx(float(loss)) and terms["lsnr"] > 0
    grads = [p.grad for p in network.parameters() if p.grad is not None]
    assert len(grads) > 60 and all(torch.isfinite(g).all() for g in grads)
    network.zero_grad()


def test_a_show_teaches_the_engine_and_a_run_resumes(stems_dir, tmp_path):  # noqa: F811
    tracks = scan_tracks([stems_dir])
    training, held = split_holdout(tracks, 0.25, seed=0)
    pairs = heldout_pairs(held, RATE)
    settings = DialogueSettings(steps=4, batch_size=4, segment_seconds=1.0, lr=1e-4, eval_every=4,
                                checkpoint_every=2)
    network, lines = load_network(), []
    run, best = finetune_dialogue(network, TrackPairs(training, RATE), pairs, tmp_path / "w", settings,
                                  log=lines.append)
    assert run.steps == 4 and [e["step"] for e in run.evaluations] == [4] and best is not None
    assert run.improved  # measured: +3.7 dB at the start, +8.0 dB after 4 steps
    assert run.best["si_snri"] - run.start >= 1.0  # a real gain, not any gain above 0 dB (+1.3 to +4.3 measured)
    resumed, _ = finetune_dialogue(load_network(), TrackPairs(training, RATE), pairs, tmp_path / "w",
                                   DialogueSettings(**{**settings.__dict__, "steps": 6}), log=lines.append)
    assert "resuming at step 4" in lines and resumed.steps == 6 and resumed.start == run.start
    assert [e["step"] for e in resumed.evaluations] == [4, 6]


def test_a_worse_engine_is_never_exported(stems_dir, tmp_path):  # noqa: F811
    tracks = scan_tracks([stems_dir])
    training, held = split_holdout(tracks, 0.25, seed=0)
    ruinous = DialogueSettings(steps=2, batch_size=2, segment_seconds=1.0, lr=1.0, eval_every=2)  # wrecks it
    out = tmp_path / "show.safetensors"
    export = finetune_show_dialogue("default", training, held, out, tmp_path / "work", ruinous)
    assert not export.run.improved and export.exported is None
    assert not out.exists() and not out.with_name("show.dfn3.safetensors").exists()


def test_finetune_engine_dialogue_exports_and_the_model_uses_it(stems_dir, tmp_path):  # noqa: F811
    out = tmp_path / "show.safetensors"
    result = CliRunner().invoke(main, ["finetune", str(stems_dir), "-o", str(out), "--engine", "dialogue",
                                       "--dialogue-steps", "4", "--segment-seconds", "1", "--holdout", "0.25", "-q"])
    assert result.exit_code == 0, result.output
    weights = out.with_name("show.dfn3.safetensors")
    assert str(weights) in result.stdout and "dialogue engine held-out speech SI-SNRi" in result.stderr
    record = json.loads(out.with_suffix(".json").read_text())["dialogue_engine"]
    scored = record["speech si_snri_db"]
    assert record["choice"] == "deepfilternet" and record["weights"] == weights.name
    assert scored["deepfilternet (fine-tuned)"] > scored["deepfilternet (start)"]
    separator = Separator.from_pretrained(out, device="cpu")
    audio = (np.random.default_rng(1).standard_normal((1, RATE)) * 0.1).astype(np.float32)
    ours = separator.separate(audio, RATE, ["speech"])[0]
    shipped = Separator.from_pretrained("default", device="cpu").separate(audio, RATE, ["speech"])[0]
    assert np.abs(ours - shipped).max() > 1e-4  # the fine-tuned engine serves this model's speech
    weights.unlink()
    with pytest.raises(Exception, match="dialogue engine weights are missing"):
        Separator.from_pretrained(out, device="cpu")


def test_train_dialogue_scores_on_the_real_suite_and_writes_only_what_it_measured(tmp_path):
    """tuss-fx train-dialogue on a folder of speech and one of beds: scored on the real suite's 12
    scenes before and after, written only where it beat the start, or with --force. (The plumbing
    only: the recordings here are the suite's own, which a real run keeps out of training.)"""
    import shutil

    media = RECORDINGS_DIR
    speech, beds = tmp_path / "speech", tmp_path / "beds"
    speech.mkdir()
    beds.mkdir()
    shutil.copy(media / "ljspeech-LJ050-0131.ogg", speech)
    shutil.copy(media / "sorohanro-solo-trumpet.ogg", beds)
    args = ["train-dialogue", "-o", str(tmp_path / "dfn3.safetensors"), "--speech", str(speech), "--background",
            str(beds), "--heldout-media", str(media), "--steps", "2", "--batch-size", "2", "--eval-every", "2", "-q"]
    refused = CliRunner().invoke(main, [*args, "--lr", "1.0"])  # a step this large wrecks the engine
    assert refused.exit_code == 1 and "not written: held-out speech SI-SNRi start" in refused.stderr
    assert not (tmp_path / "dfn3.safetensors").exists()
    forced = CliRunner().invoke(main, [*args, "--force", "--work-dir", str(tmp_path / "other")])
    assert forced.exit_code == 0, forced.output
    assert "12 held-out scenes" in forced.stderr and load_network(tmp_path / "dfn3.safetensors") is not None
