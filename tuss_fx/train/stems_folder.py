"""A user's delivered stems: one folder per track, one file per stem named by its prompt, checked on load.

Layout: STEMS_DIR/<track>/speech.wav, sfxbg.wav, musicbg.wav (dialogue/music/effects) or
vocals/drums/bass/other (music stems), in any format `separate` reads, and optionally the
mix (mix.wav). Other names map onto prompts (`dialog=speech`). The stems of a track must share
rate, channel count and length; every track of a task must have the same stems; a mix that the
stems do not sum to is reported (its difference is the residual a remix keeps), not refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuss_fx.errors import TussFxError
from tuss_fx.media.audio_io import AUDIO_SUFFIXES, AudioInfo, feed_file, probe, read_blocks
from tuss_fx.model.prompts import DMX_PROMPTS, STEM_PROMPTS

TASKS = {"dialogue/music/effects": DMX_PROMPTS, "stems": STEM_PROMPTS}
MIX_NAME = "mix"
# a residual 40 dB under the mix is rounding, dither or a limiter's last touch, not missing material
RESIDUAL_TOLERANCE_DB = -40.0


class StemsFolderError(TussFxError):
    """A stems folder that cannot train: unknown or missing stems, mismatched files."""


@dataclass(frozen=True)
class Track:
    """One track's stems (prompt -> file, in the task's prompt order) and optional mix."""

    folder: Path
    task: str
    stems: dict[str, Path]
    mix: Path | None
    sample_rate: int
    num_channels: int
    num_frames: int
    residual_db: float | None = None  # residual level re the mix, when there is a mix

    @property
    def prompts(self) -> list[str]:
        return list(self.stems)


def parse_name_map(text: str) -> dict[str, str]:
    """"dialog=speech,fx=sfxbg" -> {"dialog": "speech", "fx": "sfxbg"}; ValueError names a bad entry."""
    known = {*DMX_PROMPTS, *STEM_PROMPTS, MIX_NAME}
    mapping = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, prompt = entry.partition("=")
        if not sep or not name.strip() or prompt.strip() not in known:
            raise ValueError(f"{entry!r}: expected NAME=PROMPT with PROMPT one of {', '.join(sorted(known))}")
        mapping[name.strip().lower()] = prompt.strip()
    return mapping


def scan_tracks(roots: Sequence[Path], name_map: Mapping[str, str] | None = None) -> list[Track]:
    """Every track under the stems folders, checked (a folder of audio files with no subfolders is one track).

    Raises:
        StemsFolderError: no track, an unknown stem name, two files for one stem, stems of two
            tasks in one track, stems that differ in rate, channels or length, a track of a
            task lacking a stem the task's other tracks have. AudioReadError: an unreadable file.
    """
    folders = [folder for root in roots for folder in _track_folders(Path(root))]
    tracks = [_load_track(folder, name_map or {}) for folder in folders]
    if not tracks:
        raise StemsFolderError(", ".join(map(str, roots)), "no track folders with stem files "
                               f"({', '.join(DMX_PROMPTS)} or {', '.join(STEM_PROMPTS)})")
    for task in TASKS:
        members = [track for track in tracks if track.task == task]
        union = [prompt for prompt in TASKS[task] if any(prompt in track.stems for track in members)]
        for track in members:
            missing = [prompt for prompt in union if prompt not in track.stems]
            if missing:
                raise StemsFolderError(track.folder, f"missing stem {', '.join(missing)} (other tracks of this "
                                       f"task have {', '.join(union)})")
    return tracks


def folder_digest(tracks: Sequence[Track]) -> list[dict[str, str]]:
    """Each track folder with the SHA-256 of its files' names and bytes: what a model learned from."""
    rows = []
    for track in tracks:
        digest = hashlib.sha256()
        for path in sorted([*track.stems.values(), *([track.mix] if track.mix else [])]):
            digest.update(path.name.encode())
            feed_file(digest, path)
        rows.append({"track": str(track.folder), "sha256": digest.hexdigest()})
    return rows


def _track_folders(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        raise StemsFolderError(root, "not a folder")
    subfolders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    if subfolders:
        yield from (folder for folder in subfolders if _audio_files(folder))
    elif _audio_files(root):
        yield root


def _audio_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith("."))


def _load_track(folder: Path, name_map: Mapping[str, str]) -> Track:
    named: dict[str, Path] = {}
    for path in _audio_files(folder):
        name = name_map.get(path.stem.lower(), path.stem.lower())
        if name != MIX_NAME and name not in {*DMX_PROMPTS, *STEM_PROMPTS}:
            raise StemsFolderError(path, f"unknown stem name {path.stem!r}: name files {', '.join(DMX_PROMPTS)}, "
                                   f"{', '.join(STEM_PROMPTS)} or {MIX_NAME}, or map it (--map {path.stem}=speech)")
        if name in named:
            raise StemsFolderError(path, f"a second file for {name!r} (the first is {named[name].name})")
        named[name] = path
    tasks = [task for task, prompts in TASKS.items() if any(name in prompts for name in named)]
    if len(tasks) != 1:
        raise StemsFolderError(folder, "stems of both tasks in one track" if tasks else "a mix but no stems")
    prompts = TASKS[tasks[0]]
    stems = {prompt: named[prompt] for prompt in prompts if prompt in named}
    mix = named.get(MIX_NAME)
    infos = {path: probe(path) for path in [*stems.values(), *([mix] if mix else [])]}
    first_path, first = next(iter(infos.items()))
    for path, info in infos.items():
        for what, mine, theirs in (("sample rate", info.sample_rate, first.sample_rate),
                                   ("channel count", info.num_channels, first.num_channels),
                                   ("length in frames", info.num_frames, first.num_frames)):
            if mine != theirs:
                raise StemsFolderError(folder, f"{what} differs: {path.name} {mine}, {first_path.name} {theirs}")
    residual_db = _residual_db([infos[path] for path in stems.values()], infos[mix]) if mix else None
    return Track(folder, tasks[0], stems, mix, first.sample_rate, first.num_channels, first.num_frames, residual_db)


def _residual_db(stems: list[AudioInfo], mix: AudioInfo) -> float:
    """Level of mix - sum(stems) relative to the mix in dB (-inf when they sum exactly), streamed."""
    residual_energy = mix_energy = 0.0
    for blocks in zip(*(read_blocks(info) for info in stems), read_blocks(mix)):
        residual = blocks[-1].astype(np.float64) - np.sum(blocks[:-1], axis=0, dtype=np.float64)
        residual_energy += float(np.sum(residual**2))
        mix_energy += float(np.sum(blocks[-1].astype(np.float64) ** 2))
    if residual_energy == 0.0:
        return -np.inf
    return 10 * np.log10(residual_energy / max(mix_energy, 1e-20))
