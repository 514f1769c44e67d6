"""`tuss-fx audition`: separate a programme once, then listen to it under faders in a local page and save
the gains as a preset."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from tuss_fx.cli.options import (AUDIO_TRACK_OPTION, ENGINE_CHANNELS_OPTION, PLAN_OPTION, device_note, load_separator,
                                 model_options, progress_bar, replace_options,
                                 replacement_line)
from tuss_fx.signals import Terminated


@click.command()
@click.argument("input_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--preset", default="dialogue-boost", show_default=True,
              help="The preset to start from (name or .toml): its plan is what gets separated, its gains are the "
                   "faders' starting points, and Render preview runs it whole.")
@click.option("--save", "save_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the page's Save writes the preset (the page may rename it within this folder) "
                   "[default: FILE's name + .audition.toml in the current folder].")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Print the page's URL and do not open a browser.")
@click.option("--no-cache", is_flag=True,
              help="Separate afresh and keep nothing (the stems are removed when the audition ends).")
@click.option("--cache-limit-gb", type=click.FloatRange(min=0.0), default=20.0, show_default=True,
              help="Largest size of the stem cache; the least recently auditioned files go first.")
@PLAN_OPTION
@ENGINE_CHANNELS_OPTION
@AUDIO_TRACK_OPTION
@replace_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, and no line saying which device auto chose.")
@model_options
def audition(input_path, preset, save_path, port, no_browser, no_cache, cache_limit_gb, plan, engine_channels,
             audio_track, replacements, match, match_eq, quiet, **model) -> None:
    """Listen before you batch: separate FILE once with the plan PRESET runs (cached: the next audition of
    the same file opens in seconds), then serve a page on 127.0.0.1 where the stems play in sync under
    faders, solo and mute, A/B against the original, the region renders through the whole preset, and Save
    writes the preset that remix, batch and conform run. The first line on stdout is the page's URL.

    With --replace STEM=FILE (a dub, ADR) the recording is placed and matched over the whole programme as
    remix --replace would, and plays under a fader of its own, "STEM (new)", with the original STEM muted:
    A/B is the replaced mix against the original, and Save keeps the new stem's gain as STEM's.

    The cache lives in the tuss-fx user cache folder ($TUSS_FX_HOME/audition when set): 32-bit float stems
    at FILE's rate and channels, 4 bytes x channels x rate per second of each stem the plan separates."""
    try:
        _audition(input_path, preset, save_path, port, no_browser, no_cache, cache_limit_gb, plan, engine_channels,
                  audio_track, (replacements, match, match_eq), quiet, model)
    except (KeyboardInterrupt, Terminated) as stop:
        click.echo(f"audition stopped ({stop or 'Ctrl-C'}); nothing left half-written", err=True)


def _audition(input_path, preset, save_path, port, no_browser, no_cache, cache_limit_gb, plan, engine_channels,
              audio_track, replacing, quiet, model) -> None:
    import tempfile

    from tuss_fx.audition.browser import open_page, redirect_file
    from tuss_fx.audition.replaced import place_recordings
    from tuss_fx.audition.cache import trim_cache
    from tuss_fx.audition.server import AuditionServer
    from tuss_fx.audition.session import prepare_audition
    from tuss_fx.media.audio_io import probe
    from tuss_fx.mix.presets import load_preset
    from tuss_fx.mix.replace import Placement

    _log_server_errors()
    # everything a user can get wrong is checked before the model loads and long before a page starts
    info = probe(input_path, audio_track)
    replacements, match, match_eq = replacing
    for replacement in replacements:
        Placement.of(replacement.path, info)
    chosen = load_preset(preset)
    model["dialogue_engine"] = model["dialogue_engine"] or chosen.dialogue_engine
    separator = load_separator(**model)
    with tempfile.TemporaryDirectory(prefix="tuss-fx-audition-") as scratch:
        note = device_note(separator, model["device"])
        with progress_bar(f"separating {info.path.name}", quiet, note) as progress:
            session, cached = prepare_audition(info, preset, separator, plan, engine_channels, save_path,
                                               _remix_options(model, plan, audio_track, engine_channels),
                                               Path(scratch) if no_cache else None, not no_cache, progress)
        click.echo(session.plan.describe(), err=True)
        if cached:
            click.echo(f"stems from the cache: {session.entry.folder}", err=True)
        else:
            click.echo(f"separated in {session.entry.record['separated_seconds']:.1f} s"
                       + ("" if no_cache else f" into the cache: {session.entry.folder}"), err=True)
            if not no_cache:
                trim_cache(int(cache_limit_gb * 2**30), session.entry.folder)
        if replacements:
            placed_dir = Path(scratch) / "replaced"
            placed_dir.mkdir()
            with progress_bar("placing " + ", ".join(r.path.name for r in replacements), quiet) as progress:
                session.replaced = place_recordings(info, session.plan, session.entry, replacements, match, match_eq,
                                                    placed_dir, session.fold, progress)
            for placed in session.replaced.stems:
                click.echo(replacement_line(placed.summary), err=True)
        server = AuditionServer(session, port)
        with ExitStack() as cleanup:
            cleanup.callback(server.server_close)  # joins the request threads: a save under way finishes first
            click.echo(server.url)  # the user's own terminal: the one place the token is shown
            sys.stdout.flush()
            click.echo(f"audition of {info.path.name}: {', '.join(session.sources)}; Ctrl-C to stop", err=True)
            if not no_browser:
                # a file that forwards to the URL, never the URL itself: a browser's command line is public
                page = cleanup.enter_context(redirect_file(server.url))
                if not open_page(page):
                    click.echo("no browser could be started: open the URL above", err=True)
            server.serve_forever()


def _log_server_errors() -> None:
    """The server's unexpected errors as one `audition: ...` line each on stderr (tuss_fx.audition.server)."""
    log = logging.getLogger("tuss_fx.audition")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("audition: %(message)s"))
        log.addHandler(handler)


def _remix_options(model: dict, plan: str | None, audio_track: int | None, engine_channels: str) -> tuple[str, ...]:
    """The options a remix of the saved preset needs to run what was auditioned."""
    options = []
    if model["checkpoint"] != "default":
        options += ["--checkpoint", model["checkpoint"]]
    if plan:
        options += ["--plan", plan]
    if audio_track:
        options += ["--audio-track", str(audio_track)]
    if engine_channels != "front":
        options += ["--engine-channels", engine_channels]
    return tuple(options)
