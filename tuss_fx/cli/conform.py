"""`tuss-fx conform`: an edit's clips processed once per source range, and the timeline handed back."""

from __future__ import annotations

from pathlib import Path

import click

from tuss_fx.cli.options import (ENGINE_CHANNELS_OPTION, PLAN_OPTION, model_options, progress_bar,
                                 replace_from_options)
from tuss_fx.media.audio_io import FORMAT_CHOICES


@click.command()
@click.argument("timeline_path", metavar="TIMELINE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the new media (media/), the timeline and manifest.jsonl [default: "
                   "TIMELINE's name + .conformed beside it]. A rerun into it skips the finished ranges.")
@click.option("--tracks", "patterns", multiple=True, metavar="PATTERN",
              help="Audio tracks to process, by name or place (A1, A2...), shell globs such as \"DIA*\" "
                   "(repeatable) [default: every audio track].")
@click.option("--preset", default=None, help="Remix preset for every chosen clip (name or .toml); its loudness "
                                             "target is not applied (normalise the mix, not each clip).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a preset value (repeatable).")
@click.option("--split", default=None, metavar="STEMS",
              help="Instead of a preset: each chosen track becomes one track per stem, e.g. speech,background "
                   "(the dialogue and mix - dialogue) or speech,sfxbg,musicbg,residual.")
@click.option("--media-root", "media_roots", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to find moved media in by file name (repeatable).")
@click.option("--audio-track", type=click.IntRange(min=1), default=1, show_default=True,
              help="The audio track of film sources (.mov .mp4 .mxf ...) the clips play, numbered from 1.")
@click.option("--handles", type=click.FloatRange(min=0.0), default=2.0, show_default=True,
              help="Seconds of source processed beyond each clip's ends (clamped to the media).")
@click.option("--format", "file_format", type=click.Choice(FORMAT_CHOICES), default="wav24", show_default=True,
              help="The new media: Broadcast WAV at 24-bit (TPDF-dithered) or another of tuss-fx's formats.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Process the ranges on a Ray cluster (auto, or ray://host:10001); paths must be shared storage.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine, one model each, CPU threads split between them; with "
                   "--ray, the number of actors.")
@PLAN_OPTION
@ENGINE_CHANNELS_OPTION
@replace_from_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@model_options
def conform(timeline_path, out_dir, patterns, preset, overrides, split, media_roots, audio_track, handles,
            file_format, ray_address, workers, plan, engine_channels, replace_from, match, match_eq, quiet, checkpoint,
            device, segment_seconds, overlap, precision, batch_size, dialogue_engine, dialogue_atten_lim_db) -> None:
    """Process the clips of TIMELINE's audio tracks and write a timeline that plays the results.

    TIMELINE is OpenTimelineIO (.otio, .otioz), AAF, FCP 7 XML (.xml), FCPX XML (.fcpxml) or a CMX 3600
    EDL. Every source range the chosen clips play is processed once, with handles, into a 24-bit
    Broadcast WAV stamped with the range's source timecode and clip names; the new timeline (in
    TIMELINE's format where its adapter can carry the new links, and always as .otio) keeps every
    clip where it was, with the same in and out. The media are checked before anything is processed.

    With --replace STEM=FOLDER (a dub, ADR) each source's STEM is replaced by the recording in FOLDER named
    after the source (reel1.wav for reel1.mov), made for the whole source and placed by timecode where both
    carry one: each range takes the recording over its span, matched to the original's lines in it.
    """
    from tuss_fx.batch.jobs import BatchJob
    from tuss_fx.timeline.conform import RESIDUAL_NAMES, ConformJob
    from tuss_fx.timeline.edit import TimelineError
    from tuss_fx.timeline.plan import conform_timeline, plan_conform

    if (preset is None) == (split is None):
        raise click.UsageError("give one of --preset or --split")
    if replace_from and split:
        raise click.BadParameter("a replacement is a remix's; --split writes the stems as they are",
                                 param_hint="--replace")
    stems = tuple(name.strip() for name in split.split(",") if name.strip()) if split else ()
    if split is not None and not stems:
        raise click.UsageError("--split needs stem names, e.g. speech,background")
    out_dir = (out_dir or timeline_path.with_name(f"{timeline_path.stem}.conformed")).absolute()
    planned = plan_conform(timeline_path, patterns, media_roots, handles, out_dir / "bundle", audio_track)
    click.echo(planned.describe(), err=True)
    engine = BatchJob("separate" if stems else "remix", out_dir, preset or "dialogue-boost", tuple(overrides),
                      tuple(name for name in stems if name not in RESIDUAL_NAMES), False, None,
                      file_format, checkpoint, device, segment_seconds, overlap, precision, batch_size,
                      dialogue_engine, dialogue_atten_lim_db, plan, engine_channels, replace_from, match, match_eq)
    job = ConformJob(engine, planned.ranges, planned.timeline.name or timeline_path.stem, stems, file_format)
    total = sum(item.num_frames for item in planned.ranges)
    with progress_bar("conform", quiet) as update:
        done = 0

        def advance(frames: int) -> None:
            nonlocal done
            done += frames
            update(done, total)

        summary, written = conform_timeline(planned, job, ray_address, workers, advance if update else None,
                                            _echo_entry)
    click.echo(f"{summary.processed} ranges processed, {summary.skipped} skipped (done before), "
               f"{summary.failed} failed", err=True)
    if written is None:
        raise TimelineError(summary.manifest, f"{summary.failed} of {len(planned.ranges)} ranges failed (above, and in "
                                              "the manifest); no timeline written; a rerun retries them")
    if written.note:
        click.echo(f"warning: {written.note}", err=True)
    for path in written.paths:
        click.echo(str(path))


def _echo_entry(entry: dict) -> None:
    if entry["status"] == "failed":
        click.echo(f"error: {entry['error']}", err=True)
