"""The `tuss-fx` command line: parse, validate, call one library function, report."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from tuss_fx.cli_options import check_template, model_options
from tuss_fx.errors import TussFxError
from tuss_fx.model.prompts import DMX_PROMPTS
from tuss_fx.signals import Terminated, terminate_by_exception

# existence is checked by audio_io.probe, so a missing input is the same one-line error (exit 1)
# as every other bad input, rather than click's multi-line usage error (exit 2)
INPUT_FILE = click.Path(dir_okay=False, path_type=Path)


class _Group(click.Group):
    """Turns every TussFxError into one line on stderr and exit status 1, and SIGTERM/SIGHUP into a
    clean stop (temporary files removed) with exit status 128+signal."""

    def invoke(self, ctx: click.Context):
        try:
            with terminate_by_exception():
                return super().invoke(ctx)
        except TussFxError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except Terminated as exc:
            click.echo(f"stopped by {exc}; unfinished outputs removed", err=True)
            sys.exit(exc.exit_status)


@click.group(cls=_Group)
@click.version_option(package_name="tuss-fx")
def main() -> None:
    """Prompt-driven source separation (TUSS) for audio post-production."""


def load_separator(checkpoint: str, device: str, segment_seconds: float | None, overlap: float):
    from tuss_fx.separator import Separator

    return Separator.from_pretrained(checkpoint, device=device, segment_seconds=segment_seconds, overlap=overlap)


@contextmanager
def progress_bar(label: str, quiet: bool):
    """A bar on stderr when it is a terminal and --quiet is off; yields a progress callback."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr, show_eta=True) as bar:
        def update(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield update


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=INPUT_FILE)
@click.option("-p", "--prompt", "prompts", multiple=True, default=DMX_PROMPTS, show_default=True,
              help="Source to extract, once per stem (repeat: -p speech -p speech for two talkers).")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("separated"),
              show_default=True, help="Folder the stems are written under.")
@click.option("--filename", default="{track}/{stem}.{ext}", show_default=True, callback=check_template,
              help="Output name template relative to --out-dir; fields {track}, {stem}, {ext}.")
@click.option("--format", "file_format", type=click.Choice(["wav", "flac"]), default="wav", show_default=True,
              help="wav is 32-bit float (keeps headroom); flac is 24-bit.")
