"""Process a timeline's source ranges: each once, into Broadcast WAVs stamped with the range's source
timecode and clip names, resumably (a manifest like a batch's), in this process or on Ray.

A conform processes parts of an edit, not programmes: a preset's loudness target is not applied
(each range normalised on its own would jump in level at every cut; normalise the mix), its
chains, gains, ride and peak ceiling are. A stem replaced (a dub, ADR: the engine's replace_from) is
replaced per source: the recording named after the source, made for the whole source, gives each range
its samples over that range (mix.replace), its lines matched within the range.
"""

from __future__ import annotations

import hashlib
import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path

from tuss_fx.batch.jobs import BatchJob, Manifest, Result, attempt, recording_for
from tuss_fx.errors import TussFxError
from tuss_fx.media.audio_io import file_extension, probe
from tuss_fx.media.bwf import Bext, BroadcastChunks, BroadcastOutput, tool_version
from tuss_fx.mix.plan import choose_plan
from tuss_fx.mix.presets import Preset, load_preset
from tuss_fx.mix.remix import remix_probed
from tuss_fx.mix.replace import Replacement
from tuss_fx.mix.request import RemixRequest
from tuss_fx.separation.checkpoint import weights_digest
from tuss_fx.separation.separator import RESIDUAL, Separator
from tuss_fx.timeline.edit import clock
from tuss_fx.timeline.ranges import SourceRange

MEDIA_FOLDER = "media"
RESIDUAL_NAMES = ("background", RESIDUAL)  # --split names for mixture - the other stems
FrameProgress = Callable[[int], None]  # frames of source processed since the last call


@dataclass(frozen=True)
class ConformJob:
    """What happens to every range; picklable, so a Ray actor builds its own model from it.

    engine: the model and preset settings (a BatchJob in remix mode, or separate mode with the
    split's prompts). split: stem names when the clips become stems; () for a preset.
    """

    engine: BatchJob
    ranges: tuple[SourceRange, ...]
    project: str  # the timeline's name: iXML PROJECT
    split: tuple[str, ...] = ()
    file_format: str = "wav24"

    @property
    def media_dir(self) -> Path:
        return self.engine.out_dir / MEDIA_FOLDER

    def range(self, key: str) -> SourceRange:
        return next(item for item in self.ranges if item.key == key)

    def preset(self) -> Preset:
        """The preset as a conform runs it: no loudness target; a split's stems at unity."""
        if not self.split:
            return replace(load_preset(self.engine.preset, self.engine.overrides), target_lufs=None)
        return split_preset(self.split)

    def outputs(self, item: SourceRange) -> dict[str, Path]:
        """Output name -> path: "audio" for a preset, one per stem for a split."""
        extension = file_extension(self.file_format)
        if not self.split:
            return {"audio": self.media_dir / f"{item.key}.{extension}"}
        return {name: self.media_dir / f"{item.key}.{name}.{extension}" for name in self.preset().source_names}

    def identity(self) -> dict:
        """What the outputs depend on besides the range and the model (the manifest compares it)."""
        return {"engine": self.engine.identity(), "split": list(self.split), "format": self.file_format}

    def load_separator(self) -> Separator:
        return self.engine.load_separator()

    def replacements(self, source: Path) -> tuple[Replacement, ...]:
        """The recordings that replace stems of `source`'s ranges (cut to each range): one per
        engine.replace_from folder, named after the source.

        Raises:
            BatchError: a folder without exactly one recording named after the source.
        """
        return tuple(Replacement(stem, recording_for(source, Path(folder)), cut=True)
                     for stem, folder in self.engine.replace_from)

    def process(self, separator: Separator, key: str, progress: FrameProgress | None = None) -> dict:
        """One range's manifest entry; a failure is recorded, never raised (but signals and Ctrl-C)."""
        item = self.range(key)

        def render(entry: dict) -> None:
            render_range(self, separator, item, progress)
            entry["outputs"] = {name: {"path": str(path), "frames": item.num_frames, "sample_rate": item.sample_rate}
                                for name, path in self.outputs(item).items()}

        return attempt(key, item.source, render, **range_identity(item, self))


