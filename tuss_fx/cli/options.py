"""Options shared by the commands that separate (tuss-fx separate, remix, batch, conform, audition), their progress
bar, and the lines they print alike."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from tuss_fx.media.layout import ENGINE_CHANNELS
from tuss_fx.mix.presets import PLANS
from tuss_fx.separation.dialogue import ENGINES


def _check_overlap(ctx, param, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise click.BadParameter("must be in [0, 1)")
    return value


def _check_positive(ctx, param, value: float) -> float:
    if value is not None and value <= 0:
        raise click.BadParameter("must be > 0")
    return value


def check_template(ctx, param, value: str | None) -> str | None:
    from tuss_fx.separation.files import output_path

    if value is None:
        return value
    try:
        output_path(Path("."), value, "track", "stem", "wav")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


DIALOGUE_ENGINE_OPTIONS = [
    click.option("--dialogue-engine", type=click.Choice(ENGINES), default=None,
                 help="What serves the speech prompt: deepfilternet (DeepFilterNet3 takes the dialogue, TUSS "
                      "separates the rest), tuss, or auto: the engine measured better for the model, as its "
                      "JSON records (the shipped default: deepfilternet; official checkpoints: tuss) "
                      "[default: the preset's, else auto]."),
    click.option("--dialogue-atten-lim-db", type=float, default=None, callback=_check_positive,
                 help="With deepfilternet: the most it may attenuate, in dB (the mix is mixed back in "
                      "below that) [default: no limit]."),
]


def dialogue_engine_options(func):
    """--dialogue-engine and --dialogue-atten-lim-db."""
    for option in reversed(DIALOGUE_ENGINE_OPTIONS):
        func = option(func)
    return func


def model_options(func):
    """--checkpoint, --device, --segment-seconds, --overlap, --precision, --batch-size and the dialogue
    engine's options, shared by every command that separates."""
    options = [
        click.option("--checkpoint", default="default", show_default=True,
                     help="'default' (shipped model), an official TUSS folder/.pth/.ckpt, or a .safetensors."),
        click.option("--device", default="auto", show_default=True,
                     help="auto (CUDA, else Apple Silicon's GPU, else the CPU; said on stderr unless --quiet), cpu, "
                          "cuda, cuda:1, mps."),
        click.option("--segment-seconds", type=float, default=None, callback=_check_positive,
                     help="Segment length fed to the model [default: the model's training length, 6 s]."),
        click.option("--overlap", type=float, default=0.25, show_default=True, callback=_check_overlap,
                     help="Fraction of each segment overlapping the next (windowed overlap-add)."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
                     help="auto: bf16 autocast on CUDA (1.7-2x the segments per second of fp32 on an H100), "
                          "fp32 on CPU; fp32 opts out. bf16 on a CPU with AVX512-BF16: 1.2x (small) to 1.4x "
                          "(medium) faster, stems 50 dB from fp32; without AVX512-BF16 or AMX it is emulated "
                          "(7-24x slower on AVX2; a warning says so)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Most mono segments (segments x channels) per forward pass [default: 4 on CPU; on "
                          "CUDA as many as fit in free memory, up to 64]. CUDA out of memory halves it."),
        *DIALOGUE_ENGINE_OPTIONS,
    ]
    for option in reversed(options):
        func = option(func)
    return func


AUDIO_TRACK_OPTION = click.option(
    "--audio-track", type=click.IntRange(min=1), default=None,
    help="Audio track of a film container (.mov .mp4 .m4a .mkv .webm .mxf), numbered from 1 as A1, A2... "
         "[default: the first].")
PLAN_OPTION = click.option(
    "--plan", type=click.Choice(PLANS), default=None,
    help="How a dialogue/music/effects preset runs. stems: every stem separated, each with its own chain "
         "and gain; dialogue: the dialogue separated and everything else (mix - dialogue) as one background, "
         "no TUSS; auto: stems only where the model's music/effects split measured good on real material "
         "(its JSON records it; official checkpoints count as able) [default: the preset's, else auto].")
ENGINE_CHANNELS_OPTION = click.option(
    "--engine-channels", type=click.Choice(ENGINE_CHANNELS), default="front", show_default=True,
    help="Channels of a 5.1/7.1 input the separation engines get: the front three (L C R), all but the LFE, "
         "or the centre alone; the others (the LFE always) stay whole in the background. front measured best "
         "on 5.1 scenes (docs/guide/remix.md).")
