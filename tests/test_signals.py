"""SIGTERM and SIGHUP stop separate, remix and batch as cleanly as Ctrl-C; SIGKILL leftovers are swept."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from tuss_fx.media.audio_io import AtomicWriter, WriterGroup, remove_stale_temps, temp_beside

from tests.conftest import noise

TUSS_FX = str(Path(sys.executable).parent / "tuss-fx")


@pytest.fixture(scope="module")
def long_input(tmp_path_factory) -> Path:
    """A minute of stereo: long enough that a signal arrives in the middle of the work."""
    path = tmp_path_factory.mktemp("in") / "reel.wav"
    sf.write(path, noise(2, 60 * 48000).T, 48000, subtype="FLOAT")
    return path


def _signal_when_writing(command: list[str], watch: Path, signum: int) -> subprocess.CompletedProcess:
    """Start `command`, send `signum` once a temporary output exists under `watch`, wait for the end."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(watch.rglob("*.part")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the command finished before it could be interrupted"
    time.sleep(0.3)  # into the model's work, not just the file opening
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_separate_stops_cleanly(long_input, tmp_path, parity_dir, signum):
    out = tmp_path / "run" / "stems"
    result = _signal_when_writing([TUSS_FX, "separate", str(long_input), "-o", str(out), "--checkpoint",
                                   str(parity_dir), "-q"], tmp_path, signum)
    assert result.returncode == 128 + signum, result.stderr
    assert f"stopped by {signal.Signals(signum).name}" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # no .part file, and the folders this run made are gone


def test_remix_stops_cleanly_and_keeps_folders_it_did_not_make(long_input, tmp_path, parity_dir):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    result = _signal_when_writing([TUSS_FX, "remix", str(long_input), "-o", str(tmp_path / "mine" / "mix.wav"),
                                   "--stems-dir", str(tmp_path / "stems"), "--checkpoint", str(parity_dir), "-q"],
                                  tmp_path, signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["mine", "mine/notes.txt"]


def test_batch_with_workers_stops_cleanly(long_input, tmp_path, parity_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b", "c"):
        os.symlink(long_input, inputs / f"{name}.wav")
    out = tmp_path / "out"
    result = _signal_when_writing([TUSS_FX, "batch", str(inputs), "-o", str(out), "--separate", "--workers", "2",
                                   "--checkpoint", str(parity_dir), "-q"], out.parent, signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    assert not list(tmp_path.rglob("*.part")) and "Traceback" not in result.stderr


def test_a_killed_runs_temporary_files_are_removed_by_the_next(tmp_path):
    target = tmp_path / "mix.wav"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    stale = tmp_path / f".mix.wav.tuss-fx-{int(dead.stdout)}@{host}.k3j2h1.part"
    live = tmp_path / f".mix.wav.tuss-fx-{os.getpid()}@{host}.a1b2c3.part"
    elsewhere = tmp_path / f".mix.wav.tuss-fx-{int(dead.stdout)}@render-node-7.example.d4e5f6.part"
    other_target = tmp_path / f".stem.wav.tuss-fx-{int(dead.stdout)}@{host}.g7h8i9.part"
    for path in (stale, live, elsewhere, other_target):
        path.write_bytes(b"partial")
    fresh = temp_beside(target)
    assert not stale.exists() and live.exists() and elsewhere.exists() and other_target.exists()
    assert fresh.name.startswith(f".mix.wav.tuss-fx-{os.getpid()}@") and remove_stale_temps(target) == []


def test_an_aborted_write_removes_only_the_folders_it_made(tmp_path):
    (tmp_path / "a").mkdir()
    group = WriterGroup({"x": tmp_path / "a" / "b" / "c" / "x.wav", "y": tmp_path / "a" / "b" / "y.wav"}, 48000, 1,
                        "wav")
    group.abort()
    assert [p.name for p in tmp_path.rglob("*")] == ["a"]
    writer = AtomicWriter(tmp_path / "a" / "new" / "z.wav", 48000, 1, "wav")
    (tmp_path / "a" / "new" / "someone-elses.txt").write_text("")
    writer.abort()
    assert (tmp_path / "a" / "new" / "someone-elses.txt").exists()


def test_exported_weights_get_ordinary_file_permissions(tmp_path, parity_model):
    from tuss_fx.separation.checkpoint import save_native

    umask = os.umask(0o022)
    try:
        path = save_native(parity_model, tmp_path / "m.safetensors")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_hold_point_holds_only_the_output_it_names_until_released(tmp_path, monkeypatch):
    import threading
    import time

    from tuss_fx.hold_points import HOLD_ENV, hold_point

    hold_point(tmp_path / "out" / "a.wav", tmp_path / "x.part")  # no TUSS_FX_HOLD: returns at once
    monkeypatch.setenv(HOLD_ENV, str(tmp_path))
    (tmp_path / "b.hold").write_text("out/b.wav")
    hold_point(tmp_path / "out" / "a.wav", tmp_path / "x.part")  # another output: not held
    assert not (tmp_path / "b.held").exists()
    writer = threading.Thread(target=hold_point, args=(tmp_path / "out" / "b.wav", tmp_path / "b.part"))
    writer.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "b.held").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (tmp_path / "b.held").read_text() == str(tmp_path / "b.part")
    time.sleep(0.05)
    assert writer.is_alive()  # held until released
    (tmp_path / "b.go").touch()
    writer.join(timeout=10)
    assert not writer.is_alive()


def test_a_requested_stop_lands_at_the_next_written_block(tmp_path):
    """signals.stop_when: a flag (Ray's cancel of a running actor task sets one) stops the work at the next
    block an output writes, as Ctrl-C would; outside the block, and before the flag is set, nothing happens."""
    import numpy as np

    from tuss_fx.media.audio_io import AtomicWriter
    from tuss_fx.signals import check_stop, stop_when

    check_stop()  # nothing registered
    flag = {"stop": False}
    writer = AtomicWriter(tmp_path / "out.wav", 48000, 1, "wav32f")
    block = np.zeros((1, 480), np.float32)
    with stop_when(lambda: flag["stop"]):
        writer.write(block)
        flag["stop"] = True
        with pytest.raises(KeyboardInterrupt):
            writer.write(block)
    writer.abort()
    check_stop()  # the flag went with its block
    assert not list(tmp_path.iterdir())
