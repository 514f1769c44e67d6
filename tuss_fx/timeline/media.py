"""Where a timeline's media are: each clip's reference as written, beside the timeline when relative,
else found by file name under the --media-root folders (media moved since the edit)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote, urlparse

from tuss_fx.media.audio_io import AUDIO_SUFFIXES
from tuss_fx.timeline.edit import ClipUse, TimelineError


def url_path(url: str) -> str:
    """A reference's URL as a path string: file:// URLs unquoted (Windows drives kept), plain paths as
    they are."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path, host = unquote(parsed.path), "" if parsed.netloc == "localhost" else parsed.netloc
        if len(host) == 2 and host[1] == ":":  # file://Z:/...
            return host + path
        if len(path) > 2 and path[0] == "/" and path[2] == ":":  # file:///D:/... (Premiere, FCP)
            return path[1:]
        return f"//{host}{path}" if host else path
    if parsed.scheme and len(parsed.scheme) > 1:
        return url  # http:// and such: kept as written, found (if at all) by name
    return unquote(url)


def file_name(path: str) -> str:
    """The last part of a POSIX or Windows path."""
    return PureWindowsPath(path).name if "\\" in path or (len(path) > 1 and path[1] == ":") else Path(path).name


class MediaIndex:
    """File name -> paths under the --media-root folders, built once."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = list(roots)
        self._by_name: dict[str, list[Path]] = defaultdict(list)
        for root in self.roots:
            if not root.is_dir():
                raise TimelineError(root, "--media-root is not a folder")
            for folder, _, names in os.walk(root):
                for name in names:
                    self._by_name[name.lower()].append(Path(folder) / name)

    def find(self, name: str) -> list[Path]:
        return sorted(set(self._by_name.get(name.lower(), [])))

    def find_stem(self, stem: str) -> list[Path]:
        """Audio and film files named `stem` plus any audio suffix (an EDL names clips, not files)."""
        return sorted({path for suffix in AUDIO_SUFFIXES for path in self._by_name.get(f"{stem}{suffix}".lower(), [])})


def locate_media(uses: Sequence[ClipUse], timeline_path: Path, roots: Sequence[Path] = (),
                 base: Path | None = None) -> dict[str, Path]:
    """ClipUse.media_key -> the file on disk, for every clip; checked before any work starts. Relative
    references resolve against `base` (default the timeline's folder; an unpacked .otioz's folder). A
    clip without a reference (an EDL's) is found under the roots as its name plus an audio suffix.

    Raises:
        TimelineError: naming the first clip whose media is not found, or is found under more than
            one file of that name (one line: the clip, where it sits, the path).
    """
    index = MediaIndex(roots) if roots else None
    found: dict[str, Path] = {}
    for use in uses:
        if use.media_key in found:
            continue
        if use.url is None:
            matches = index.find_stem(use.name) if index else []
            if len(matches) != 1:
                how = f"{len(matches)} files named {use.name!r} under --media-root" if index else \
                    "no media reference; pass --media-root FOLDER to find it by the clip's name"
                raise TimelineError(timeline_path, f"{use.where()}: {how}")
            found[use.media_key] = matches[0]
            continue
        written = url_path(use.url)
        path = Path(written)
        path = path if path.is_absolute() else (base or timeline_path.parent) / path
        if path.is_file():
            found[use.media_key] = path
            continue
        matches = index.find(file_name(written)) if index else []
        if len(matches) > 1:
            raise TimelineError(timeline_path, f"{use.where()}: {file_name(written)!r} is found {len(matches)} "
                                               f"times under --media-root ({', '.join(map(str, matches[:3]))}); "
                                               "pass a folder that holds one")
        if not matches:
            searched = f"; not under {', '.join(map(str, index.roots))} either" if index else \
                "; pass --media-root FOLDER to find moved media by name"
            raise TimelineError(timeline_path, f"{use.where()}: media {written!r} not found{searched}")
        found[use.media_key] = matches[0]
    return found
