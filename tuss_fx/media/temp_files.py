"""Temporary files beside their target, named by their owner, so a killed run's leftovers can be told
from a live writer's and removed: how every output of tuss-fx appears whole or not at all."""

from __future__ import annotations

import glob
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tuss_fx.errors import AudioWriteError

# Windows refuses to replace a file another program holds open (a player, a DAW; an indexer or a virus
# scanner for a moment): the rename is tried again for this long before it is reported
REPLACE_RETRY_SECONDS = 2.0
REPLACE_RETRY_STEP_SECONDS = 0.1


def temp_beside(target: Path) -> Path:
    """A new empty temporary file in target's folder (same file system, so os.replace is atomic),
    with the permissions a plain open() would have given the target.

    Its name carries this process's id and host, `.NAME.tuss-fx-PID@HOST.XXXXXX.part`, so that a
    later run can tell the leftovers of a killed run (SIGKILL, power loss) from a live writer's:
    stale ones beside the same target are removed first. Other hosts' files (shared storage on a
    render farm) are left alone.
    """
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{_temp_owner()}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary files beside `target` left by dead tuss-fx processes of this host."""
    removed = []
    for path in target.parent.glob(f".{glob.escape(target.name)}.tuss-fx-*.part"):
        owner = _TEMP_OWNER.fullmatch(path.name[len(target.name) + 2 :])
        if owner and owner["host"] == socket.gethostname() and not _alive(int(owner["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


_TEMP_OWNER = re.compile(r"tuss-fx-(?P<pid>\d+)@(?P<host>.+)\.[^.]+\.part")


def _temp_owner() -> str:
    return f"tuss-fx-{os.getpid()}@{socket.gethostname()}"


def _alive(pid: int) -> bool:
    # psutil asks each platform its own way: os.kill(pid, 0) on POSIX, but on Windows os.kill is
    # TerminateProcess and would kill the writer it asks about; another user's process counts as alive
    return psutil.pid_exists(pid)


def replace_file(tmp: Path | str, target: Path | str) -> None:
    """Rename the finished `tmp` onto `target` (atomic on one file system). Where the platform refuses
    because a program holds either file open (Windows), try again for REPLACE_RETRY_SECONDS; then remove
    `tmp` and raise, leaving `target` as it was.

    Raises:
        AudioWriteError: `target` stayed open in another program (named in one line).
    """
    deadline = time.monotonic() + REPLACE_RETRY_SECONDS
    while True:
        try:
            os.replace(tmp, target)
            return
        except PermissionError:
            if time.monotonic() >= deadline:
                Path(tmp).unlink(missing_ok=True)
                raise AudioWriteError(target, "is open in another program (a player, a DAW?) and cannot be replaced; "
                                              "close it there and run again") from None
            time.sleep(REPLACE_RETRY_STEP_SECONDS)


def write_atomically(target: Path, write: Callable[[str], object]) -> None:
    """Call write(path) on a temporary file beside `target`, then rename it into place; a failure
    removes it, so `target` is whole or untouched. The file keeps the permissions open() would have
    given `target` (some writers, safetensors among them, create theirs 0600)."""
    tmp = str(temp_beside(target))
    mode = os.stat(tmp).st_mode
    try:
        write(tmp)
        os.chmod(tmp, mode)
        replace_file(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
