"""The `tuss-fx` command line: parse, validate, call one library function, report."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from tuss_fx.cli.options import (AUDIO_TRACK_OPTION, ENGINE_CHANNELS_OPTION, FORMAT_HELP, PLAN_OPTION, REPORT_OPTION,
                                 check_template, device_note, load_separator, model_options,
                                 progress_bar, replace_options, replacement_line)
from tuss_fx.errors import TussFxError
from tuss_fx.media.audio_io import FORMAT_CHOICES, file_extension
from tuss_fx.media.remux import CODEC_CHOICES
from tuss_fx.model.prompts import DMX_PROMPTS
from tuss_fx.report.delivery import SPECS
from tuss_fx.separation.dialogue import ENGINES
from tuss_fx.signals import Terminated, terminate_by_exception

# existence is checked by audio_io.probe, so a missing input is the same one-line error (exit 1)
# as every other bad input, rather than click's multi-line usage error (exit 2)
INPUT_FILE = click.Path(dir_okay=False, path_type=Path)


class _Group(click.Group):
    """Turns every TussFxError into one line on stderr and exit status 1, and SIGTERM/SIGHUP into a
    clean stop (temporary files removed) with exit status 128+signal."""

    def invoke(self, ctx: click.Context):
        try:
            with terminate_by_exception(), warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except TussFxError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except Terminated as exc:
            click.echo(f"stopped by {exc}; unfinished outputs removed", err=True)
            sys.exit(exc.exit_status)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings as one `warning: ...` line on stderr; others as Python prints them."""
    if category.__module__.startswith("tuss_fx"):
        click.echo(f"warning: {message}", err=True)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@click.group(cls=_Group)
@click.version_option(package_name="tuss-fx")
def main() -> None:
    """Prompt-driven source separation (TUSS) for audio post-production."""


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=INPUT_FILE)
@click.option("-p", "--prompt", "prompts", multiple=True, default=DMX_PROMPTS, show_default=True,
              help="Source to extract, once per stem (repeat: -p speech -p speech for two talkers).")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("separated"),
              show_default=True, help="Folder the stems are written under.")
@click.option("--filename", default="{track}/{stem}.{ext}", show_default=True, callback=check_template,
              help="Output name template relative to --out-dir; fields {track}, {stem}, {ext}.")
@click.option("--format", "file_format", type=click.Choice(FORMAT_CHOICES), default="wav", show_default=True,
              help=FORMAT_HELP)
@click.option("--residual", is_flag=True, help="Also write residual = mixture - sum of stems.")
@AUDIO_TRACK_OPTION
@click.option("--report", "report_path", default=None, callback=check_template,
              help="Also draw a report per input (.png, or .html with the picture inside) of loudness curves, "
                   "true peaks and spectrograms, numbers in a .json beside it; {track} names the input "
                   "(needed for several inputs).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, and no line saying which device auto chose.")
@model_options
def separate(inputs, prompts, out_dir, filename, file_format, residual, audio_track, report_path, overwrite, quiet,
             **model) -> None:
    """Separate INPUTS into one file per prompt, streaming (memory does not grow with length).

    INPUTS may be audio files or film containers (their first audio track, or --audio-track)."""
    from tuss_fx.separation.files import output_path, plan_separation, separate_file

    if report_path and len(inputs) > 1 and "{track}" not in report_path:
        raise click.BadParameter("with several inputs, put {track} in the report name", param_hint="--report")
    # inputs and outputs are checked before the model loads, so a bad file fails at once
    jobs = [plan_separation(path, prompts, out_dir, file_format, filename, residual, overwrite, audio_track,
                            output_path(Path("."), report_path, path.stem, "", "") if report_path else None)
            for path in inputs]
    separator = load_separator(**model)
    separator.check_prompts(prompts)
    note = device_note(separator, model["device"])
    for index, job in enumerate(jobs):
        with progress_bar(job.info.path.name, quiet, note if index == 0 else None) as progress:
            written = separate_file(separator, job, progress)
        for path in [*written.values(), *([job.report] if job.report else [])]:
            click.echo(str(path))


@main.command()
@click.option("--checkpoint", default="default", show_default=True, help="Model to describe.")
@click.option("--device", default="auto", show_default=True, help="Device the model would run on.")
@click.option("--dialogue-engine", type=click.Choice(ENGINES), default="auto",
              show_default=True, help="Engine asked for; auto shows the one the model's JSON records.")
