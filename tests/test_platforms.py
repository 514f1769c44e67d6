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
from pathlib import Path

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


def test_auto_takes_cuda_then_apple_s_gpu_then_the_cpu(monkeypatch):
    import torch

    from tuss_fx.separation.devices import describe_device, resolve_device

    monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    for cuda, mps, chosen in [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]:
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        assert resolve_device("auto").type == chosen
    assert describe_device(torch.device("cpu")) == "cpu (no CUDA or Apple GPU found)"
    assert resolve_device("cpu") == torch.device("cpu")  # asked for, never replaced
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert describe_device(torch.device("mps")) == "mps (Apple GPU; ops it lacks run on the CPU)"
    assert describe_device(torch.device("cpu")) == "cpu"


def test_apple_s_gpu_without_the_cpu_fallback_is_warned_about(monkeypatch):
    import torch

    from tuss_fx.separation.devices import MpsFallbackOffWarning, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "0")
    with pytest.warns(MpsFallbackOffWarning, match="PYTORCH_ENABLE_MPS_FALLBACK is not 1"):
        assert resolve_device("auto").type == "mps"


@pytest.mark.parametrize("users_setting,expected", [(None, "1"), ("0", "0")])
def test_importing_tuss_fx_turns_on_the_mps_cpu_fallback_before_torch_loads(users_setting, expected):
    """PyTorch reads PYTORCH_ENABLE_MPS_FALLBACK once, as torch is imported: tuss_fx sets it first."""
    env = {key: value for key, value in os.environ.items() if key != "PYTORCH_ENABLE_MPS_FALLBACK"}
    if users_setting is not None:
        env["PYTORCH_ENABLE_MPS_FALLBACK"] = users_setting
    # what the variable holds at the moment torch is first imported, seen by an import hook
    probe = ("import os, sys\n"
             "seen = {}\n"
             "class Watch:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name == 'torch':\n"
             "            seen.setdefault('torch', os.environ.get('PYTORCH_ENABLE_MPS_FALLBACK'))\n"
             "sys.meta_path.insert(0, Watch())\n"
             "import tuss_fx\n"
             "print(seen['torch'])\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_command_says_which_device_auto_chose(tmp_path, parity_dir):
    from click.testing import CliRunner

    from tuss_fx.cli.commands import main

    source = tmp_path / "in.wav"
    sf.write(source, noise(1, 24000).T, 48000, subtype="FLOAT")
    result = CliRunner().invoke(main, ["separate", str(source), "-o", str(tmp_path / "out"), "--checkpoint",
                                       str(parity_dir)])
    assert result.exit_code == 0, result.output
    assert "device: cpu (no CUDA or Apple GPU found)" in result.stderr.splitlines()
    for extra in (["--device", "cpu"], ["-q"]):  # a device asked for is not announced, nor anything under --quiet
        pinned = CliRunner().invoke(main, ["separate", str(source), "-o", str(tmp_path / extra[-1]), "--checkpoint",
                                           str(parity_dir), *extra])
        assert pinned.exit_code == 0 and "device:" not in pinned.stderr, pinned.stderr


@pytest.mark.parametrize("platform,why", [("darwin", "Triton publishes wheels for Linux only (this is macOS)"),
                                          ("win32", "Triton publishes wheels for Linux only (this is Windows)"),
                                          ("linux", "Triton is not installed (pip install triton)")])
def test_without_triton_info_says_why_the_kernels_are_off_and_every_op_takes_its_reference(
        monkeypatch, platform, why):
    import importlib.util

    import torch

    from tuss_fx.model import ops

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real_find_spec(name, *a))
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setitem(sys.modules, "triton", None)  # importing it fails, as where it is not installed
    for name in [name for name in sys.modules if name.startswith("tuss_fx.kernels.")]:
        monkeypatch.delitem(sys.modules, name)  # imported by the kernel tests: each must be imported afresh
    ops._kernel_module.cache_clear()
    try:
        assert ops.kernels_report() == f"off: {why}; every fused op runs its exact PyTorch reference"
        report = ops.dispatch_report(torch.device("cuda"))  # even on a GPU: no Triton, no kernel
        assert all(path.startswith("PyTorch reference (Triton kernel unavailable") for path in report.values()), report
    finally:
        ops._kernel_module.cache_clear()


@pytest.mark.parametrize("has_resource", [True, False])
def test_the_benchmarks_measure_peak_memory_with_or_without_resource(monkeypatch, has_resource):
    """Windows has no `resource`: the benchmarks' peak memory is sampled there (psutil) instead."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import peak_memory

    hold = "import time; block = bytearray(300 * 2**20); time.sleep(0.5)"
    if has_resource:
        # as the benchmarks run it: its own process, whose one child is the command (RUSAGE_CHILDREN is the
        # largest child of the process asking, and this test process has had larger ones)
        script = Path(__file__).resolve().parents[1] / "benchmarks" / "peak_memory.py"
        ran = subprocess.run([sys.executable, str(script), sys.executable, "-c", hold], capture_output=True,
                             text=True, timeout=120, check=True)
        assert 300 < float(ran.stdout.split()[-1]) < 420
    else:
        monkeypatch.setitem(sys.modules, "resource", None)  # importing it fails, as on Windows
        assert 300 < peak_memory.peak_mib([sys.executable, "-c", hold]) < 420
    with pytest.raises(subprocess.CalledProcessError):
        peak_memory.peak_mib([sys.executable, "-c", "raise SystemExit(3)"])
