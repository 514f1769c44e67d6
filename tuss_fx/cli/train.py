"""`tuss-fx corpus build`, `tuss-fx train` and `tuss-fx evaluate`: the training commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from tuss_fx.cli.options import dialogue_engine_options
from tuss_fx.model.config import PRESETS
from tuss_fx.recordings import RECORDINGS_DIR


@click.group()
def corpus() -> None:
    """Training corpora from installed Debian data packages."""


@corpus.command("build")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("/"),
              show_default=True, help="File-system root the packages are installed under.")
@click.option("--skip-missing", is_flag=True, help="Leave out sources whose package is not installed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line.")
def corpus_build(out_dir: Path, root: Path, skip_missing: bool, quiet: bool) -> None:
    """Decode the default sources to 48 kHz mono under OUT_DIR with a manifest and ATTRIBUTION.md."""
    from tuss_fx.train.corpus import build_corpus

    show = not quiet and sys.stderr.isatty()
    count = 0

    def progress(path: str) -> None:
        nonlocal count
        count += 1
        if show:
            click.echo(f"\r{count:5d} clips  {path[-60:]:<60}", err=True, nl=False)

    clips = build_corpus(out_dir, root=root, skip_missing=skip_missing, progress=progress)
    if show:
        click.echo(err=True)
    _echo_minutes((((clip.split, clip.prompt), clip.seconds) for clip in clips), out_dir)


def _echo_minutes(rows: Iterable[tuple[tuple[str, ...], float]], out_dir: Path) -> None:
    """Print the minutes of audio per key (e.g. split and prompt), then the manifest written."""
    minutes: dict[tuple[str, ...], float] = {}
    for key, seconds in rows:
        minutes[key] = minutes.get(key, 0.0) + seconds / 60
    for key, total in sorted(minutes.items()):
        click.echo(f"{' '.join(f'{part:<8}' for part in key)} {total:6.1f} min")
    click.echo(str(out_dir / "manifest.jsonl"))


@corpus.command("pack")
@click.argument("corpus_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-mib", type=click.FloatRange(min=0, min_open=True), default=48.0, show_default=True,
              help="Size of the pack (the device tool carries 64 MiB with the checkout).")
@click.option("--split", type=click.Choice(["train", "heldout"]), default="train", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress line.")
def corpus_pack(corpus_dir: Path, out_dir: Path, max_mib: float, split: str, quiet: bool) -> None:
    """Copy CORPUS_DIR's split to OUT_DIR as class-balanced Ogg Vorbis within --max-mib, for a GPU machine."""
    from tuss_fx.train.pack import pack_corpus

    show = not quiet and sys.stderr.isatty()
    packed = pack_corpus(corpus_dir, out_dir, int(max_mib * 2**20), split,
                         progress=lambda path: show and click.echo(f"\r{path[-70:]:<70}", err=True, nl=False))
    if show:
        click.echo(err=True)
    _echo_minutes((((entry["prompt"],), entry["seconds"]) for entry in packed), out_dir)


@click.command()
@click.argument("corpus_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--config", "config_name", type=click.Choice(sorted(PRESETS)), default="small", show_default=True,
              help="Model size (of a model trained from scratch; --init brings its own).")
@click.option("--init", "init_model", default=None,
              help="Start from these weights (\"default\", a .safetensors file or an official checkpoint) "
                   "instead of from scratch; a resumed --checkpoint takes precedence.")
@click.option("--steps", type=int, default=1000, show_default=True,
              help="Optimiser steps in total: resumes below it; at or past it, only --export runs.")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--segment-seconds", type=float, default=6.0, show_default=True, help="Training excerpt length.")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--warmup-steps", type=int, default=10_000, show_default=True)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=Path("runs/train.pt"),
              show_default=True, help="Resumable training state, saved every --checkpoint-every steps.")
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--epoch-steps", type=int, default=2500, show_default=True,
              help="Steps per epoch: the LR plateau check and a weight snapshot at each epoch's end.")
@click.option("--average/--no-average", default=True, show_default=True,
              help="Export the mean of the last epochs' weights (official checkpoint averaging).")
