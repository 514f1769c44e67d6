"""Batch jobs over many files: one model per worker, a JSON-lines manifest that makes reruns resume.

The manifest (`manifest.jsonl` in the output folder) gets one line per finished attempt: the
input's size and SHA-256, the job and model identity, the tuss-fx version, status, loudness,
outputs (with frames, rate and channels) and seconds taken. A rerun skips an input only when its
latest line says done for the same input bytes, job, model and version **and** every output it
lists is on disk with the input's length, rate and channel count; anything else is done again.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from tuss_fx.errors import TussFxError
from tuss_fx.measure.loudness import LoudnessMeter
from tuss_fx.media.audio_io import AUDIO_SUFFIXES, AudioInfo, feed_file, file_extension, probe, read_blocks
from tuss_fx.mix.presets import load_preset
from tuss_fx.mix.remix import remix_file
from tuss_fx.mix.replace import Replacement
from tuss_fx.mix.request import RemixRequest
from tuss_fx.model.prompts import DMX_PROMPTS
from tuss_fx.separation.files import DEFAULT_FILENAME, output_path, plan_separation, separate_file
from tuss_fx.separation.separator import Separator, stem_names

MANIFEST_NAME = "manifest.jsonl"
REMIX_FILENAME = "{track}.{ext}"
Result = Callable[[dict], None]  # receives each input's manifest entry as it finishes


class BatchError(TussFxError):
    """A batch that cannot start: no inputs, or two inputs that would write the same output."""


@dataclass(frozen=True)
class BatchJob:
    """What happens to every input; picklable, so each worker process builds its own model from it."""

    mode: str  # "remix" or "separate"
    out_dir: Path
    preset: str = "dialogue-boost"  # remix
    overrides: tuple[str, ...] = ()
    prompts: tuple[str, ...] = DMX_PROMPTS  # separate
    residual: bool = False
    filename: str | None = None  # template with {track}, {stem}, {ext}; default per mode
    file_format: str = "wav"
    checkpoint: str = "default"
    device: str = "auto"
    segment_seconds: float | None = None
    overlap: float = 0.25
    precision: str = "auto"
    batch_size: int | None = None
    dialogue_engine: str | None = None  # None: the preset's (remix), else auto
    dialogue_atten_lim_db: float | None = None
    plan: str | None = None  # remix: auto, stems or dialogue (tuss_fx.mix.plan); None: the preset's
    engine_channels: str = "front"  # remix: the channels the separation engines get (tuss_fx.media.layout)
    # remix: (stem, folder) pairs: each input's stem is replaced by the recording in the folder named after it
    # (take2.wav for take2.mov), matched per `match` and `match_eq` (tuss_fx.mix.replace)
    replace_from: tuple[tuple[str, str], ...] = ()
    match: str = "lines"
    match_eq: bool = False

    @property
    def template(self) -> str:
        return self.filename or (REMIX_FILENAME if self.mode == "remix" else DEFAULT_FILENAME)

    def identity(self) -> dict:
        """What the outputs depend on besides the input and the model (the manifest compares it)."""
        job = {"mode": self.mode, "filename": self.template, "format": self.file_format,
               "segment_seconds": self.segment_seconds, "overlap": self.overlap, "precision": self.precision,
               "dialogue_engine": self.engine(), "dialogue_atten_lim_db": self.dialogue_atten_lim_db}
        if self.mode == "remix":
            preset = load_preset(self.preset, self.overrides)
            job["preset"] = {"name": preset.name, "sha256": hashlib.sha256(repr(preset).encode()).hexdigest()}
            job.update(plan=self.plan or preset.plan, engine_channels=self.engine_channels)
            if self.replace_from:
                job.update(replace_from=[list(pair) for pair in self.replace_from], match=self.match,
                           match_eq=self.match_eq)
        else:
            job.update(prompts=list(self.prompts), residual=self.residual)
        return job

    def outputs(self, input_path: Path) -> dict[str, Path]:
        """Output name -> path for one input."""
        if self.mode == "remix":
            return {"remix": output_path(self.out_dir, self.template, input_path.stem, "remix", self.extension)}
        names = [*stem_names(self.prompts), *(["residual"] if self.residual else [])]
        return {name: output_path(self.out_dir, self.template, input_path.stem, name, self.extension)
                for name in names}

    @property
    def extension(self) -> str:
        return file_extension(self.file_format)

    def engine(self) -> str:
        """The dialogue engine asked for: the job's, else the remix preset's, else auto."""
        preset = load_preset(self.preset, self.overrides) if self.mode == "remix" else None
        return self.dialogue_engine or (preset.dialogue_engine if preset else None) or "auto"

    def process(self, separator: Separator, item: str) -> dict:
        """One input's manifest entry (process_input): what a worker, local or on Ray, runs per item."""
        return process_input(self, separator, Path(item))

    def load_separator(self) -> Separator:
        return Separator.from_pretrained(self.checkpoint, device=self.device, segment_seconds=self.segment_seconds,
                                         overlap=self.overlap, precision=self.precision, batch_size=self.batch_size,
                                         dialogue_engine=self.engine(),
                                         dialogue_atten_lim_db=self.dialogue_atten_lim_db)


