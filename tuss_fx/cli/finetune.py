"""`tuss-fx finetune`: teach the model a show's voices and music from its delivered stems."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from tuss_fx.cli.options import training_bar
from tuss_fx.errors import TussFxError


def _name_map(ctx, param, value: str) -> dict[str, str]:
    from tuss_fx.train.stems_folder import parse_name_map

    try:
        return parse_name_map(value or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("stems_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The fine-tuned model (.safetensors, with its .json beside it, and a .heldout.json of scores).")
@click.option("--map", "name_map", default="", callback=_name_map,
              help="Other stem file names onto prompts, e.g. dialog=speech,fx=sfxbg,mx=musicbg.")
@click.option("--checkpoint", default="default", show_default=True, help="Model to start from.")
@click.option("--engine", type=click.Choice(["tuss", "dialogue", "both"]), default="tuss", show_default=True,
              help="What learns the show: TUSS (every stem), the dialogue engine (DeepFilterNet3, from the "
                   "dialogue stem and the rest of the mix), or both; the model's JSON records which engine "
                   "measured better on the held-out tracks and serves speech.")
@click.option("--dialogue-steps", type=click.IntRange(min=1), default=300, show_default=True,
              help="With --engine dialogue|both: the dialogue engine's optimiser steps (batches of 8 x 3 s).")
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Optimiser steps in total (a resumed run counts the ones done).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this much wall-clock time (evaluated and resumable), even before --steps.")
@click.option("--holdout", type=click.FloatRange(0, 0.5, min_open=True), default=0.1, show_default=True,
              help="Share of each task's tracks (whole tracks, at least one) kept out of training to score on.")
@click.option("--eval-every", type=click.IntRange(min=1), default=100, show_default=True,
              help="Steps between held-out evaluations; the best evaluated checkpoint is exported.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Excerpts per optimiser step.")
@click.option("--segment-seconds", type=click.FloatRange(min=0.5), default=4.0, show_default=True,
              help="Excerpt length for training and scoring.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Peak learning rate (a tenth of training from scratch: the start model already separates).")
@click.option("--warmup-steps", type=click.IntRange(min=1), default=50, show_default=True,
              help="Steps of linear learning-rate warm-up.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Training state, evaluations and best weights, for resuming [default: OUTPUT's name + .work].")
@click.option("--force", is_flag=True, help="Export the best fine-tuned checkpoint even if it scores below the start "
                                           "model on the held-out tracks.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def finetune(stems_dirs, output, name_map, checkpoint, engine, dialogue_steps, steps, minutes, holdout, eval_every,
             batch_size, segment_seconds, lr, warmup_steps, work_dir, force, overwrite, device, quiet) -> None:
    """Fine-tune a model on STEMS_DIRS: one folder per track holding speech/sfxbg/musicbg (or
    vocals/drums/bass/other) files and optionally mix.wav. Whole tracks are held out, the start model
    and each evaluated checkpoint are scored on them, and the best is exported if it beats the start."""
    try:
        import torchmetrics  # noqa: F401 - the held-out scores need it
    except ImportError:
        raise click.ClickException("tuss-fx finetune needs torchmetrics: pip install \"tuss-fx[finetune]\"") from None
    from tuss_fx.media.audio_io import check_targets
    from tuss_fx.train.distributed import place
    from tuss_fx.train.finetune import FinetuneSettings, finetune as run_finetune
    from tuss_fx.train.stems_folder import RESIDUAL_TOLERANCE_DB, scan_tracks

    output = output.with_suffix(".safetensors")
    check_targets([output, *([output.with_name(output.stem + ".dfn3.safetensors")] if engine != "tuss" else [])],
                  overwrite)
    tracks = scan_tracks(stems_dirs, name_map)
    for track in tracks:
        if track.residual_db is not None and track.residual_db > RESIDUAL_TOLERANCE_DB:
            click.echo(f"warning: {track.folder}: the stems sum to the mix only within {track.residual_db:.1f} dB "
                       "(the rest is the residual a remix keeps; the mix is still the training input)", err=True)
    settings = FinetuneSettings(steps=steps, minutes=minutes, batch_size=batch_size, segment_seconds=segment_seconds,
                                lr=lr, warmup_steps=warmup_steps, eval_every=eval_every,
                                checkpoint_every=min(25, eval_every), holdout=holdout)
    placement = place(device)
    precision = "bf16" if placement.device.type == "cuda" else "fp32"
    show = not quiet and sys.stderr.isatty()
    click.echo(f"{len(tracks)} tracks, {sum(t.num_frames / t.sample_rate for t in tracks) / 60:.1f} min; "
               f"training on {placement.device}", err=True)
    work_dir = work_dir or output.with_suffix(".work")

    def log(line: str) -> None:
        click.echo(f"\n{line}" if show else line, err=True)

    result = None
    if engine in ("tuss", "both"):
        with training_bar(show, steps, "fine-tuning TUSS") as report:
            result = run_finetune(checkpoint, tracks, output, work_dir, settings, placement, precision, report, force,
                                  log)
        _print_scores(result)
    dialogue = None
    if engine in ("dialogue", "both"):
        dialogue = _finetune_dialogue(checkpoint, tracks, output, work_dir, settings, dialogue_steps, minutes, force,
                                      show, log, result)
    if result is not None and result.exported is None and (dialogue is None or dialogue.exported is None):
        best = f"best {_mean(result.best['scores']):+.2f} dB at step {result.best['step']}" if result.best else \
            "no step evaluated yet"
        raise TussFxError(output, f"not exported: no fine-tuned checkpoint beat the start model on the held-out "
                          f"tracks (start {_mean(result.start):+.2f} dB, {best}); --force exports the best anyway")
    if dialogue is not None and dialogue.exported is None and result is None:
        raise TussFxError(output, f"not exported: the fine-tuned dialogue engine did not beat the start on the "
                                  f"held-out tracks (start {dialogue.run.start:+.2f} dB, best "
                                  f"{dialogue.run.best['si_snri'] if dialogue.run.best else float('nan'):+.2f} dB); "
                                  "--force exports it anyway")
    for path in [result and result.exported, dialogue and dialogue.exported]:
        if path:
            click.echo(str(path))


def _finetune_dialogue(checkpoint, tracks, output, work_dir, settings, dialogue_steps, minutes, force, show, log,
                       tuss_result):
    """The dialogue engine's part: the same held-out tracks as TUSS's, its scores printed."""
    from tuss_fx.train.dialogue_finetune import DialogueSettings, finetune_show_dialogue
    from tuss_fx.train.finetune import split_holdout

    training, held = split_holdout(tracks, settings.holdout, settings.seed)
    tuss_speech = None
    if tuss_result is not None and tuss_result.best and "speech" in tuss_result.best["scores"]:
        tuss_speech = tuss_result.best["scores"]["speech"]["si_snri"]
    dialogue_settings = DialogueSettings(steps=dialogue_steps, minutes=minutes, segment_seconds=settings.segment_seconds,
                                         eval_every=min(50, dialogue_steps), checkpoint_every=min(25, dialogue_steps),
                                         seed=settings.seed)
    with training_bar(show, dialogue_steps, "fine-tuning the dialogue engine") as report:
        export = finetune_show_dialogue(checkpoint, training, held, output, work_dir, dialogue_settings, force,
                                        report, log, tuss_speech)
    best = export.run.best
    click.echo(f"dialogue engine held-out speech SI-SNRi: start {export.run.start:+.2f} dB, "
               f"{'step ' + str(best['step']) + ' ' + format(best['si_snri'], '+.2f') + ' dB' if best else 'no step'}"
               f"{'' if export.exported else ' (not exported)'}", err=True)
    return export


def _mean(scores: dict) -> float:
    from tuss_fx.train.finetune import mean_si_snri

    return mean_si_snri(scores)


def _print_scores(result) -> None:
    """Held-out SI-SNRi per stem: the start model, then the best fine-tuned checkpoint."""
    finetuned = result.best["scores"] if result.best else {}
    step = f"step {result.best['step']}" if result.best else "-"
    click.echo(f"held-out SI-SNRi (dB) on {len(result.heldout_tracks)} track(s)", err=True)
    click.echo(f"{'stem':<10} {'start':>8} {step:>10}", err=True)
    for prompt, row in result.start.items():
        after = finetuned.get(prompt, {}).get("si_snri", math.nan)
        click.echo(f"{prompt:<10} {row['si_snri']:+8.2f} {after:+10.2f}", err=True)