def _parse_replacements(ctx, param, values: tuple[str, ...]):
    from tuss_fx.mix.replace import Replacement

    try:
        return tuple(Replacement.parse(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def replace_options(func):
    """--replace STEM=FILE (repeatable), --match and --match-eq: remix, audition."""
    from tuss_fx.mix.replace import MATCHES

    options = [
        click.option("--replace", "replacements", multiple=True, metavar="STEM=FILE", callback=_parse_replacements,
                     help="Replace a separated stem by a recording (a dub, ADR, a cleaner edit) placed by timecode "
                          "where both carry one, else from the programme's start, a shorter one padded, through the "
                          "stem's chain and gain (repeatable), e.g. --replace speech=dub.deu.wav."),
        click.option("--match", type=click.Choice(MATCHES), default="lines", show_default=True,
                     help="How a replacement's level follows the original stem: lines (each line of the original as "
                          "loud against the background as it was), programme (one gain), off (as recorded)."),
        click.option("--match-eq", is_flag=True,
                     help="Also match the original stem's tone: octave EQ from the ratio of their long-term spectra "
                          "(at most 9 dB a band)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def replacement_line(replaced: dict) -> str:
    """One line on what a replacement did: its match and the range of its gains, its EQ."""
    line = f"replaced {replaced['stem']} with {replaced['file']}: match {replaced['match']}"
    if replaced["gain_db_range"]:
        low, high = replaced["gain_db_range"]
        line += f", {len(replaced['lines'])} lines at {low:+.1f} to {high:+.1f} dB"
    if replaced["eq_db"]:
        line += "; EQ " + " ".join(f"{centre} Hz {gain:+.1f}" for centre, gain in replaced["eq_db"].items())
    return line


def _stem_folders(ctx, param, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        stem, equals, folder = value.partition("=")
        if not (equals and stem and folder):
            raise click.BadParameter(f"{value!r} is not STEM=FOLDER")
        if not Path(folder).is_dir():
            raise click.BadParameter(f"{folder}: no such folder")
        pairs.append((stem, str(Path(folder).absolute())))
    return tuple(pairs)


def replace_from_options(func):
    """--replace STEM=FOLDER (each input's recording found by name), --match and --match-eq: batch, conform."""
    from tuss_fx.mix.replace import MATCHES

    options = [
        click.option("--replace", "replace_from", multiple=True, metavar="STEM=FOLDER", callback=_stem_folders,
                     help="Replace each input's STEM by the recording in FOLDER named after it (take2.wav for "
                          "take2.mov): a season's dubs, line-matched as remix --replace does (repeatable)."),
        click.option("--match", type=click.Choice(MATCHES), default="lines", show_default=True,
                     help="How a replacement's level follows the original stem (see remix --match)."),
        click.option("--match-eq", is_flag=True, help="Also match the original stem's tone (see remix --match-eq)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


REPORT_OPTION = click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also draw a report (.png, or .html with the picture inside) of loudness curves, true peaks and "
         "spectrograms, with its numbers in a .json beside it.")


FORMAT_HELP = ("wav: the input's depth (16/24-bit PCM, TPDF-dithered), 32-bit float for float or lossy input; "
               "wav24, wav16: PCM with TPDF dither; wav32f: float (keeps peaks over 0 dBFS); flac, flac24: 24-bit "
               "FLAC. WAV outputs of a Broadcast WAV input are Broadcast WAVs: its bext (timecode, description) "
               "and iXML, with this file's loudness and coding history.")


@contextmanager
def progress_bar(label: str, quiet: bool, note: str | None = None):
    """A bar on stderr when it is a terminal and --quiet is off; yields a progress callback.

    `note` (which device --device auto chose) goes to stderr unless --quiet: on a terminal above the bar,
    as the work starts; in a log, once the work has finished, so a failed run says its one error line alone."""
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield None
        if note:
            click.echo(note, err=True)
        return
    if note:
        click.echo(note, err=True)
    with click.progressbar(length=1, label=label, file=sys.stderr, show_eta=True) as bar:
        def update(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield update


@contextmanager
def training_bar(show: bool, steps: int, label: str):
    """A bar over `steps` optimiser steps on stderr (when shown); yields its (step, loss, rate) report
    callback, or None."""
    if not show:
        yield None
        return
    with click.progressbar(length=steps, label=label, file=sys.stderr, show_eta=True,
                           item_show_func=lambda text: text) as bar:
        def report(step: int, loss: float, rate: float) -> None:
            bar.update(step - bar.pos, f"loss {loss:6.3f}  {rate:4.2f} ex/s")

        yield report


def load_separator(checkpoint: str, device: str, segment_seconds: float | None = None, overlap: float = 0.25,
                   precision: str = "auto", batch_size: int | None = None, dialogue_engine: str | None = None,
                   dialogue_atten_lim_db: float | None = None):
    """The model a command separates with (its options as model_options gives them)."""
    from tuss_fx.separation.separator import Separator

    return Separator.from_pretrained(checkpoint, device=device, segment_seconds=segment_seconds, overlap=overlap,
                                     precision=precision, batch_size=batch_size,
                                     dialogue_engine=dialogue_engine or "auto",
                                     dialogue_atten_lim_db=dialogue_atten_lim_db)


def device_note(separator, device: str) -> str | None:
    """The line saying which device --device auto chose, for progress_bar; None for a device asked for."""
    from tuss_fx.separation.devices import describe_device

    return f"device: {describe_device(separator.device)}" if device == "auto" else None