def split_preset(names: Sequence[str]) -> Preset:
    """A unity preset whose stems are `names`: prompts, and last a residual ("background" or
    "residual"; added as "residual" when not named, so the stems always sum to the source)."""
    prompts = tuple(name for name in names if name not in RESIDUAL_NAMES)
    residual = next((name for name in names if name in RESIDUAL_NAMES), RESIDUAL)
    return Preset("split", prompts, "--split " + ",".join(names), residual_name=residual, ceiling_db=0.0)


def range_identity(item: SourceRange, job: ConformJob) -> dict:
    """The range and the source bytes it was cut from (size and modification time: hashing a film
    per range would cost more than the range), and those of the recordings replacing its stems."""
    identity = {"source": str(item.source), "audio_track": item.audio_track, "first_frame": item.first_frame,
                "frames": item.num_frames, "sample_rate": item.sample_rate, "source_stamp": _stamp(item.source)}
    if job.engine.replace_from:
        identity["recordings"] = {replacement.stem: [str(replacement.path), *_stamp(replacement.path)]
                                  for replacement in job.replacements(item.source)}
    return identity


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def render_range(job: ConformJob, separator: Separator, item: SourceRange, progress: FrameProgress | None) -> None:
    """Process one range through the streaming remix engine into its Broadcast WAV(s)."""
    info = item.excerpt(probe(item.source, item.audio_track))
    preset = job.preset()
    # a split asks for exactly its stems: the dialogue plan would fold music and effects into one
    plan = choose_plan(preset, separator, "stems" if job.split else job.engine.plan)
    process = f"{tool_version()} conform {plan.preset.name} ({plan.name} plan)"
    stamp = BroadcastOutput(range_chunks(item, job.project, process), item.sample_rate, process)
    on_frames = _frames_reporter(progress)
    targets = job.outputs(item)
    job.media_dir.mkdir(parents=True, exist_ok=True)
    if not job.split:
        request = RemixRequest(targets["audio"], job.file_format, overwrite=True,
                               engine_channels=job.engine.engine_channels, broadcast=stamp,
                               replacements=job.replacements(item.source), match=job.engine.match,
                               match_eq=job.engine.match_eq)
        remix_probed(separator, plan, info, request, on_frames)
        return
    parts = job.media_dir / f".{item.key}.parts"  # the stems land here, then move beside the others
    shutil.rmtree(parts, ignore_errors=True)
    try:
        request = RemixRequest(parts / "sum.wav", "wav32f", parts, job.file_format, overwrite=True,
                               engine_channels=job.engine.engine_channels, broadcast=stamp)
        report = remix_probed(separator, plan, info, request, on_frames)
        for name, target in targets.items():
            report.stems[name].replace(target)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def range_chunks(item: SourceRange, project: str, process: str) -> BroadcastChunks:
    """bext and iXML of a range's medium: TimeReference at the range's source timecode, the clip
    names in the description, the source as the tape, so a DAW relinks by name and timecode."""
    names = " / ".join(item.names)
    reference = round(item.start * item.sample_rate)
    bext = Bext(description=names[:256], originator="tuss-fx", originator_reference=item.key[:32],
                time_reference=reference)
    return BroadcastChunks(bext, _ixml(item, project, names, process, reference))


