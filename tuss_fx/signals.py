"""SIGTERM and SIGHUP end a command the way Ctrl-C does: unwinding, so every temporary file is removed.

Batch schedulers, `timeout` and a closed terminal send these; their default action kills the
process on the spot and leaves `.part` files behind. Windows has no SIGHUP: there Ctrl-Break and a
closed console window arrive as SIGBREAK, which is handled in its place (handled_signals). Raised as an exception instead, they run the
same `except BaseException` clean-up paths as KeyboardInterrupt, and the command exits 128+signal.

A stop can also be asked without a signal: Ray's cancel of a running actor task only sets a flag
the task must look at. `stop_when` registers such a flag; every block an output writes
(media.audio_io.AtomicWriter) calls `check_stop`, which raises KeyboardInterrupt once it is set, so the
same clean-up runs.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# the stop signals, where the platform has them: Windows lacks SIGHUP, and only Windows has SIGBREAK (its C
# runtime raises it for Ctrl-Break and for a console window closed, logged off or shut down)
STOP_SIGNAL_NAMES = ("SIGTERM", "SIGHUP", "SIGBREAK")


def handled_signals() -> tuple[int, ...]:
    """The stop signals this platform has: SIGTERM and SIGHUP on Linux and macOS, SIGTERM and SIGBREAK on
    Windows. Read from the signal module at each call, so a test can take one away."""
    return tuple(getattr(signal, name) for name in STOP_SIGNAL_NAMES if hasattr(signal, name))


def signals_reach_other_processes() -> bool:
    """Whether a signal sent to another process runs its handler: true on POSIX. On Windows os.kill with
    SIGTERM is TerminateProcess, which kills at once and runs no clean-up, so a stop is asked another
    way there (batch.local's stop event)."""
    return os.name == "posix"


class Terminated(BaseException):
    """The process was asked to stop by a signal (BaseException, like KeyboardInterrupt: not an error)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame) -> None:
    raise Terminated(signum)


@contextmanager
def terminate_by_exception() -> Iterator[None]:
    """Within the block, the stop signals (SIGTERM and SIGHUP, or SIGBREAK on Windows) raise Terminated
    (main thread only, as signal handlers are)."""
    previous = {signum: signal.signal(signum, _raise) for signum in handled_signals()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_stop_requests: list[Callable[[], bool]] = []  # flags asking the work in this process to stop


@contextmanager
def stop_when(requested: Callable[[], bool]) -> Iterator[None]:
    """Within the block, check_stop raises KeyboardInterrupt once `requested()` is true."""
    _stop_requests.append(requested)
    try:
        yield
    finally:
        _stop_requests.remove(requested)


def check_stop() -> None:
    """Raise KeyboardInterrupt if a flag registered by stop_when asks to stop; else nothing (and nothing to
    look at outside a stop_when block)."""
    if any(requested() for requested in _stop_requests):
        raise KeyboardInterrupt("stop requested")