def info(checkpoint: str, device: str, dialogue_engine: str) -> None:
    """Print the model, its prompts, the device and which compute path each op takes."""
    import torch

    from tuss_fx.mix.plan import describe_plans
    from tuss_fx.model import ops
    from tuss_fx.separation.devices import describe_device
    from tuss_fx.separation.dialogue import describe as describe_engine
    from tuss_fx.separation.forward import cpu_does_bf16

    separator = load_separator(checkpoint, device, dialogue_engine=dialogue_engine)
    config = separator.model.config
    num_params = sum(p.numel() for p in separator.model.parameters())
    click.echo(f"model:      {separator.name}")
    click.echo(f"size:       {num_params / 1e6:.2f} M parameters, emb_dim {config.emb_dim}, "
               f"{config.nblocks_cross_prompt_module} cross-prompt + {config.nblocks_cond_tse_module} TSE blocks")
    click.echo(f"prompts:    {', '.join(config.prompts)}")
    click.echo(f"rate:       {config.sample_rate} Hz, segment {separator.segment_seconds:g} s")
    click.echo(f"device:     {describe_device(separator.device)}")
    click.echo(f"compute:    {separator.runner.describe()}")
    if separator.device.type == "cpu":
        bf16 = "native" if cpu_does_bf16() else "emulated (--precision bf16 ran 7-24x slower than fp32 on AVX2)"
        click.echo(f"cpu:        {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads; "
                   f"linears: {ops.linear_report()}; bf16: {bf16}")
    click.echo(f"dialogue:   {describe_engine(separator.dialogue_engine, config.prompts)}")
    click.echo(f"remix:      {describe_plans(separator)}")
    click.echo(f"kernels:    {ops.kernels_report()}")
    for op, path in ops.dispatch_report(separator.device).items():
        click.echo(f"op {op + ':':<20}{path}")


def _check_language(ctx, param, value: str | None) -> str | None:
    """An ISO 639-2 code: three lowercase letters (deu, fra, eng)."""
    if value is not None and not (len(value) == 3 and value.isascii() and value.isalpha() and value.islower()):
        raise click.BadParameter(f"{value!r} is not an ISO 639-2 code (three lowercase letters, e.g. deu)")
    return value


def _format_lufs(value: float) -> str:
    if value != value:  # NaN: shorter than one loudness block
        return "n/a (shorter than 0.4 s)"
    return "silent" if value == float("-inf") else f"{value:.1f} LUFS"


@main.command()
@click.argument("input_path", metavar="INPUT", type=INPUT_FILE)
@click.option("--preset", default="dialogue-boost", show_default=True,
              help="A shipped preset name (see `tuss-fx presets`) or a .toml file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file: .wav or .flac (depth: --format), or a film container (.mov .mp4 .m4a .mkv .webm "
                   ".mxf) copied from a film INPUT with the remixed track replaced "
                   "[default: INPUT.<preset>.wav, or INPUT.<preset>.<same suffix> for a film].")
@click.option("--format", "file_format", type=click.Choice(FORMAT_CHOICES), default=None,
              help=FORMAT_HELP + " Applies to the remix and --stems-dir [default: wav, or flac for a .flac output].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a preset value, e.g. --set stems.speech.gain_db=8 (repeatable).")
@click.option("--automation", type=INPUT_FILE, default=None,
              help="MIDI file whose CC7 lanes ride the stem faders (channel n = stem n, see docs); replaces a "
                   "preset's ride.")