def _ixml(item: SourceRange, project: str, names: str, process: str, reference: int) -> bytes:
    """An iXML (v2.10) document: project, tape, note, and the SPEED block a DAW reads timecode from."""
    root = ElementTree.Element("BWFXML")
    rate = clock(item.rate)
    fields = {"IXML_VERSION": "2.10", "PROJECT": project, "TAPE": item.source.stem, "NOTE": f"{names}: {process}",
              "FILE_UID": hashlib.sha1(f"{item.source}:{item.first_frame}:{item.num_frames}".encode()).hexdigest()}
    for tag, text in fields.items():
        ElementTree.SubElement(root, tag).text = text
    speed = ElementTree.SubElement(root, "SPEED")
    for tag, text in {"TIMECODE_RATE": f"{rate.frame_rate.numerator}/{rate.frame_rate.denominator}",
                      "TIMECODE_FLAG": "DF" if rate.drop_frame else "NDF",
                      "TIMESTAMP_SAMPLE_RATE": str(item.sample_rate),
                      "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_HI": str(reference >> 32),
                      "TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO": str(reference & 0xFFFFFFFF)}.items():
        ElementTree.SubElement(speed, tag).text = text
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="utf-8")


def _frames_reporter(progress: FrameProgress | None):
    """A Separator progress callback (done, total) that hands the frames done since the last call on."""
    if progress is None:
        return None
    last = [0]

    def report(done: int, total: int) -> None:
        progress(done - last[0])
        last[0] = done

    return report


@dataclass(frozen=True)
class ConformSummary:
    processed: int
    skipped: int
    failed: int
    errors: tuple[str, ...]
    manifest: Path


def run_conform(job: ConformJob, ray_address: str | None = None, actors: int = 1,
                progress: FrameProgress | None = None, on_entry: Result | None = None) -> ConformSummary:
    """Process every range a previous run did not finish (is_done), recording each in the manifest:
    here, in `actors` local worker processes (one model each, the CPU threads split), or on the Ray
    cluster at `ray_address` with `actors` actors.

    Raises:
        CheckpointError / PresetError / PromptError: a bad model, preset or prompt, before any work.
    """
    separator = job.load_separator()
    job.preset().check_prompts(separator.prompts)
    identity = {"job": job.identity(), "model": {"checkpoint": str(job.engine.checkpoint),
                                                 "sha256": weights_digest(separator.model)},
                "version": version("tuss-fx")}
    manifest = Manifest(job.engine.out_dir)
    counts = {"done": 0, "skipped": 0, "failed": 0}
    errors = []
    todo = []
    for item in job.ranges:
        if is_done(manifest, job, item, identity):
            counts["skipped"] += 1
            if progress:
                progress(item.num_frames)
            if on_entry:
                on_entry({"input": item.key, "status": "skipped"})
        else:
            todo.append(item.key)

    def record(entry: dict) -> None:
        entry = {**entry, **identity}
        manifest.append(entry)
        counts[entry["status"]] += 1
        if entry["status"] == "failed":
            errors.append(entry["error"])
        if (ray_address or actors > 1) and progress:
            progress(job.range(entry["input"]).num_frames)  # whole ranges: workers report no frames
        if on_entry:
            on_entry(entry)

    if ray_address:
        from tuss_fx.batch.ray_cluster import run_ray

        del separator  # each actor loads its own
        run_ray(job, todo, ray_address, record, actors=actors)
    elif actors > 1:
        from tuss_fx.batch.local import run_local

        del separator
        run_local(job, todo, actors, record)
    else:
        for key in todo:
            record(job.process(separator, key, progress))
    return ConformSummary(counts["done"], counts["skipped"], counts["failed"], tuple(errors), manifest.path)


def is_done(manifest: Manifest, job: ConformJob, item: SourceRange, identity: dict) -> bool:
    """The latest entry for the range is done, for this range of the same source bytes, job, model
    and version, and every output is on disk with the range's length and rate."""
    entry = manifest.entries.get(item.key)
    if not entry or entry.get("status") != "done":
        return False
    if any(entry.get(key) != value for key, value in {**identity, **range_identity(item, job)}.items()):
        return False
    for path in job.outputs(item).values():
        try:
            written = probe(path)
        except TussFxError:
            return False
        if (written.num_frames, written.sample_rate) != (item.num_frames, item.sample_rate):
            return False
    return True

