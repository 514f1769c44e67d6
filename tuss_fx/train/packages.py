"""What a corpus source is: package files, their licence, and the recordings they decode to.

The shared types of the corpus sources (plain package files here, MIDI renders in midi_stems,
neural TTS in tts): the registry (sources.py) lists instances, the builder (corpus.py) runs them.
Imports run one way: packages <- {midi_stems, tts} <- sources <- corpus.
"""

from __future__ import annotations

import fnmatch
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import soundfile as sf

from tuss_fx.errors import TussFxError


class CorpusError(TussFxError):
    """A source that cannot be built (package not installed, unreadable copyright, ...)."""


class Decoded(NamedTuple):
    """One recording a source produced, before resampling and trimming."""

    prompt: str
    source_path: str  # package-relative; archive members as "<archive>!<member>"
    audio: np.ndarray  # (L,) or (L, C) float
    sample_rate: int


class Source(Protocol):
    """What build_corpus needs of a source: where it comes from and what it decodes to."""

    package: str
    split: str

    def licence(self, root: Path) -> str: ...

    def decode(self, root: Path) -> Iterator[Decoded]: ...


@dataclass(frozen=True)
class SourceSpec:
    """Plain audio files of a Debian package, or members of the archives `archive` matches."""

    prompt: str  # prompt class the clips train
    package: str  # Debian package that ships them
    patterns: tuple[str, ...]  # globs relative to the root, or member globs when `archive` is set
    split: str = "train"  # "train" or "heldout"
    archive: str | None = None  # glob of zip archives (0ad public.zip, Quake-style .pk3)

    def licence(self, root: Path) -> str:
        return package_licence(root, self.package)

    def decode(self, root: Path) -> Iterator[Decoded]:
        if self.archive is None:
            for path in package_files(root, self.patterns):
                yield from _decoded(self.prompt, path.relative_to(root).as_posix(), path)
            return
        for archive in package_files(root, (self.archive,)):
            with zipfile.ZipFile(archive) as bundle:
                members = sorted(name for name in bundle.namelist()
                                 if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns))
                for name in members:
                    yield from _decoded(self.prompt, f"{archive.relative_to(root).as_posix()}!{name}",
                                        io.BytesIO(bundle.read(name)))


def package_files(root: Path, patterns: Sequence[str]) -> list[Path]:
    """The files under `root` any of the globs match, sorted, each once."""
    return sorted({path for pattern in patterns for path in root.glob(pattern) if path.is_file()})


def _decoded(prompt: str, source_path: str, file) -> Iterator[Decoded]:
    try:
        if source_path.endswith(".g722"):
            audio, rate = read_g722(file)
        else:
            audio, rate = sf.read(file, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return  # a file that cannot be decoded is skipped, not fatal
    yield Decoded(prompt, source_path, audio, rate)


def read_g722(file) -> tuple[np.ndarray, int]:
    """Raw G.722 (ITU-T wideband, 16 kHz, the asterisk `-g722` prompt packages) -> ((L, 1) float32, rate).

    libsndfile has no G.722 codec; PyAV's bundled FFmpeg has, so nothing system-wide is needed.
    The asterisk prompts ship the same recordings as 8 kHz WAV and as G.722: the G.722 ones keep
    speech up to 7 kHz, twice the telephone band.

    Raises:
        CorpusError: PyAV is not installed.
        ValueError: the file is not decodable G.722.
    """
    try:
        import av
    except ImportError as error:
        raise CorpusError("av", "not installed; run: pip install av (or: pip install -e '.[train]')") from error
    try:
        with av.open(file, format="g722") as container:
            stream = container.streams.audio[0]
            frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
            rate = stream.rate
    except av.FFmpegError as error:
        raise ValueError(f"not G.722: {error}") from error
    if not frames:
        raise ValueError("no audio")
    pcm = np.concatenate(frames).astype(np.float32) / 32768.0  # decoder yields signed 16-bit PCM
    return pcm[:, None], rate


def package_licence(root: Path, package: str) -> str:
    """The first License: field of the package's DEP-5 copyright file.

    Raises:
        CorpusError: the package is not installed (no /usr/share/doc/<package>).
    """
    doc = root / "usr/share/doc" / package
    if not doc.is_dir():
        raise CorpusError(package, f"not installed; run: apt-get install --no-install-recommends {package}")
    copyright_file = doc / "copyright"
    if copyright_file.exists():
        for line in copyright_file.read_text(errors="replace").splitlines():
            if line.startswith("License:") and line.split(":", 1)[1].strip():
                return line.split(":", 1)[1].strip()
    return f"see /usr/share/doc/{package}/copyright"
