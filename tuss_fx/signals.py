"""SIGTERM and SIGHUP end a command the way Ctrl-C does: unwinding, so every temporary file is removed.

Batch schedulers, `timeout` and a closed terminal send these; their default action kills the
process on the spot and leaves `.part` files behind. Raised as an exception instead, they run the
same `except BaseException` clean-up paths as KeyboardInterrupt, and the command exits 128+signal.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

HANDLED = (signal.SIGTERM, signal.SIGHUP)


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
    """Within the block, SIGTERM and SIGHUP raise Terminated (main thread only, as signal handlers are)."""
    previous = {signum: signal.signal(signum, _raise) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
