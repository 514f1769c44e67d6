"""File-level jobs the CLI and scripts call: one function per job, streaming from disk to disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tuss_fx.media.audio_io import (AudioInfo, WriterGroup, check_targets, concrete_format, file_extension, probe,
                                    read_blocks)
from tuss_fx.media.bwf import BroadcastOutput, broadcast_output, tool_version
from tuss_fx.report.recorder import ReportRecorder, check_report_target, programme_name
from tuss_fx.separation.separator import RESIDUAL, Progress, Separator, source_names, stem_names

DEFAULT_FILENAME = "{track}/{stem}.{ext}"


def output_path(out_dir: Path, template: str, track: str, stem: str, ext: str) -> Path:
    """The one place output names are built: `template` with {track}, {stem} and {ext}."""
    try:
        return out_dir / template.format(track=track, stem=stem, ext=ext)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"filename template {template!r}: unknown field {exc}") from None


@dataclass(frozen=True)
class SeparationJob:
    """What `separate_file` will read and write, resolved before any work starts."""

    info: AudioInfo
    prompts: tuple[str, ...]
    outputs: dict[str, Path]  # stem name (or "residual") -> target path
    report: Path | None = None  # a PNG or HTML report (and its JSON) of the separation
    file_format: str = "wav32f"  # an OUTPUT_FORMATS name, the input's depth resolved
    broadcast: BroadcastOutput | None = None  # a Broadcast WAV input's chunks, carried into WAV outputs


def plan_separation(
    input_path: Path,
    prompts: Sequence[str],
    out_dir: Path,
    file_format: str = "wav",
    filename: str = DEFAULT_FILENAME,
    residual: bool = False,
    overwrite: bool = False,
    audio_track: int | None = None,
    report: Path | None = None,
) -> SeparationJob:
    """Probe the input and name the outputs; raises before anything is written.

    audio_track: the track of a film container (1-based, default the first). report: where to
    draw the report (PNG or HTML, a JSON beside it). file_format: a FORMAT_CHOICES name ("wav"
    follows the input's PCM depth). A Broadcast WAV input makes every WAV output one too.

    Raises:
        AudioReadError: a bad input. AudioWriteError: an output exists and overwrite is False.
        ValueError: unknown format or template field.
    """
    concrete_format(file_format)  # an unknown format fails before the input is read
    info = probe(input_path, audio_track)
    chosen = concrete_format(file_format, info.pcm_bits)
    names = source_names(prompts) if residual else stem_names(prompts)
    outputs = {name: output_path(out_dir, filename, input_path.stem, name, file_extension(chosen)) for name in names}
    check_targets(list(outputs.values()), overwrite)
    if report:
        check_report_target(report, overwrite)
    return SeparationJob(info, tuple(prompts), outputs, report, chosen, broadcast_output(info, "separate"))


def separate_file(
    separator: Separator, job: SeparationJob, progress: Progress | None = None
) -> dict[str, Path]:
    """Stream one file through the separator into one file per stem (and the residual), in
    job.file_format (a Broadcast WAV input's bext and iXML carried into each).

    Stems keep the input's sample rate, channel count and length. The residual is
    mixture − Σ stems, so stems + residual reproduce the input to float precision. All outputs
    appear together when the whole file is done, or not at all.

    Returns:
        stem name -> written path.
    """
    info = job.info
    stems = stem_names(job.prompts)
    recorder = None
    if job.report:
        recorder = ReportRecorder(info, source_names(job.prompts), f"{programme_name(info)} separated", None,
                                  processed=False)
    regions = separator.separate_regions(read_blocks(info), info.sample_rate, info.num_channels, info.num_frames,
                                         job.prompts, progress)
    broadcast = job.broadcast and replace(job.broadcast, process=f"{tool_version()} separate ({separator.name}, "
                                                                 f"speech by {separator.dialogue_engine})")
    with WriterGroup(job.outputs, info.sample_rate, info.num_channels, job.file_format, broadcast) as writers:
        for mixture, region in regions:
            for name, stem in zip(stems, region):
                writers[name].write(stem)
            if RESIDUAL in writers:
                writers[RESIDUAL].write(mixture - region.sum(axis=0))
            if recorder:
                recorder.push_input(mixture, region)
    if recorder:
        recorder.write(job.report)
    return dict(job.outputs)

