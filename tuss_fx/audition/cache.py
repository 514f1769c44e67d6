"""The audition's stem cache: one separation of an input under one plan, kept on disk with its overview
(waveform peaks, the dialogue-to-background ratio), so that a second audition of the file opens in seconds.

An entry is a folder named by its key: `stems/<stem>.wav` (32-bit float at the input's rate and channel
layout, exactly what the separation yielded) and `entry.json` (what was separated, the peaks and the DBR
lane). It is built in a `.part` folder and renamed into place, so a stopped audition leaves nothing half
written. Entries are kept until the cache passes its size limit; then the least recently opened go first.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_fx.errors import TussFxError
from tuss_fx.measure.dbr import DEFAULT_TARGET_DBR_LU, DialogueClarity, dialogue_clarity
from tuss_fx.measure.loudness import LoudnessMeter
from tuss_fx.measure.meters import HOP_SECONDS
from tuss_fx.measure.peaks import PeakMeter
from tuss_fx.measure.speech import SpeechPresence
from tuss_fx.media.audio_io import AtomicWriter, AudioInfo, feed_file, read_blocks
from tuss_fx.media.layout import dialogue_channels, stereo_fold_down
from tuss_fx.separation.dialogue import SPEECH_PROMPT
from tuss_fx.separation.models import home
from tuss_fx.separation.separator import Progress, Separator

# bumped when an entry's files change meaning; older entries are rebuilt (2: the DBR lane's dialogue windows count
# speech only in runs of a line's length, measure.speech.MIN_RUN_WINDOWS; 3: the stem overrules the mix's speech
# where it hears no voice, measure.speech.STEM_SILENT_PROBABILITY)
FORMAT_VERSION = 3
PEAK_BUCKETS = 2400  # overview resolution: a 2 h film gets one min/max pair per 3 s, a minute one per 25 ms
ENTRY_FILE = "entry.json"


def cache_root() -> Path:
    """Where entries live: the tuss-fx user cache folder (or $TUSS_FX_HOME), under audition/."""
    return home() / "audition"


def cache_key(info: AudioInfo, separator: Separator, prompts: Sequence[str], channels: Sequence[int] | None) -> str:
    """What an entry depends on, hashed: the input's bytes (not its name: a moved file is found again),
    its track, the model file (path, size, modification time), the engines' settings and the plan's prompts."""
    digest = hashlib.sha256()
    feed_file(digest, info.path)
    model = Path(separator.name)
    model_files = sorted(model.rglob("*")) if model.is_dir() else [model] if model.exists() else []
    digest.update(json.dumps({
        "version": FORMAT_VERSION, "track": info.audio_track, "model": str(model),
        "model_files": [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in model_files if p.is_file()],
        "dialogue_engine": separator.dialogue_engine, "atten_lim_db": separator.dialogue_atten_lim_db,
        "segment_seconds": separator.segment_seconds, "overlap": separator.overlap,
        "precision": separator.runner.precision, "prompts": list(prompts),
        "channels": list(channels) if channels is not None else None,
    }, sort_keys=True).encode())
    return digest.hexdigest()[:40]


@dataclass(frozen=True)
class CacheEntry:
    """One cached separation: its folder and what entry.json says of it."""

    folder: Path
    record: dict

    @property
    def stem_names(self) -> list[str]:
        return self.record["stems"]

    def stem_path(self, name: str) -> Path:
        return self.folder / "stems" / f"{name}.wav"

    def read_stems(self, first_frame: int, num_frames: int) -> np.ndarray:
        """(P, C, n) float32: frames [first_frame, first_frame + num_frames) of every stem, read by seeking."""
        return np.stack([self.read_stem(name, first_frame, num_frames) for name in self.stem_names])

    def read_stem(self, name: str, first_frame: int, num_frames: int) -> np.ndarray:
        """(C, n) float32: the same frames of one stem alone."""
        return read_frames(self.stem_path(name), first_frame, num_frames)

    def clarity(self) -> DialogueClarity | None:
        lane = self.record.get("clarity")
        if lane is None:
            return None
        dbr = np.array([-math.inf if v == "-inf" else math.inf if v == "inf" else v for v in lane["dbr_lu"]])
        return DialogueClarity(dbr, np.array(lane["dialogue"], dtype=bool), lane["hop_seconds"], lane["threshold_lu"])

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.folder.rglob("*") if path.is_file())


def read_frames(path: Path, first_frame: int, num_frames: int) -> np.ndarray:
    """(C, n) float32: frames [first_frame, first_frame + num_frames) of a float WAV, read by seeking."""
    with sf.SoundFile(path) as handle:
        handle.seek(first_frame)
        return handle.read(num_frames, dtype="float32", always_2d=True).T


def open_entry(key: str, stem_names: Sequence[str], root: Path | None = None) -> CacheEntry | None:
    """The entry for `key`, marked as just used, or None (never built, built by another format, or not
    holding exactly `stem_names`, the plan's stems: an entry's names become file paths, so a record that
    names others, "../x" say, is never read)."""
    folder = (root or cache_root()) / key
    try:
        record = json.loads((folder / ENTRY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != FORMAT_VERSION \
            or record.get("stems") != list(stem_names):
        return None
    os.utime(folder / ENTRY_FILE)  # least recently opened goes first when the cache is trimmed
    return CacheEntry(folder, record)


def build_entry(key: str, separator: Separator, info: AudioInfo, prompts: Sequence[str], stem_names: list[str],
                channels: Sequence[int] | None, progress: Progress | None = None, root: Path | None = None,
                threshold_lu: float = DEFAULT_TARGET_DBR_LU) -> CacheEntry:
    """Separate `info` once with `prompts` into a new entry, metering peaks and DBR on the way (one pass).

    The entry is assembled in a temporary folder beside its place and renamed in at the end: an
    interrupted build (Ctrl-C, SIGTERM, a bad block) leaves no entry and no temporary folder.
    """
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}.", suffix=".part"))
    try:
        record = _separate_into(work, separator, info, prompts, stem_names, channels, progress, threshold_lu)
        (work / ENTRY_FILE).write_text(json.dumps(record))
        target = root / key
        shutil.rmtree(target, ignore_errors=True)  # an entry of an older format
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return CacheEntry(target, record)


def trim_cache(limit_bytes: int, keep: Path, root: Path | None = None) -> list[Path]:
    """Remove the least recently opened entries (never `keep`) until the cache fits in `limit_bytes`."""
    root = root or cache_root()
    entries = [CacheEntry(folder, {}) for folder in root.iterdir() if (folder / ENTRY_FILE).is_file()]
    entries.sort(key=lambda entry: (entry.folder / ENTRY_FILE).stat().st_mtime)
    sizes = {entry.folder: entry.size_bytes for entry in entries}
    total = sum(sizes.values())
    removed = []
    for entry in entries:
        if total <= limit_bytes:
            break
        if entry.folder != keep:
            total -= sizes[entry.folder]
            shutil.rmtree(entry.folder, ignore_errors=True)
            removed.append(entry.folder)
    return removed


def _separate_into(work: Path, separator: Separator, info: AudioInfo, prompts: Sequence[str],
                   stem_names: list[str], channels: Sequence[int] | None, progress: Progress | None,
                   threshold_lu: float) -> dict:
    """Separate into work/stems and measure the overview (peaks, DBR, speech) from the same regions, one
    pass. (Measuring on a second thread was tried: the detector's torch calls and the engine's contend, and
    the build took 1.6-2x the separate instead of 1.05-1.25x.)"""
    rate, num_channels = info.sample_rate, info.num_channels
    overview = _Overview(info, prompts, stem_names, threshold_lu)
    writers = [AtomicWriter(work / "stems" / f"{name}.wav", rate, num_channels, "wav32f") for name in stem_names]
    started = time.perf_counter()
    try:
        regions = separator.separate_regions(read_blocks(info), rate, num_channels, info.num_frames, prompts,
                                             progress, channels)
        for mixture, stems in regions:
            for writer, stem in zip(writers, stems):
                writer.write(stem)
            overview.push(mixture, stems)
        record = overview.record()
        for writer in writers:
            writer.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    return {"version": FORMAT_VERSION, "input": str(info.path), "sample_rate": rate, "num_channels": num_channels,
            "num_frames": info.num_frames, "prompts": list(prompts), "stems": stem_names,
            "separated_seconds": time.perf_counter() - started, **record}


class _Overview:
    """What the page draws before a region loads, measured region by region: peaks of every source's stereo
    fold-down, and the DBR of the speech windows (programme, dialogue and background meters, the detector)."""

    def __init__(self, info: AudioInfo, prompts: Sequence[str], stem_names: list[str], threshold_lu: float) -> None:
        self._info, self._threshold_lu = info, threshold_lu
        self._fold = stereo_fold_down(info.channel_layout or ("FL", "FR")[: info.num_channels])
        self._sources = ["original", *stem_names, "rest"]  # "rest": mixture - Σ stems, the residual or background
        self._peaks = {name: PeakMeter(info.num_frames, PEAK_BUCKETS) for name in self._sources}
        self._speech = prompts.index(SPEECH_PROMPT) if SPEECH_PROMPT in prompts else None
        self._meters = _clarity_meters(info.sample_rate, info.num_channels) if self._speech is not None else None
        self._detector = SpeechPresence(info.sample_rate, info.num_channels, dialogue_channels(info.channel_layout)) \
            if self._meters else None

    def push(self, mixture: np.ndarray, stems: np.ndarray) -> None:
        for name, block in zip(self._sources, [mixture, *stems, mixture - stems.sum(axis=0)]):
            self._peaks[name].push(self._fold @ block)
        if self._meters:
            _meter_clarity(self._meters, mixture, stems[self._speech])
            self._detector.push(mixture, stems[self._speech])

    def record(self) -> dict:
        clarity = None
        if self._meters:
            clarity = dialogue_clarity(*self._meters, self._threshold_lu, self._detector.programme_windows(HOP_SECONDS))
        return {"peaks": {name: peaks_record(meter) for name, meter in self._peaks.items()},
                "clarity": _clarity_record(clarity)}


def _clarity_meters(sample_rate: int, num_channels: int) -> list[LoudnessMeter] | None:
    """Programme, dialogue and background meters every 100 ms; None where BS.1770 has no weights."""
    try:
        return [LoudnessMeter(sample_rate, num_channels, HOP_SECONDS) for _ in range(3)]
    except ValueError:
        return None


def _meter_clarity(meters: list[LoudnessMeter], mixture: np.ndarray, dialogue: np.ndarray) -> None:
    """Programme, dialogue and background (programme - dialogue) meters: the background's K-weighting is
    the difference of the other two (the filters are linear), a third of the filtering saved."""
    programme, speech, background = meters
    weighted_programme, weighted_dialogue = programme.k_weighted(mixture), speech.k_weighted(dialogue)
    programme.push_k_weighted(weighted_programme, float(np.abs(mixture).max(initial=0.0)))
    speech.push_k_weighted(weighted_dialogue, float(np.abs(dialogue).max(initial=0.0)))
    background.push_k_weighted(weighted_programme - weighted_dialogue, 0.0)  # its peak is never read


def _clarity_record(clarity: DialogueClarity | None) -> dict | None:
    if clarity is None:
        return None
    return {"dbr_lu": [v if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in np.round(clarity.dbr_lu, 2)],
            "dialogue": clarity.dialogue.tolist(), "hop_seconds": clarity.hop_seconds,
            "threshold_lu": clarity.threshold_lu}


def peaks_record(meter: PeakMeter) -> list[list[float]]:
    """[minima, maxima] of a peak meter as the overview holds them (JSON numbers, 4 decimals)."""
    return [np.round(values.astype(np.float64), 4).tolist() for values in (meter.minima, meter.maxima)]


class CachedSeparation:
    """The cached stems of one region, replayed to remix in place of a separator: the preview runs the
    same remix code over the same stems the whole-file separation made, with no model in the loop."""

    def __init__(self, entry: CacheEntry, first_frame: int, name: str, dialogue_engine: str) -> None:
        self.entry, self.first_frame = entry, first_frame
        self.name, self.dialogue_engine = name, dialogue_engine
        self.prompts = tuple(entry.record["prompts"])

    def separate_regions(self, blocks: Iterable[np.ndarray], sample_rate: int, num_channels: int, num_frames: int,
                         prompts: Sequence[str], progress=None, channels=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(mixture (C, m), stems (P, C, m)) of the region, block by block, as Separator.separate_regions."""
        if tuple(prompts) != self.prompts:
            raise TussFxError("preview", f"the cache holds {self.prompts}, not {tuple(prompts)}")
        done = 0
        for block in blocks:
            yield block, self.entry.read_stems(self.first_frame + done, block.shape[1])
            done += block.shape[1]
            if progress:
                progress(done, num_frames)

