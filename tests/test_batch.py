"""tuss-fx batch: inputs, manifest, resume that trusts only verified outputs, workers, bad files."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tuss_fx.batch.jobs import BatchJob, collect_inputs
from tuss_fx.cli.commands import main

from tests.conftest import noise


@pytest.fixture()
def inputs(tmp_path) -> Path:
    root = tmp_path / "in"
    (root / "reel2").mkdir(parents=True)
    sf.write(root / "a.wav", noise(2, 30000, seed=1).T, 48000, subtype="FLOAT")
    sf.write(root / "reel2" / "b.flac", noise(1, 20000, seed=2).T, 44100)
    (root / "broken.wav").write_text("not audio")
    (root / "notes.txt").write_text("not an input")
    return root


def _batch(*args, parity_dir):
    result = CliRunner().invoke(main, ["batch", *map(str, args), "--checkpoint", str(parity_dir), "-q"])
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_inputs_are_files_folders_and_globs(inputs, tmp_path):
    found = collect_inputs([inputs / "a.wav", str(inputs / "**" / "*.flac"), inputs, tmp_path / "missing.wav"])
    assert [p.name for p in found] == ["a.wav", "b.flac", "broken.wav", "missing.wav"]


def test_a_batch_records_everything_and_a_rerun_redoes_only_what_does_not_verify(inputs, tmp_path, parity_dir):
    out = tmp_path / "out"
    first, lines = _batch(inputs, "-o", out, "--json", parity_dir=parity_dir)
    assert first.exit_code == 1 and "1 of 3 files failed" in first.stderr
    status = {Path(line["input"]).name: line["status"] for line in lines}
    assert status == {"a.wav": "done", "b.flac": "done", "broken.wav": "failed"}
    entries = {Path(e["input"]).name: e for e in _manifest(out)}
    a = entries["a.wav"]
    assert a["size"] == (inputs / "a.wav").stat().st_size and len(a["sha256"]) == 64
    assert a["job"]["preset"]["name"] == "dialogue-boost" and len(a["model"]["sha256"]) == 64 and a["version"]
    assert a["outputs"]["remix"] == {"path": str(out / "a.wav"), "frames": 30000, "sample_rate": 48000, "channels": 2}
    assert a["output_lufs"]["remix"] == pytest.approx(-24.0, abs=0.1) and a["seconds"] > 0
    assert "not a readable audio file" in entries["broken.wav"]["error"]
    # rerun: a.wav is cut short, b.flac's input changes, broken.wav is still broken
    sf.write(out / "a.wav", np.zeros((100, 2)), 48000)
    sf.write(inputs / "reel2" / "b.flac", noise(1, 20000, seed=9).T, 44100)
    second, lines = _batch(inputs, "-o", out, "--json", parity_dir=parity_dir)
    assert {Path(line["input"]).name: line["status"] for line in lines} == status
    assert sf.info(out / "a.wav").frames == 30000
    third, lines = _batch(inputs, "-o", out, "--json", parity_dir=parity_dir)
    assert {Path(line["input"]).name: line["status"] for line in lines} == {
        "a.wav": "skipped", "b.flac": "skipped", "broken.wav": "failed"}
    fourth, lines = _batch(inputs, "-o", out, "--json", "--set", "stems.speech.gain_db=9", parity_dir=parity_dir)
    assert [line["status"] for line in lines].count("done") == 2  # another preset: nothing is trusted


def test_workers_give_the_outputs_of_one_process(inputs, tmp_path, parity_dir):
    (inputs / "broken.wav").unlink()
    one, _ = _batch(inputs, "-o", tmp_path / "one", "--separate", "--residual", parity_dir=parity_dir)
    two, lines = _batch(inputs, "-o", tmp_path / "two", "--separate", "--residual", "--workers", "2", "--json",
                        parity_dir=parity_dir)
    assert one.exit_code == two.exit_code == 0, two.output
    # the work ran in worker processes (which of the two takes which file is a race: one may load its
    # model first and take both, so the count of workers seen is not asserted)
    workers = {e["worker"] for e in _manifest(tmp_path / "two")}
    assert {line["status"] for line in lines} == {"done"} and f"{socket.gethostname()}:{os.getpid()}" not in workers
    names = sorted(p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one").rglob("*.wav"))
    assert names == ["a/musicbg.wav", "a/residual.wav", "a/sfxbg.wav", "a/speech.wav",
                     "b/musicbg.wav", "b/residual.wav", "b/sfxbg.wav", "b/speech.wav"]
    for name in names:
        np.testing.assert_allclose(sf.read(tmp_path / "two" / name)[0], sf.read(tmp_path / "one" / name)[0], atol=1e-6)


def test_outputs_two_inputs_would_share_are_refused_before_any_work(inputs, tmp_path, parity_dir):
    sf.write(inputs / "reel2" / "a.wav", noise(1, 1000).T, 48000)
    result, _ = _batch(inputs, "-o", tmp_path / "out", parity_dir=parity_dir)
    assert result.exit_code == 1 and "a.wav: both" in result.stderr and not (tmp_path / "out").exists()


def test_job_identity_names_what_outputs_depend_on(tmp_path):
    remix = BatchJob("remix", tmp_path)
    assert remix.identity()["preset"]["name"] == "dialogue-boost"
    assert remix.identity() != BatchJob("remix", tmp_path, overrides=("stems.speech.gain_db=1",)).identity()
    separate = BatchJob("separate", tmp_path, prompts=("speech", "speech"))
    assert separate.outputs(Path("x.wav")) == {"speech-1": tmp_path / "x" / "speech-1.wav",
                                                "speech-2": tmp_path / "x" / "speech-2.wav"}


@pytest.mark.parametrize("cluster, actors, share", [
    ({"CPU": 16, "GPU": 1}, 2, (1.0, 0.5)),  # one workstation GPU, two workers: half each, both placed
    ({"CPU": 16, "GPU": 4}, 2, (1.0, 1.0)),
    ({"CPU": 16, "GPU": 2}, 3, (1.0, 2 / 3)),
    ({"CPU": 8}, 2, (1.0, 0.0)),
    ({"CPU": 1}, 2, (0.5, 0.0)),  # fewer CPUs than actors: a share each, never an actor left waiting
])
def test_ray_actors_ask_a_share_every_one_of_them_fits_in(cluster, actors, share):
    from tuss_fx.batch.ray_cluster import actor_share

    cpus, gpus = actor_share(cluster, actors)
    assert (cpus, gpus) == pytest.approx(share)
    assert cpus * actors <= cluster["CPU"] + 1e-9 and gpus * actors <= cluster.get("GPU", 0) + 1e-9
