import numpy as np
import torch

from tuss_fx.model import TussModel
from tuss_fx.model.config import small
from tuss_fx.train.evaluate import evaluate, format_table
from tuss_fx.train.loop import TrainSettings, train, training_step
from tuss_fx.train.sampler import MixtureSampler


def _sampler(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(24000) / 48000
    pools = {
        "speech": [np.sin(2 * np.pi * 300 * t * (1 + 0.1 * np.sin(t * 20))).astype(np.float32)],
        "sfxbg": [rng.standard_normal(24000).astype(np.float32) * 0.3],
        "musicbg": [np.sign(np.sin(2 * np.pi * 110 * t)).astype(np.float32)],
    }
    return MixtureSampler(pools, segment_samples=12000, seed=seed)


def test_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = TussModel(small())
    batch = _sampler().batch(2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = training_step(model, optimizer, batch, 5.0)
    for _ in range(5):
        last = training_step(model, optimizer, batch, 5.0)
    assert last < first - 1.0


def test_training_resumes_where_it_stopped(tmp_path):
    settings = TrainSettings(steps=2, batch_size=1, warmup_steps=1, checkpoint_every=1)
    torch.manual_seed(0)
    straight = train(TussModel(small()), _sampler(), TrainSettings(**{**settings.__dict__, "steps": 3}),
                     tmp_path / "a.pt")
    torch.manual_seed(0)
    train(TussModel(small()), _sampler(), settings, tmp_path / "b.pt")  # stops after 2 steps
    resumed = train(TussModel(small()), _sampler(), TrainSettings(**{**settings.__dict__, "steps": 3}),
                    tmp_path / "b.pt")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=name)


def test_evaluate_reports_identity_as_zero_improvement():
    class Identity(torch.nn.Module):
        def forward(self, mixture, prompts):
            return mixture[:, None].expand(-1, len(prompts), -1)

    sampler = _sampler(1)
    results = evaluate(Identity(), [sampler.example() for _ in range(4)])
    assert all(abs(row["si_snri"]) < 1e-4 for row in results.values())
    assert "SI-SNRi" in format_table(results)


def test_train_and_evaluate_commands(tmp_path):
    """corpus folder -> tuss-fx train (resumable, exported) -> tuss-fx evaluate with a JSON report."""
    import json

    import soundfile as sf
    from click.testing import CliRunner

    from tuss_fx.cli.commands import main

    corpus = _corpus(tmp_path)
    lines = (corpus / "manifest.jsonl").read_text().splitlines()
    t = np.arange(24000) / 48000
    for prompt, clip in (("drums", np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.25) * 30)),
                         ("bass", np.sin(2 * np.pi * 55 * t))):  # held-out stems: the stems task is scored too
        path = tmp_path / "corpus" / "heldout" / prompt / "clip.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip.astype(np.float32), 48000, subtype="PCM_24")
        lines.append(json.dumps({"prompt": prompt, "split": "heldout", "path": f"heldout/{prompt}/clip.flac"}))
    (corpus / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    export = tmp_path / "model.safetensors"
    result = CliRunner().invoke(main, ["train", str(tmp_path / "corpus"), "--steps", "2", "--batch-size", "1",
                                       "--segment-seconds", "0.25", "--checkpoint", str(tmp_path / "t.pt"),
                                       "--checkpoint-every", "1", "--export", str(export), "-q"])
    assert result.exit_code == 0, result.output
    assert export.exists() and (tmp_path / "t.pt").exists()
    before = (tmp_path / "t.pt").read_bytes()
    result = CliRunner().invoke(main, ["train", str(corpus), "--steps", "1", "--segment-seconds", "0.25",
                                       "--checkpoint", str(tmp_path / "t.pt"), "--export", str(export), "-q"])
    assert result.exit_code == 0, result.output  # past --steps: export only, the state untouched
    assert (tmp_path / "t.pt").read_bytes() == before
    assert json.loads(export.with_suffix(".json").read_text())["tuss_fx"]["steps"] == 2
    report = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "corpus"), "--checkpoint", str(export),
                                       "--examples", "2", "--segment-seconds", "0.25", "--json", str(report)])
    assert result.exit_code == 0, result.output
    tasks = json.loads(report.read_text())["tasks"]
    assert [t["task"] for t in tasks] == ["dialogue/music/effects", "stems"]
    assert set(tasks[0]["results"]) == {"speech", "sfxbg", "musicbg"} and set(tasks[1]["results"]) == {"drums", "bass"}
    assert "SI-SNRi" in result.output


