"""tuss-fx batch --ray against a real local Ray instance started here (not a mock)."""

import json
import os
import re
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
from tuss_fx.hold_points import HOLD_ENV

require("ray", "ray (dev extra) runs the cluster these tests start")
BIN = Path(sys.executable).parent
# Ray's token authentication with a token of this test run for both ends: Ray turns token mode on
# by itself once ~/.ray/auth_token exists (any earlier local ray.init writes one), and a head and a
# driver that disagree about it cannot talk; set explicitly, the test does not depend on ~/.ray
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A local Ray head: (its address, the hold-point folder its actors look in: tuss_fx.hold_points)."""
    holds = tmp_path_factory.mktemp("ray-holds")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the head declares a GPU (Ray accepts one on a machine without): with two workers and one GPU every test
    # here runs the GPU share, where asking a whole GPU per actor left the second unplaceable and the batch
    # waiting forever (tests below bound each run by a timeout); actors take their environment from the head
    subprocess.run([str(BIN / "ray"), "start", "--head", "--num-cpus", "2", "--num-gpus", "1", "--port", str(port),
                    "--disable-usage-stats", "--include-dashboard=false"], check=True, capture_output=True, timeout=120,
                   env={**RAY_ENV, HOLD_ENV: str(holds)})
    yield f"127.0.0.1:{port}", holds
    subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=120, env=RAY_ENV)


@pytest.fixture(scope="module")
def ray_address(ray_head):
    return ray_head[0]


@pytest.fixture()
def holds(ray_head, request) -> Path:
    """This test's own hold folder, under the one the head's actors look in (they search below it): another
    test's .held files, left where a test was cut short, can never answer this test's wait."""
    folder = ray_head[1] / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir()
    return folder


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


def test_a_killed_driver_resumes_without_redoing_finished_files(tmp_path, ray_address, holds, parity_dir):
    """kill -9 of the driver while both actors are held writing their second file (hold points: the same
    point however fast the actors are): the first two files are done, the two in flight leave their
    temporaries; the rerun skips the done ones, sweeps the temporaries and does the other four."""
    address = ray_address
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(6):
        sf.write(inputs / f"take{index}.wav", noise(1, 4 * 48000, seed=index).T, 48000, subtype="FLOAT")
    out = tmp_path / "out"
    points = [holds / f"take{index}.hold" for index in (2, 3)]
    for index, point in zip((2, 3), points):
        point.write_text(f"{out.name}/take{index}/speech.wav")
    try:
        started = time.time()
        driver = subprocess.Popen(_batch(inputs, out, address, parity_dir), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=RAY_ENV)
        in_flight = _held(points, driver, started)
        assert all(path.exists() for path in in_flight)  # both files mid-write
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    finally:
        for point in points:
            point.unlink()  # the rerun is not held
    assert _statuses(out) == {"take0.wav": "done", "take1.wav": "done"}
    result = subprocess.run(_batch(inputs, out, address, parity_dir), capture_output=True, text=True, timeout=300,
                            env=RAY_ENV)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {Path(line["input"]).name for line in lines if line["status"] == "skipped"} == {"take0.wav", "take1.wav"}
    assert set(_statuses(out).values()) == {"done"} and len(_statuses(out)) == 6
    assert not any(path.exists() for path in in_flight)  # the killed run's temporaries were swept by the rerun
    assert not list(out.rglob("*.part"))


def _held(points: list[Path], driver: subprocess.Popen, started: float) -> list[Path]:
    """Wait until every hold point holds an actor of this driver (each .held written after it started); the
    temporary files they are writing."""
    deadline = time.monotonic() + 240
    while not all(point.with_suffix(".held").exists() for point in points) and time.monotonic() < deadline:
        assert driver.poll() is None, "the batch ended before its hold points"
        time.sleep(0.05)
    held = [point.with_suffix(".held") for point in points]
    assert all(path.stat().st_mtime >= started - 1 for path in held), "a .held file older than this driver"
    return [Path(path.read_text()) for path in held]


def _reels(folder: Path, count: int, seconds: float = 4.0) -> None:
    folder.mkdir()
    for index in range(count):
        sf.write(folder / f"reel{index}.wav", noise(1, int(seconds * 48000), seed=index).T, 48000, subtype="FLOAT")


def test_a_task_lost_with_its_actor_is_retried_once_on_a_fresh_actor(tmp_path, ray_address, holds, parity_dir):
    address = ray_address
    inputs, out = tmp_path / "in", tmp_path / "out"
    _reels(inputs, 2)
    point = holds / "reel0.hold"
    point.write_text(f"{out.name}/reel0/speech.wav")
    started = time.time()
    driver = subprocess.Popen([*_batch(inputs, out, address, parity_dir), "--workers", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=RAY_ENV)
    try:
        (in_flight,) = _held([point], driver, started)
    finally:
        point.unlink()  # the retry is not held
    victim = int(re.search(r"\.tuss-fx-(\d+)@", in_flight.name).group(1))  # temporaries: .NAME.tuss-fx-PID@HOST.*
    os.kill(victim, signal.SIGKILL)  # the node loses the actor mid-file
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr
    # --json lines, and the raylet's own line about the worker that died (Ray prints it on the driver)
    entries = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert {Path(e["input"]).name: e["status"] for e in entries} == {"reel0.wav": "done", "reel1.wav": "done"}
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert all(not e["worker"].endswith(f":{victim}") for e in manifest if e["status"] == "done")  # a fresh actor
    assert not in_flight.exists() and not list(out.rglob("*.part"))


def test_sigterm_stops_the_tasks_in_flight_and_they_remove_their_temporaries(tmp_path, ray_address, holds,
                                                                            parity_dir):
    """SIGTERM while both actors are held mid-file: Ray's cancel only flags a running actor task, so each
    must see the flag (signals.stop_when) and unwind; killed by the driver instead, after its grace, they
    would leave their temporaries behind."""
    address = ray_address
    inputs, out = tmp_path / "in", tmp_path / "out"
    _reels(inputs, 2)
    points = [holds / f"reel{index}.hold" for index in range(2)]
    for index, point in enumerate(points):
        point.write_text(f"{out.name}/reel{index}/speech.wav")
    started = time.time()
    driver = subprocess.Popen(_batch(inputs, out, address, parity_dir), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=RAY_ENV)
    try:
        in_flight = _held(points, driver, started)  # both reels mid-write on the two actors
        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=120)
    finally:
        for point in points:
            point.unlink()
    assert driver.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by" in stderr
    assert not any(path.exists() for path in in_flight)  # removed by the tasks themselves, not a later run
    assert not list(out.rglob("*.part")) and not list(out.rglob("speech.wav"))
    assert "done" not in _statuses(out).values()


def test_conform_spreads_its_ranges_over_two_actors(tmp_path, ray_address, parity_dir):
    """tuss-fx conform --ray: a timeline's three source ranges on two actors, each range once."""
    otio = require("opentimelineio", "OpenTimelineIO (the timeline extra, in dev) reads the timelines")
    from tests.timeline_media import build_timeline, ramp_wav

    (tmp_path / "media").mkdir()
    for name in "abc":
        ramp_wav(tmp_path / "media" / f"{name}.wav", 4.0, 16000)
    timeline = build_timeline(otio, 24, {"DIA": [(name, tmp_path / "media" / f"{name}.wav", 0, 96, 24, 24, 0)
                                                 for name in "abc"]})
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    (tmp_path / "null.toml").write_text('name = "null"\nprompts = ["speech"]\n')
    result = subprocess.run([str(BIN / "tuss-fx"), "conform", str(tmp_path / "edit.otio"), "--preset",
                             str(tmp_path / "null.toml"), "--ray", ray_address, "--workers", "2", "--checkpoint",
                             str(parity_dir), "-q"], capture_output=True, text=True, timeout=300, env=RAY_ENV)
    assert result.returncode == 0, result.stderr
    assert "3 ranges processed, 0 skipped" in result.stderr
    manifest = [json.loads(line) for line in (tmp_path / "edit.conformed" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(entry["input"] for entry in manifest) == ["a_00000000", "b_00000000", "c_00000000"]
    assert len({entry["worker"] for entry in manifest}) == 2
