"""`tuss-fx batch`: a preset remix or a separation over many files, resumable from its manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tuss_fx.cli.options import (ENGINE_CHANNELS_OPTION, FORMAT_HELP, PLAN_OPTION, check_template, model_options,
                                 replace_from_options)
from tuss_fx.media.audio_io import FORMAT_CHOICES
from tuss_fx.model.prompts import DMX_PROMPTS


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the outputs and manifest.jsonl.")
@click.option("--preset", default="dialogue-boost", show_default=True, help="Remix preset (name or .toml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a preset value (repeatable).")
@click.option("--separate", "separate_mode", is_flag=True, help="Separate into stems instead of remixing.")
@click.option("-p", "--prompt", "prompts", multiple=True, default=DMX_PROMPTS, show_default=True,
              help="With --separate: source to extract, once per stem.")
@click.option("--residual", is_flag=True, help="With --separate: also write mixture - sum of stems.")
@click.option("--filename", default=None, callback=check_template,
              help="Output name template relative to --out-dir with {track}, {stem}, {ext} "
                   "[default: {track}.{ext} for a remix, {track}/{stem}.{ext} for --separate].")
@click.option("--format", "file_format", type=click.Choice(FORMAT_CHOICES), default="wav", show_default=True,
              help=FORMAT_HELP)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine, one model each, CPU threads split between them; with "
                   "--ray, the number of actors.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Run on a Ray cluster instead (auto, or ray://host:10001); paths must be shared storage.")
@PLAN_OPTION
@ENGINE_CHANNELS_OPTION
@replace_from_options
@click.option("--json", "as_json", is_flag=True, help="One JSON line per file on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@model_options
def batch(inputs, out_dir, preset, overrides, separate_mode, prompts, residual, filename, file_format, workers,
          ray_address, plan, engine_channels, replace_from, match, match_eq, as_json, quiet, checkpoint, device,
          segment_seconds, overlap, precision, batch_size, dialogue_engine, dialogue_atten_lim_db) -> None:
    """Remix (or --separate) INPUTS: files, folders (searched recursively) and quoted globs.

    A rerun skips the files whose manifest entry is done and whose outputs verify; the rest are
    done again. The exit status is 0 only if every file succeeded.
    """
    from tuss_fx.batch.jobs import BatchError, BatchJob, collect_inputs
    from tuss_fx.batch.local import run_batch

    job = BatchJob("separate" if separate_mode else "remix", out_dir.absolute(), preset, tuple(overrides),
                   tuple(prompts), residual, filename, file_format, checkpoint, device, segment_seconds, overlap,
                   precision, batch_size, dialogue_engine, dialogue_atten_lim_db, plan, engine_channels,
                   replace_from, match, match_eq)
    if replace_from and separate_mode:
        raise click.BadParameter("a replacement is a remix's; --separate writes the stems as they are",
                                 param_hint="--replace")
    paths = collect_inputs(inputs)
    if not paths:
        raise BatchError(" ".join(inputs), "no audio files found")
    progress = _Progress(paths, quiet)

    def on_entry(entry: dict) -> None:
        progress.advance(entry)
        _emit(entry, as_json)

    with progress:
        summary = run_batch(job, paths, workers, ray_address, on_entry)
    if summary.failed:
        raise BatchError(summary.manifest, f"{summary.failed} of {len(paths)} files failed (their errors are above "
                         "and in the manifest); a rerun retries them")


def _emit(entry: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({key: entry.get(key) for key in ("input", "status", "error", "outputs", "input_lufs",
                                                              "output_lufs", "seconds", "audio_seconds")}))
    elif entry["status"] == "failed":
        click.echo(f"error: {entry['error']}", err=True)
    elif entry["status"] == "skipped":
        click.echo(f"skipped (done): {entry['input']}", err=True)
    else:
        for output in entry["outputs"].values():
            click.echo(output["path"])


class _Progress:
    """Files and hours of audio done, with the time left, on stderr when it is a terminal."""

    def __init__(self, paths: list[Path], quiet: bool) -> None:
        # probing reads only headers; a file that fails it counts no audio and fails in the run
        from tuss_fx.errors import TussFxError
        from tuss_fx.media.audio_io import probe

        self._seconds = {}
        for path in paths:
            try:
                self._seconds[str(path)] = probe(path).duration_seconds
            except TussFxError:
                self._seconds[str(path)] = 0.0
        self._files, self._done_seconds, self._done_files = len(paths), 0.0, 0
        total = max(1, round(sum(self._seconds.values())))
        self._bar = None if quiet or not sys.stderr.isatty() else click.progressbar(
            length=total, label="batch", file=sys.stderr, show_eta=True, item_show_func=lambda text: text)

    def __enter__(self):
        if self._bar:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar:
            self._bar.__exit__(*exc)

    def advance(self, entry: dict) -> None:
        seconds = self._seconds.get(entry["input"], 0.0)
        self._done_seconds += seconds
        self._done_files += 1
        if self._bar:
            self._bar.update(round(self._done_seconds) - self._bar.pos,
                             f"{self._done_files}/{self._files} files, {self._done_seconds / 3600:.2f}/"
                             f"{sum(self._seconds.values()) / 3600:.2f} h")
