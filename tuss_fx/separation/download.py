"""HTTP(S) downloads that resume where a cut left off and prove what they fetched by sha256."""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tuss_fx.errors import TussFxError

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 30
Progress = Callable[[int, int], None]  # (bytes done, bytes in total)


class DownloadError(TussFxError):
    """A download that did not complete: unreachable, refused, cut, wrong content, or no room."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, target: Path, sha256: str, size: int, progress: Progress | None = None) -> None:
    """Fetch `url` into `target` and check it is the expected file.

    Bytes arrive in `target` + ".part" first; a .part left by a cut download is resumed with an
    HTTP Range request (a server that ignores Range sends the whole file again). `target` appears
    only once all `size` bytes are there and their sha256 matches.

    Raises:
        DownloadError: one line: host unreachable or refused (proxy included), HTTP error, the
            connection cut (the .part is kept for the next try), a server reporting another size
            than the pinned one (both named; nothing kept), a wrong size or checksum (the .part is
            deleted), or the disk full.
    """
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:  # not a prefix of the file we want
        part.unlink()
        have = 0
    if have < size:
        _fetch(url, part, have, size, progress)
    actual = sha256_of(part)
    if actual != sha256:
        part.unlink()
        raise DownloadError(url, f"sha256 {actual} is not the expected {sha256}; the download was deleted")
    os.replace(part, target)


def _fetch(url: str, part: Path, have: int, size: int, progress: Progress | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "tuss-fx"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            if have and not _resumes(response, have):
                have = 0  # the server sent the whole file
            reported = _reported_size(response, have)
            if reported is not None and reported != size:
                part.unlink(missing_ok=True)  # nothing of another file is worth resuming
                raise DownloadError(url, f"the server reports {reported} bytes where the pinned file is {size} "
                                         "bytes: it serves another file (a wrong mirror or path?); nothing was kept")
            _copy(response, part, have, size, progress, url)
    except urllib.error.HTTPError as exc:
        if exc.code == 407:
            raise DownloadError(url, "the proxy refused the request (HTTP 407: proxy authentication required)") from None
        raise DownloadError(url, f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(url, f"cannot connect ({_reason(exc.reason)}); offline, or a proxy or firewall in "
                                 "the way? For an internal mirror use --mirror") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise DownloadError(url, f"the connection broke ({_reason(exc)}); run the same command again to "
                                 "resume") from None


def _reported_size(response, have: int) -> int | None:
    """The whole file's size as the server states it: Content-Range's total on a resumed 206, else
    what is already here plus Content-Length; None when it says nothing."""
    match = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _resumes(response, have: int) -> bool:
    """A 206 whose Content-Range starts at `have` continues our .part; anything else starts over."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return response.status == 206 and match is not None and int(match.group(1)) == have


def _copy(response, part: Path, have: int, size: int, progress: Progress | None, url: str) -> None:
    done = have
    try:
        with open(part, "ab" if have else "wb") as out:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, size)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadError(part, f"no space left on the disk after {done} of {size} bytes; free some and "
                                      "run the same command again to resume") from None
        raise
    if done < size:
        raise DownloadError(url, f"the connection was cut after {done} of {size} bytes; run the same command "
                                 "again to resume")
    if done > size:
        raise DownloadError(url, f"{done} bytes arrived, {size} expected: not the expected file")


def _reason(reason) -> str:
    return str(getattr(reason, "strerror", None) or reason)
