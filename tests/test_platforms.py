"""What runs on Windows and macOS as on Linux (issue #47, part 4): each POSIX- or Linux-only call has a
fallback, and each fallback runs here with the API it replaces taken away."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import soundfile as sf

from tuss_fx import signals
from tuss_fx.batch import local
from tuss_fx.batch.jobs import BatchJob
from tuss_fx.errors import AudioWriteError
from tuss_fx.hold_points import HOLD_ENV
from tuss_fx.media import temp_files
from tuss_fx.media.audio_io import AtomicWriter

from tests.conftest import noise


def _forbid(*args, **kwargs):
    raise AssertionError("called where the platform lacks it")


def test_linux_and_macos_stop_on_sigterm_and_sighup():
    assert signals.handled_signals() == (signal.SIGTERM, signal.SIGHUP)


def test_without_sighup_the_windows_stop_signals_end_a_command_cleanly(monkeypatch):
    """Windows has no SIGHUP and has SIGBREAK (Ctrl-Break, a console closed): the module must import and
    handle what is there. SIGUSR1 stands in for SIGBREAK, which Linux lacks."""
    monkeypatch.delattr(signal, "SIGHUP")
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    assert signals.handled_signals() == (signal.SIGTERM, signal.SIGUSR1)
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(signals.Terminated) as stopped:
        with signals.terminate_by_exception():
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(1)  # the handler runs between bytecodes
    assert stopped.value.exit_status == 128 + signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) is before  # handlers given back


def test_whether_a_writer_lives_is_asked_the_platform_s_own_way():
    """On Windows os.kill(pid, 0) is TerminateProcess: asking that way would kill the writer asked about.
    psutil asks each platform its own way (OpenProcess there); one code path, so nothing to take away."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert temp_files._alive(os.getpid())
    assert not temp_files._alive(int(dead.stdout))


def test_a_target_held_open_for_a_moment_is_replaced_once_it_is_free(tmp_path, monkeypatch):
    """Windows refuses os.replace onto a file another program holds open (PermissionError)."""
    real_replace, refusals = os.replace, []

    def busy_twice(src, dst):
        if len(refusals) < 2:
            refusals.append(dst)
            raise PermissionError(13, "The process cannot access the file", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", busy_twice)
    target = tmp_path / "mix.wav"
    writer = AtomicWriter(target, 48000, 1, "wav32f")
    writer.write(noise(1, 4800))
    writer.commit()
    assert len(refusals) == 2 and sf.info(target).frames == 4800 and list(tmp_path.iterdir()) == [target]


def test_a_target_that_stays_open_is_one_error_and_no_leftover(tmp_path, monkeypatch):
    def always_busy(src, dst):
        raise PermissionError(13, "The process cannot access the file", str(dst))

    monkeypatch.setattr(temp_files, "REPLACE_RETRY_SECONDS", 0.3)
    monkeypatch.setattr(os, "replace", always_busy)
    target = tmp_path / "mix.wav"
    target.write_bytes(b"the take the DAW has open")
    writer = AtomicWriter(target, 48000, 1, "wav32f")
    writer.write(noise(1, 4800))
    with pytest.raises(AudioWriteError, match=r"mix\.wav: is open in another program"):
        writer.commit()
    assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == b"the take the DAW has open"


def test_batch_workers_stop_cleanly_without_a_signal(tmp_path, monkeypatch, parity_dir):
    """Where a signal would kill a worker without its clean-up (Windows), the batch's stop event stops it:
    both workers, held mid-write, leave no temporary file and exit on their own, not killed."""
    inputs = []
    for name in ("a", "b"):
        inputs.append(tmp_path / f"{name}.wav")
        sf.write(inputs[-1], noise(1, 48000).T, 48000, subtype="FLOAT")
    hold = tmp_path / "hold"
    hold.mkdir()
    for name in ("a", "b"):
        (hold / f"{name}.hold").write_text(f"{name}/speech.wav")
    monkeypatch.setenv(HOLD_ENV, str(hold))
    monkeypatch.setattr(local, "signals_reach_other_processes", lambda: False)
    monkeypatch.setattr(local.os, "kill", _forbid)
    started = []
    real_start = local.multiprocessing.get_context("spawn").Process.start

    def remember(process):
        started.append(process)
        real_start(process)

    monkeypatch.setattr(local.multiprocessing.get_context("spawn").Process, "start", remember)

    def interrupt_when_both_are_held():
        deadline = time.monotonic() + 120
        while len(list(hold.glob("*.held"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        _thread.interrupt_main()

    job = BatchJob(mode="separate", out_dir=tmp_path / "out", checkpoint=str(parity_dir), device="cpu")
    threading.Thread(target=interrupt_when_both_are_held, daemon=True).start()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        local.run_local(job, inputs, workers=2, on_result=lambda entry: None)
    assert time.monotonic() - began < local.STOP_TIMEOUT_SECONDS
    assert len(list(hold.glob("*.held"))) == 2
    assert [process.exitcode for process in started] == [0, 0]  # returned, not killed
    # spawned: the one start method Windows and macOS both have (no fork)
    assert {type(process).__name__ for process in started} == {"SpawnProcess"}
    assert not list(tmp_path.rglob("*.part"))