@click.option("--residual", is_flag=True, help="Also write residual = mixture - sum of stems.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@model_options
def separate(inputs, prompts, out_dir, filename, file_format, residual, overwrite, quiet,
             checkpoint, device, segment_seconds, overlap) -> None:
    """Separate INPUTS into one file per prompt, streaming (memory does not grow with length)."""
    from tuss_fx.api import plan_separation, separate_file

    separator = load_separator(checkpoint, device, segment_seconds, overlap)
    separator.check_prompts(prompts)
    jobs = [plan_separation(path, prompts, out_dir, file_format, filename, residual, overwrite) for path in inputs]
    for job in jobs:
        with progress_bar(job.info.path.name, quiet) as progress:
            written = separate_file(separator, job, file_format, progress)
        for path in written.values():
            click.echo(str(path))


@main.command()
@click.option("--checkpoint", default="default", show_default=True, help="Model to describe.")
@click.option("--device", default="auto", show_default=True, help="Device the model would run on.")
def info(checkpoint: str, device: str) -> None:
    """Print the model, its prompts, the device and which compute path each op takes."""
    from tuss_fx import ops

    separator = load_separator(checkpoint, device, None, 0.25)
    config = separator.model.config
    num_params = sum(p.numel() for p in separator.model.parameters())
    click.echo(f"model:      {separator.name}")
    click.echo(f"size:       {num_params / 1e6:.2f} M parameters, emb_dim {config.emb_dim}, "
               f"{config.nblocks_cross_prompt_module} cross-prompt + {config.nblocks_cond_tse_module} TSE blocks")
    click.echo(f"prompts:    {', '.join(config.prompts)}")
    click.echo(f"rate:       {config.sample_rate} Hz, segment {separator.segment_seconds:g} s")
    click.echo(f"device:     {separator.device}")
    for op, path in ops.dispatch_report(separator.device).items():
        click.echo(f"op {op + ':':<20}{path}")


def _format_lufs(value: float) -> str:
    if value != value:  # NaN: shorter than one loudness block
        return "n/a (shorter than 0.4 s)"
    return "silent" if value == float("-inf") else f"{value:.1f} LUFS"


@main.command()
@click.argument("input_path", metavar="INPUT", type=INPUT_FILE)
@click.option("--preset", default="dialogue-boost", show_default=True,
              help="A shipped preset name (see `tuss-fx presets`) or a .toml file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (.wav float or .flac 24-bit) [default: INPUT.<preset>.wav beside the input].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a preset value, e.g. --set stems.speech.gain_db=8 (repeatable).")
@click.option("--automation", type=INPUT_FILE, default=None,
              help="MIDI file whose CC7 lanes ride the stem faders (channel n = stem n, see docs).")
@click.option("--target-lufs", type=float, default=None, help="Loudness target overriding the preset's.")
@click.option("--stems-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write each processed stem (after its chain and gain) and the residual here.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@model_options
def remix(input_path, preset, output, overrides, automation, target_lufs, stems_dir, overwrite, quiet,
          checkpoint, device, segment_seconds, overlap) -> None:
    """Separate INPUT, process and re-balance its stems per a preset, normalise loudness, write it."""
    from tuss_fx.automation import GainAutomation
    from tuss_fx.presets import load_preset
    from tuss_fx.audio_io import format_for
    from tuss_fx.remix import remix_file
    from tuss_fx.separator import source_names

    if target_lufs is not None:
        overrides = (*overrides, f"master.target_lufs={target_lufs}")
    chosen = load_preset(preset, overrides)
    output = output or input_path.with_name(f"{input_path.stem}.{chosen.name}.wav")
    lanes = GainAutomation.from_midi(automation, source_names(chosen.prompts)) if automation else None
    separator = load_separator(checkpoint, device, segment_seconds, overlap)
    with progress_bar(input_path.name, quiet) as progress:
        report = remix_file(separator, chosen, input_path, output, lanes, stems_dir,
                            format_for(output), overwrite, progress)
    click.echo(str(report.output))
    for path in report.stems.values():
        click.echo(str(path))
    click.echo(f"input loudness:  {_format_lufs(report.input_lufs)}", err=True)
    click.echo(f"output loudness: {_format_lufs(report.output_lufs)} (normalisation gain "
               f"{report.loudness_gain_db:+.1f} dB{', peak-limited' if report.limited else ''})", err=True)
    for name, gain in report.gains.items():
        click.echo(f"  {name:<10} {gain}", err=True)


@main.group(invoke_without_command=True)
@click.pass_context
def presets(ctx: click.Context) -> None:
    """List the shipped presets (one line each); `presets show NAME` prints one."""
    from tuss_fx.presets import builtin_names, load_preset

    if ctx.invoked_subcommand is None:
        for name in builtin_names():
            click.echo(f"{name:<20} {load_preset(name).description}")


@presets.command("show")
@click.argument("name")
def presets_show(name: str) -> None:
    """Print preset NAME (a shipped name or a .toml path) as its TOML source."""
    from importlib import resources

    from tuss_fx.presets import load_preset

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
@click.option("--preset", default="dme", show_default=True, help="Preset whose stems get a lane each.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="MIDI file to write [default: INPUT.<preset>.mid beside the input].")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def automation_template(input_path, preset, output, overwrite) -> None:
    """Write a MIDI file with one CC7 fader lane per stem of PRESET, as long as INPUT."""
    from tuss_fx.audio_io import check_targets, probe, temp_beside
    from tuss_fx.automation import template
    from tuss_fx.presets import load_preset
    from tuss_fx.separator import source_names

    chosen = load_preset(preset)
    info = probe(input_path)
    output = output or input_path.with_name(f"{input_path.stem}.{chosen.name}.mid")
    check_targets([output], overwrite)
    stems = source_names(chosen.prompts)
    midi = template(stems, [chosen.stem(name).gain_db for name in stems], info.duration_seconds)
    tmp = temp_beside(output)
    midi.save(str(tmp))
    tmp.replace(output)
    click.echo(str(output))


def _add_training_commands() -> None:
    from tuss_fx.cli_batch import batch
    from tuss_fx.cli_finetune import finetune
    from tuss_fx.cli_train import corpus, evaluate, evaluate_real, train

    for command in (batch, corpus, train, evaluate, evaluate_real, finetune):
        main.add_command(command)


_add_training_commands()
