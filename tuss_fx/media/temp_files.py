"""Temporary files beside their target, named by their owner, so a killed run's leftovers can be told
from a live writer's and removed: how every output of tuss-fx appears whole or not at all."""

from __future__ import annotations

import glob
import os
import re
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def write_atomically(target: Path, write: Callable[[str], object]) -> None:
    """Call write(path) on a temporary file beside `target`, then rename it into place; a failure
    removes it, so `target` is whole or untouched. The file keeps the permissions open() would have
    given `target` (some writers, safetensors among them, create theirs 0600)."""
    tmp = str(temp_beside(target))
    mode = os.stat(tmp).st_mode
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