@click.option("--export", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the trained model as .safetensors + .json here.")
@click.option("--synthetic-noise", type=int, default=30, show_default=True,
              help="Coloured-noise clips added to the sfxbg pool (no noise corpus ships in a package).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Production-style processing of each source (room, band limit, dialogue and bus chains, "
                   "level rides); the processed source is the target.")
@click.option("--scene-prob", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of mixtures that are dialogue scenes (speech, sfxbg, musicbg at production levels) "
                   "instead of the official prompt statistics.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when available), cpu, cuda; under torchrun each rank takes GPU LOCAL_RANK.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 autocast on GPUs (official recipe), fp32 on CPUs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line.")
def train(corpus_dir, config_name, init_model, steps, batch_size, segment_seconds, lr, warmup_steps, checkpoint,
          checkpoint_every, epoch_steps, average, export, synthetic_noise, augment, scene_prob, device, precision,
          quiet) -> None:
    """Train TUSS on CORPUS_DIR's train split with the official recipe (resumes from --checkpoint).

    Multi-GPU (or multi-process CPU) data parallelism: launch it with torchrun, e.g.
    `torchrun --nproc_per_node=4 --no-python tuss-fx train CORPUS --batch-size 4` (batch per rank).
    """
    import torch

    from tuss_fx.model import TussModel
    from tuss_fx.separation.checkpoint import load_model, resolve, save_native
    from tuss_fx.separation.separator import tune_allocator
    from tuss_fx.train.augment import ProductionAugment
    from tuss_fx.train.corpus import coloured_noise, load_pools
    from tuss_fx.train.distributed import leave, place
    from tuss_fx.train.loop import TrainSettings, average_snapshots, train as run_training
    from tuss_fx.train.sampler import MixtureSampler

    tune_allocator()
    model = load_model(init_model) if init_model else TussModel(PRESETS[config_name]())
    pools = load_pools(corpus_dir, "train")
    pools.setdefault("sfxbg", []).extend(coloured_noise(synthetic_noise, 2 * segment_seconds, seed=7))
    sampler = MixtureSampler(pools, round(segment_seconds * model.config.sample_rate),
                             augment=ProductionAugment() if augment else None, scene_prob=scene_prob)
    settings = TrainSettings(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps,
                             checkpoint_every=checkpoint_every, epoch_steps=epoch_steps)
    show = not quiet and sys.stderr.isatty()

    def report(step: int, loss: float, rate: float) -> None:
        if show or step % checkpoint_every == 0:
            click.echo(f"\rstep {step}/{steps}  loss {loss:7.2f} dB  {rate:5.2f} examples/s", err=True,
                       nl=not show)

    placement = place(device)
    if precision == "auto":
        precision = "bf16" if placement.device.type == "cuda" else "fp32"
    try:
        model = run_training(model, sampler, settings, checkpoint, report, placement, precision)
    finally:
        leave(placement)
    if export and placement.is_main:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if average:
            click.echo(f"averaged {average_snapshots(state, model)} end-of-epoch snapshots", err=True)
        metadata = {"steps": state["step"], "batch_size": state["settings"]["batch_size"],
                    "segment_seconds": segment_seconds, "corpus": str(corpus_dir), "augment": augment,
                    "scene_prob": scene_prob, "torch": torch.__version__}
        if init_model:
            metadata["init"] = _model_history(resolve(init_model))
        click.echo(str(save_native(model, export, metadata)))


def _model_history(path: Path) -> dict:
    """What a starting model was: its file name and, for a tuss-fx export, the training record it carries."""
    config = path.with_suffix(".json")
    record = json.loads(config.read_text()).get("tuss_fx", {}) if path.suffix == ".safetensors" and \
        config.exists() else {}
    return {"model": path.name, **record}


@click.command()
@click.argument("corpus_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--checkpoint", default="default", show_default=True, help="Model to evaluate.")
@click.option("--examples", type=int, default=40, show_default=True, help="Held-out mixtures per task.")
@click.option("--segment-seconds", type=float, default=6.0, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results here.")
def evaluate(corpus_dir, checkpoint, examples, segment_seconds, json_path) -> None:
    """SI-SNRi / SNR per prompt on CORPUS_DIR's held-out split, for the dialogue/music/effects task
    (speech, sfxbg, musicbg) and the stems task (vocals, drums, bass, other) where the split has both."""
    from tuss_fx.model.prompts import DMX_PROMPTS, STEM_PROMPTS
    from tuss_fx.separation.checkpoint import load_model
    from tuss_fx.train.corpus import load_pools
    from tuss_fx.train.evaluate import evaluate as run_evaluation, format_table
    from tuss_fx.train.sampler import MixtureSampler

    model = load_model(checkpoint)
    pools = load_pools(corpus_dir, "heldout")
    reports = []
    for name, prompts in (("dialogue/music/effects", DMX_PROMPTS), ("stems", STEM_PROMPTS)):
        task = [p for p in prompts if p in pools]
        if len(task) < 2:
            continue
        sampler = MixtureSampler(pools, round(segment_seconds * model.config.sample_rate), seed=1234)
        results = run_evaluation(model, [sampler.example_for(task) for _ in range(examples)])
        click.echo(f"{name} ({examples} held-out mixtures of {', '.join(task)})")
        click.echo(format_table(results))
        reports.append({"task": name, "prompts": task, "examples": examples, "results": results})
    if not reports:
        raise click.ClickException(f"{corpus_dir}: the held-out split has fewer than two classes of either task")
    if json_path:
        json_path.write_text(json.dumps({"checkpoint": str(checkpoint), "tasks": reports}, indent=1))


@click.command("evaluate-real")
@click.argument("media_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=False,
                default=RECORDINGS_DIR)
@click.option("--checkpoint", default="default", show_default=True, help="Model to evaluate.")
@click.option("--ambience", "ambience", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A real ambience recording for the effects bed (repeatable); without one, a robin call.")
@click.option("--speech", "speech", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A real dialogue recording to score as well (repeatable), played from its start.")
@click.option("--dbr", "dbrs_db", multiple=True, type=float, default=(0.0, -6.0, -12.0), show_default=True,
              help="Dialogue-to-background ratios in dB (repeatable).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the scores here.")
@click.option("--record", is_flag=True,
              help="Also record the music/effects scores in the model's JSON (a tuss-fx .safetensors model): "
                   "remix presets use the model's music/effects split only where they are good enough.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line.")
@dialogue_engine_options
def evaluate_real(media_dir, checkpoint, ambience, speech, dbrs_db, json_path, record, quiet, dialogue_engine,
                  dialogue_atten_lim_db) -> None:
    """SI-SNRi of the dialogue/music/effects stems on real recordings in MEDIA_DIR (default: the ones
    that ship with tuss-fx, tuss_fx/recordings): real readings over real music, effects and ambience at set
    ratios."""
    from tuss_fx.separation.separator import Separator
    from tuss_fx.train.real_suite import MODEL_RATE, Recordings, as_json, evaluate_real as run_suite, format_report

    separator = Separator.from_pretrained(checkpoint, device="cpu", dialogue_engine=dialogue_engine or "auto",
                                          dialogue_atten_lim_db=dialogue_atten_lim_db)
    show = not quiet and sys.stderr.isatty()

    def progress(name: str) -> None:
        if show:
            click.echo(f"\r{name[:70]:<70}", err=True, nl=False)

    scores, summary = run_suite(lambda mixture, prompts: separator.separate(mixture, MODEL_RATE, prompts)[:, 0],
                                Recordings(media_dir, tuple(ambience), tuple(speech)), dbrs_db, progress)
    if show:
        click.echo(err=True)
    click.echo(format_report(scores, summary))
    if json_path:
        json_path.write_text(json.dumps({"checkpoint": str(checkpoint), "dialogue_engine": separator.dialogue_engine,
                                         "dialogue_atten_lim_db": dialogue_atten_lim_db,
                                         **as_json(scores, summary)}, indent=1))
    if record:
        _record_split(checkpoint, summary, " ".join(["tuss-fx evaluate-real", *sys.argv[2:]]))


def _record_split(checkpoint: str, summary: dict[str, float], command: str) -> None:
    """Write the suite's music/effects scores into the model's JSON as its stem_split record."""
    import datetime

    from tuss_fx.separation.checkpoint import record_in_json, resolve, weights_file
    from tuss_fx.separation.split import STEM_SPLIT_KEY, read_split, split_record

    scores = {key.split()[0]: value for key, value in summary.items() if key.endswith(" si_snri_db")}
    try:
        record = split_record(scores, f"{command} ({datetime.date.today().isoformat()})")
    except ValueError as exc:
        raise click.ClickException(f"{checkpoint}: {exc}; the suite needs effects and music scenes") from None
    weights = weights_file(resolve(checkpoint))
    record_in_json(weights, STEM_SPLIT_KEY, record)
    click.echo(f"recorded in {weights.with_suffix('.json')}: {read_split(record, official=False).reason}", err=True)