@click.option("--write-automation", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the fader lanes this remix ran (a ride, --automation, or each stem's static gain) "
                   "as a MIDI file in the format --automation reads, for a DAW to edit and feed back.")
@click.option("--target-lufs", type=float, default=None, help="Loudness target overriding the preset's.")
@click.option("--spec", type=click.Choice(list(SPECS)), default=None,
              help="Normalise to a delivery spec instead of the preset's target: its loudness (dialogue-gated "
                   "for streaming) and its true-peak ceiling; check the result with `tuss-fx loudness --spec`.")
@click.option("--stems-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write each processed stem (after its chain and gain) and the residual here (WAV).")
@PLAN_OPTION
@ENGINE_CHANNELS_OPTION
@AUDIO_TRACK_OPTION
@click.option("--audio-codec", type=click.Choice(CODEC_CHOICES), default="auto", show_default=True,
              help="Codec of the replaced track in a film output. auto: PCM in MOV/MKV/MXF (the original's "
                   "bit depth), ALAC in MP4/M4A, Opus 256 kb/s in WebM.")
@click.option("--drop-other-audio", is_flag=True,
              help="Film output: keep only the remixed audio track (other audio tracks are kept by default).")
@click.option("--add-track", is_flag=True,
              help="Film output: keep the film's audio as it is and add the remix after its tracks as another "
                   "version (a dub's language track), tagged with --language and --track-title.")
@click.option("--language", default=None, callback=_check_language, metavar="CODE",
              help="ISO 639-2 code of the added track, e.g. deu, fra, spa (needs --add-track).")
@click.option("--track-title", default=None, help="Title of the added track as players list it, e.g. 'Deutsch'.")
@REPORT_OPTION
@replace_options
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, and no line saying which device auto chose.")
@model_options
def remix(input_path, preset, output, file_format, overrides, automation, write_automation, target_lufs, spec,
          stems_dir, plan, engine_channels, audio_track, audio_codec, drop_other_audio, add_track, language, track_title,
          report_path, replacements, match, match_eq, overwrite, quiet, **model) -> None:
    """Separate INPUT, process and re-balance its stems per a preset, normalise loudness, write it.

    INPUT may be a film container: its audio track is remixed, and a film output is a copy of
    the container with the picture, subtitles and other tracks copied untouched."""
    from tuss_fx.media.audio_io import format_for
    from tuss_fx.media.remux import muxer_for
    from tuss_fx.mix.automation import GainAutomation
    from tuss_fx.mix.film import remix_film
    from tuss_fx.mix.presets import load_preset
    from tuss_fx.mix.remix import remix_file
    from tuss_fx.media.remux import AddedTrack
    from tuss_fx.mix.request import FilmOutput, RemixRequest
    from tuss_fx.separation.separator import source_names

    if spec:
        chosen_spec = SPECS[spec]
        overrides = (*overrides, f"master.target_lufs={chosen_spec.target_lufs}",
                     f"master.ceiling_db={chosen_spec.max_true_peak_dbtp}",
                     f"master.loudness_gate={'dialogue' if chosen_spec.dialogue_gated else 'integrated'}")
    if target_lufs is not None:
        overrides = (*overrides, f"master.target_lufs={target_lufs}")
    chosen = load_preset(preset, overrides)
    suffix = input_path.suffix if muxer_for(input_path) else f".{file_extension(file_format or 'wav')}"
    output = output or input_path.with_name(f"{input_path.stem}.{chosen.name}{suffix}")
    lanes = GainAutomation.from_midi(automation, source_names(chosen.prompts)) if automation else None
    model["dialogue_engine"] = model["dialogue_engine"] or chosen.dialogue_engine
    separator = load_separator(**model)
    if (add_track or language or track_title) and not (add_track and language and muxer_for(output)):
        raise click.BadParameter("--add-track, --language and --track-title go together, --language required, "
                                 "onto a film output", param_hint="--add-track")
    added = AddedTrack(language, track_title) if add_track else None
    request = RemixRequest(output, file_format or format_for(output), stems_dir, file_format or "wav", overwrite,
                           report_path, lanes, write_automation, plan, engine_channels, audio_track,
                           film=FilmOutput(audio_codec, drop_other_audio, added), replacements=replacements,
                           match=match, match_eq=match_eq)
    with progress_bar(input_path.name, quiet, device_note(separator, model["device"])) as progress:
        if muxer_for(output):
            report, encoding = remix_film(separator, chosen, input_path, request, progress)
        else:
            report = remix_file(separator, chosen, input_path, request, progress)
    click.echo(str(report.output))
    for path in [*report.stems.values(), *([write_automation] if write_automation else [])]:
        click.echo(str(path))
    if report_path:
        click.echo(str(report_path))
    if muxer_for(output):
        done = f"added as a {language} track" if add_track else f"audio track {audio_track or 1} replaced"
        click.echo(f"{done}: {encoding.describe()}", err=True)
    click.echo(report.plan.describe(), err=True)
    for replaced in report.replacements:
        click.echo(replacement_line(replaced), err=True)
    if report.ride:
        ride = report.ride
        click.echo(f"dialogue ride: {ride['clear_before']:.0%} of {ride['dialogue_windows']} dialogue windows within 1 dB "
                   f"of {ride['target_lu']:g} LU before, {ride['clear_after']:.0%} after; background down up to "
                   f"{ride['max_reduction_db']:.1f} dB, ridden {ride['ridden_share']:.0%} of the time", err=True)
    click.echo(f"input loudness:  {_format_lufs(report.input_lufs)}", err=True)
    click.echo(f"output loudness: {_format_lufs(report.output_lufs)} (normalisation gain "
               f"{report.loudness_gain_db:+.1f} dB{', peak-limited' if report.limited else ''})", err=True)
    for name, gain in report.gains.items():
        click.echo(f"  {name:<10} {gain}", err=True)


@main.command()
@click.argument("stems_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--output", "report_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Report to draw: .png, or .html with the picture inside; its numbers go to a .json beside it.")
@click.option("--input", "mix_path", type=INPUT_FILE, default=None,
              help="The mixture the stems came from [default: the sum of the stems].")
@click.option("--remix", "remix_path", type=INPUT_FILE, default=None, help="The remix, drawn as the output curve.")
@click.option("--target-lufs", type=float, default=None, help="Loudness target drawn on the loudness curves.")
@AUDIO_TRACK_OPTION
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
def report(stems_dir, report_path, mix_path, remix_path, target_lufs, audio_track, overwrite) -> None:
    """Draw the report of an existing STEMS_DIR (one audio file per stem, as `separate` or
    `remix --stems-dir` write them): loudness curves, true peaks, spectrograms."""
    from tuss_fx.report.folder import report_from_folder

    for path in report_from_folder(stems_dir, report_path, mix_path, remix_path, target_lufs, audio_track, overwrite):
        click.echo(str(path))


@main.group(invoke_without_command=True)
@click.pass_context
def presets(ctx: click.Context) -> None:
    """List the shipped presets (one line each); `presets show NAME` prints one."""
    from tuss_fx.mix.presets import builtin_names, load_preset

    if ctx.invoked_subcommand is None:
        for name in builtin_names():
            click.echo(f"{name:<20} {load_preset(name).description}")


@presets.command("show")
@click.argument("name")
def presets_show(name: str) -> None:
    """Print preset NAME (a shipped name or a .toml path) as its TOML source."""
    from importlib import resources

    from tuss_fx.mix.presets import load_preset

    preset = load_preset(name)  # validates, and names the file and key if it is broken
    path = Path(name)
    text = path.read_text() if path.is_file() else \
        resources.files("tuss_fx.builtin_presets").joinpath(preset.source).read_text()
    click.echo(text, nl=False)


@main.group()
def automation() -> None:
    """MIDI fader automation of stem gains."""


@automation.command("template")
@click.argument("input_path", metavar="INPUT", type=INPUT_FILE)
@click.option("--preset", default="dme", show_default=True, help="Preset whose sources get a lane each.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="MIDI file to write [default: INPUT.<preset>.mid beside the input].")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@click.option("--checkpoint", default="default", show_default=True,
              help="The model the remix will run on: its plan decides which sources get lanes.")
@PLAN_OPTION
def automation_template(input_path, preset, output, overwrite, checkpoint, plan) -> None:
    """Write a MIDI file with one CC7/CC39 fader lane per source PRESET's plan runs, as long as INPUT.

    Under the dialogue plan (the shipped model's, for dialogue/music/effects presets) that is the
    dialogue and the background (on the residual's channel): lanes for music and effects would force
    the stems plan when the file comes back through --automation.
    """
    from tuss_fx.media.audio_io import check_targets, probe
    from tuss_fx.mix.plan import choose_plan
    from tuss_fx.mix.presets import load_preset
    from tuss_fx.mix.remix import write_lanes

    chosen = load_preset(preset)
    info = probe(input_path)
    output = output or input_path.with_name(f"{input_path.stem}.{chosen.name}.mid")
    check_targets([output], overwrite)
    ran = choose_plan(chosen, load_separator(checkpoint, "cpu"), plan)
    write_lanes(output, ran, None, info.duration_seconds)
    click.echo(f"{ran.describe()}", err=True)
    click.echo(str(output))


def _add_training_commands() -> None:
    from tuss_fx.cli.audition import audition
    from tuss_fx.cli.batch import batch
    from tuss_fx.cli.conform import conform
    from tuss_fx.cli.finetune import finetune
    from tuss_fx.cli.loudness import loudness
    from tuss_fx.cli.models import models
    from tuss_fx.cli.train import corpus, evaluate, evaluate_real, train
    from tuss_fx.cli.train_dialogue import train_dialogue

    for command in (audition, batch, conform, loudness, models, corpus, train, evaluate, evaluate_real, finetune, train_dialogue):
        main.add_command(command)


_add_training_commands()