def test_plateau_halves_the_rate_on_epoch_means_after_warm_up(tmp_path):
    """The LR that lands in the checkpoint is what ReduceLROnPlateau makes of the reported epoch means.

    A tiny LR keeps the weights still, so epoch means wander with the batches and some fail to improve.
    """
    settings = TrainSettings(steps=10, batch_size=1, lr=1e-6, warmup_steps=2, checkpoint_every=10, epoch_steps=2,
                             plateau_patience=0)
    losses = []
    torch.manual_seed(0)
    train(TussModel(small()), _sampler(), settings, tmp_path / "p.pt", lambda step, loss, rate: losses.append(loss))
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-6)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(reference, factor=0.5, patience=0)
    for epoch in range(1, 5):  # epoch 0 (steps 1-2) ends inside warm-up
        plateau.step(sum(losses[2 * epoch : 2 * epoch + 2]) / 2)
    state = torch.load(tmp_path / "p.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["lr"] == reference.param_groups[0]["lr"] < 1e-6
    assert len(state["snapshots"]) == 5


def test_export_averages_the_kept_epoch_snapshots(tmp_path):
    from tuss_fx.train.loop import average_snapshots

    settings = TrainSettings(steps=3, batch_size=1, warmup_steps=1, checkpoint_every=1, epoch_steps=1,
                             keep_snapshots=2)
    torch.manual_seed(0)
    trained = train(TussModel(small()), _sampler(), settings, tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    first, last = state["snapshots"]
    for name, tensor in trained.state_dict().items():
        torch.testing.assert_close(last[name], tensor)
    model = TussModel(small())
    assert average_snapshots(state, model) == 2
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, ((first[name].float() + last[name].float()) / 2).to(tensor.dtype))


def test_bf16_autocast_step_keeps_fp32_weights_and_learns():
    torch.manual_seed(0)
    model = TussModel(small())
    batch = _sampler().batch(2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = training_step(model, optimizer, batch, 5.0, torch.device("cpu"), "bf16")
    for _ in range(3):  # bf16 on a CPU without AMX is ~6x fp32: three steps already gain 3 dB
        last = training_step(model, optimizer, batch, 5.0, torch.device("cpu"), "bf16")
    assert last < first - 1.0
    assert all(p.dtype == torch.float32 for p in model.parameters())


def _corpus(tmp_path):
    import json

    import soundfile as sf

    lines = []
    for split in ("train", "heldout"):
        for prompt, clips in _sampler().pools.items():
            path = tmp_path / "corpus" / split / prompt / "clip.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, clips[0], 48000, subtype="PCM_24")
            lines.append(json.dumps({"prompt": prompt, "split": split, "path": f"{split}/{prompt}/clip.flac"}))
    (tmp_path / "corpus" / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "corpus"


def test_torchrun_trains_data_parallel_with_one_checkpoint(tmp_path):
    """Two Gloo ranks on the CPU: each draws its own mixtures, rank 0 alone writes the state."""
    import os
    import shutil
    import subprocess
    import sys

    corpus = _corpus(tmp_path)
    tuss_fx = shutil.which("tuss-fx") or str(__import__("pathlib").Path(sys.executable).parent / "tuss-fx")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--no-python", tuss_fx,
               "train", str(corpus), "--steps", "2", "--batch-size", "1", "--segment-seconds", "0.25",
               "--checkpoint", str(tmp_path / "ddp.pt"), "--checkpoint-every", "1", "--device", "cpu", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    state = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert state["step"] == 2 and len(state["sampler_rng"]) == 2
    assert state["sampler_rng"][0] != state["sampler_rng"][1]  # ranks drew different mixtures


def test_train_continues_from_given_weights_and_records_them(tmp_path, parity_dir):
    """--init starts from a model's weights (here the parity fixture's), not from scratch, with scenes and
    augmentation on; the export names the starting model."""
    import json

    from click.testing import CliRunner

    from tuss_fx.cli.commands import main
    from tuss_fx.separation.checkpoint import load_model

    corpus = _corpus(tmp_path)
    export = tmp_path / "tuned.safetensors"
    result = CliRunner().invoke(main, ["train", str(corpus), "--init", str(parity_dir), "--steps", "1",
                                       "--batch-size", "1", "--segment-seconds", "0.25", "--lr", "1e-12",
                                       "--warmup-steps", "1", "--scene-prob", "1", "--checkpoint",
                                       str(tmp_path / "t.pt"), "--export", str(export), "-q"])
    assert result.exit_code == 0, result.output
    start, tuned = load_model(parity_dir).state_dict(), load_model(export).state_dict()
    for name, tensor in start.items():  # a 1e-12 step leaves the starting weights in place
        torch.testing.assert_close(tuned[name], tensor, atol=1e-6, rtol=1e-6, msg=name)
    record = json.loads(export.with_suffix(".json").read_text())["tuss_fx"]
    assert record["init"]["model"] == parity_dir.name and record["scene_prob"] == 1.0 and record["augment"]
