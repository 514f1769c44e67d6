"""tuss-fx batch --ray against a real local Ray instance started here (not a mock)."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import noise, require

require("ray", "ray (dev extra) runs the cluster these tests start")
BIN = Path(sys.executable).parent
# Ray's token authentication with a token of this test run for both ends: Ray turns token mode on
# by itself once ~/.ray/auth_token exists (any earlier local ray.init writes one), and a head and a
# driver that disagree about it cannot talk; set explicitly, the test does not depend on ~/.ray
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


@pytest.fixture(scope="module")
def ray_address():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([str(BIN / "ray"), "start", "--head", "--num-cpus", "2", "--port", str(port),
                    "--disable-usage-stats", "--include-dashboard=false"], check=True, capture_output=True, timeout=120,
                   env=RAY_ENV)
    yield f"127.0.0.1:{port}"
    subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=120, env=RAY_ENV)


def _batch(inputs, out, address, parity_dir, *extra):
    return [str(BIN / "tuss-fx"), "batch", str(inputs), "-o", str(out), "--ray", address, "--workers", "2",
            "--checkpoint", str(parity_dir), "--separate", "--json", "-q", *extra]


def _statuses(out: Path) -> dict[str, str]:
    lines = (out / "manifest.jsonl").read_text().splitlines() if (out / "manifest.jsonl").exists() else []
    return {Path(entry["input"]).name: entry["status"] for entry in map(json.loads, lines)}


def test_three_files_one_bad_on_two_actors(tmp_path, ray_address, parity_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b"):
        sf.write(inputs / f"{name}.wav", noise(2, 24000, seed=ord(name)).T, 48000, subtype="FLOAT")
    (inputs / "c.wav").write_bytes(b"RIFF\x00\x00")
    result = subprocess.run(_batch(inputs, tmp_path / "out", ray_address, parity_dir), capture_output=True,
                            text=True, timeout=300, env=RAY_ENV)
    assert result.returncode == 1 and "1 of 3 files failed" in result.stderr, result.stderr
    assert _statuses(tmp_path / "out") == {"a.wav": "done", "b.wav": "done", "c.wav": "failed"}
    manifest = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len({entry["worker"] for entry in manifest if entry["status"] == "done"}) == 2  # one model per actor
    assert sf.info(tmp_path / "out" / "a" / "speech.wav").frames == 24000


def test_a_killed_driver_resumes_without_redoing_finished_files(tmp_path, ray_address, parity_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(8):
        sf.write(inputs / f"take{index}.wav", noise(1, 6 * 48000, seed=index).T, 48000, subtype="FLOAT")
    out = tmp_path / "out"
    driver = subprocess.Popen(_batch(inputs, out, ray_address, parity_dir), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=RAY_ENV)
    deadline = time.monotonic() + 240
    while "done" not in _statuses(out).values() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    finished = {name for name, status in _statuses(out).items() if status == "done"}
    assert 0 < len(finished) < 8
    result = subprocess.run(_batch(inputs, out, ray_address, parity_dir), capture_output=True, text=True, timeout=300,
                            env=RAY_ENV)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {Path(line["input"]).name for line in lines if line["status"] == "skipped"} == finished
    assert set(_statuses(out).values()) == {"done"} and len(_statuses(out)) == 8
    assert not list(out.rglob("*.part"))  # the killed run's leftovers were swept by the rerun