def collect_inputs(items: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively for audio, globs (`**` included) expanded; each once,
    in the order given (a folder's and a glob's files sorted)."""
    found: list[Path] = []
    for item in map(str, items):
        if Path(item).is_dir():
            found += sorted(p for p in Path(item).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                            and not p.name.startswith("."))
        elif glob.has_magic(item):
            found += sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        else:
            found.append(Path(item))
    return list(dict.fromkeys(path.absolute() for path in found))


def check_outputs_distinct(job: BatchJob, inputs: Sequence[Path]) -> None:
    """Raise BatchError when two inputs would write the same file (same name in two folders)."""
    owner: dict[Path, Path] = {}
    for path in inputs:
        for target in job.outputs(path).values():
            if target in owner:
                raise BatchError(target, f"both {owner[target]} and {path} would write it; put {{track}} in a "
                                 "subfolder per source folder, or batch the folders into separate output folders")
            owner[target] = path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    feed_file(digest, path)
    return digest.hexdigest()


def failed_entry(input_path: str, error: str) -> dict:
    """The manifest entry of an input that never reached process_input's own error handling."""
    return {"input": input_path, "status": "failed", "error": f"{input_path}: {error}", "outputs": {}}


class Manifest:
    """The JSON-lines record of a batch folder; the latest line for an input wins."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.entries: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by a kill: that input is simply done again
                self.entries[entry["input"]] = entry

    def append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.entries[entry["input"]] = entry

    def is_done(self, path: Path, identity: dict) -> bool:
        """True when the latest entry is done for this input, job, model and version, and its outputs verify."""
        entry = self.entries.get(str(path))
        if not entry or entry["status"] != "done" or not path.is_file() or entry["size"] != path.stat().st_size:
            return False
        if any(entry.get(key) != value for key, value in identity.items()) or entry["sha256"] != file_sha256(path):
            return False
        expected = (entry["frames"], entry["sample_rate"], entry["channels"])
        return bool(entry["outputs"]) and all(_verifies(output["path"], expected) for output in entry["outputs"].values())


def _verifies(path: str, expected: tuple[int, int, int]) -> bool:
    """An output is on disk, readable, with the input's length, rate and channel count."""
    try:
        info = probe(path)
    except TussFxError:
        return False
    return (info.num_frames, info.sample_rate, info.num_channels) == expected


def run_identity(job: BatchJob, model_sha256: str) -> dict:
    """The fields a manifest entry must share with this run for its outputs to count as done."""
    return {"job": job.identity(), "model": {"checkpoint": str(job.checkpoint), "sha256": model_sha256},
            "version": version("tuss-fx")}


def process_input(job: BatchJob, separator: Separator, input_path: Path) -> dict:
    """Run the job on one input and return its manifest entry (without the run identity).

    A failure is recorded, never raised, except for signals and Ctrl-C, which must stop the batch.
    """
    return attempt(str(input_path), input_path, lambda entry: _process_input(job, separator, input_path, entry))


def attempt(item: str, where: str | Path, work: Callable[[dict], None], **known) -> dict:
    """The manifest entry of one item of a job (an input file, a conform's range): `work` fills it in;
    done when it returns, else failed with its error in one line (a TussFxError as it reads, other
    I/O, value and memory errors after `where`), and the seconds taken. `known`: fields the entry
    carries either way. Signals and Ctrl-C are not caught: they must stop the run."""
    start = time.perf_counter()
    entry = {"input": item, "status": "failed", "error": None, "outputs": {},
             "worker": f"{socket.gethostname()}:{os.getpid()}", **known}
    try:
        work(entry)
        entry["status"] = "done"
    except TussFxError as exc:
        entry["error"] = str(exc)
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        entry["error"] = f"{where}: {type(exc).__name__}: {exc}"
    entry["seconds"] = time.perf_counter() - start
    return entry


def _process_input(job: BatchJob, separator: Separator, input_path: Path, entry: dict) -> None:
    entry["size"], entry["sha256"] = input_path.stat().st_size, file_sha256(input_path)
    info = probe(input_path)
    entry["audio_seconds"] = info.duration_seconds
    entry["frames"], entry["sample_rate"], entry["channels"] = info.num_frames, info.sample_rate, info.num_channels
    targets = job.outputs(input_path)
    if job.mode == "remix":
        replacements = tuple(Replacement(stem, recording_for(input_path, Path(folder)))
                             for stem, folder in job.replace_from)
        entry["replacements"] = {r.stem: {"path": str(r.path), "sha256": file_sha256(r.path)} for r in replacements}
        request = RemixRequest(targets["remix"], job.file_format, stems_format=job.file_format, overwrite=True,
                               plan=job.plan, engine_channels=job.engine_channels, replacements=replacements,
                               match=job.match, match_eq=job.match_eq)
        report = remix_file(separator, load_preset(job.preset, job.overrides), input_path, request)
        entry["input_lufs"], entry["output_lufs"] = report.input_lufs, {"remix": report.output_lufs}
        entry["plan"] = report.plan.describe()
    else:
        plan = plan_separation(input_path, job.prompts, job.out_dir, job.file_format, job.template,
                               job.residual, overwrite=True)
        separate_file(separator, plan)
        entry["input_lufs"] = integrated_lufs(info)
    written = {name: probe(path) for name, path in targets.items()}
    if job.mode == "separate":
        entry["output_lufs"] = {name: integrated_lufs(output) for name, output in written.items()}
    entry["outputs"] = {name: {"path": str(output.path), "frames": output.num_frames,
                               "sample_rate": output.sample_rate, "channels": output.num_channels}
                        for name, output in written.items()}


def recording_for(input_path: Path, folder: Path) -> Path:
    """The recording in `folder` named after the input (take2.wav or take2.flac for take2.mov): its
    replacement in a batch.

    Raises:
        BatchError: none there, or more than one.
    """
    found = sorted(path for path in folder.glob(f"{glob.escape(input_path.stem)}.*")
                   if path.suffix.lower() in AUDIO_SUFFIXES)
    if len(found) != 1:
        names = ", ".join(path.name for path in found) or "none"
        raise BatchError(input_path, f"needs one recording named {input_path.stem}.* in {folder} to replace its "
                                     f"stem with (found {names})")
    return found[0]


def integrated_lufs(info: AudioInfo) -> float | None:
    """BS.1770 integrated loudness of a file, streamed; None when shorter than one 400 ms block or of
    a channel layout the meter has no weights for."""
    try:
        meter = LoudnessMeter(info.sample_rate, info.num_channels)
    except ValueError:
        return None  # a layout BS.1770 gives no channel weights for (e.g. 7 or 12 channels)
    for block in read_blocks(info):
        meter.push(block)
    try:
        value = meter.integrated_lufs()
    except ValueError:
        return None
    return value if math.isfinite(value) else None
