"""`tuss-fx train-dialogue`: fine-tune the dialogue engine (DeepFilterNet3) on speech over production beds."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from tuss_fx.cli.options import training_bar
from tuss_fx.recordings import RECORDINGS_DIR

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga")
CLIP_SECONDS = 60.0  # a long recording contributes a drawn minute, so no one file fills the pool


def _band_limited(ctx, param, values) -> list[tuple[Path, float]]:
    pairs = []
    for value in values:
        folder, _, edge = value.rpartition(":")
        try:
            pairs.append((Path(folder), float(edge)))
        except ValueError:
            raise click.BadParameter(f"{value!r}: expected FOLDER:BAND_EDGE_HZ, e.g. sounds/en:3400") from None
        if not Path(folder).is_dir():
            raise click.BadParameter(f"{folder}: no such folder")
    return pairs


@click.command("train-dialogue")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The fine-tuned DFN3 weights (.safetensors), written only if they beat the start on the held-out "
                   "scenes (or with --force).")
@click.option("--speech", "speech_dirs", multiple=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of full-band real speech (searched recursively; repeatable).")
@click.option("--band-limited", "band_limited", multiple=True, callback=_band_limited, metavar="FOLDER:HZ",
              help="A folder of band-limited speech and where its band ends, e.g. telephone prompts at 3400: the "
                   "loss ignores what lies above it (repeatable).")
@click.option("--background", "background_dirs", multiple=True, required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of real music and effects beds (repeatable).")
@click.option("--heldout-media", type=click.Path(file_okay=False, exists=True, path_type=Path), default=RECORDINGS_DIR,
              show_default=True, help="The real suite's recordings (default: the shipped ones): its scenes at 0 and -6 dB are the held-out score; "
                   "keep them out of the training folders.")
@click.option("--max-minutes", type=float, default=30.0, show_default=True,
              help="Most minutes of audio loaded per kind (speech, band-limited speech, background).")
@click.option("--steps", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this much wall-clock time (evaluated and resumable).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-5, show_default=True)
@click.option("--eval-every", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--lsnr-weight", type=click.FloatRange(min=0), default=1e-3, show_default=True,
              help="Weight of the local-SNR loss, whose estimate picks each frame's stage (0: left as shipped).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Training state for resuming [default: OUTPUT's name + .work].")
@click.option("--force", is_flag=True, help="Write the best weights even if they score below the start.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_dialogue(output, speech_dirs, band_limited, background_dirs, heldout_media, max_minutes, steps, minutes,
                   batch_size, lr, eval_every, lsnr_weight, work_dir, force, quiet) -> None:
    """Fine-tune the shipped dialogue engine on real speech over real music and effects at -10 to +10 dB,
    scored on the real suite's held-out scenes before and every --eval-every steps."""
    import numpy as np

    from tuss_fx.deepfilternet import load_network
    from tuss_fx.errors import TussFxError
    from tuss_fx.train.dialogue_finetune import DialogueSettings, RecordingPairs, finetune_dialogue
    from tuss_fx.train.real_suite import Recordings, default_scenes, render

    if not speech_dirs and not band_limited:
        raise click.UsageError("give --speech or --band-limited folders")
    seed_rng = np.random.default_rng(0)
    speech = [(clip, 24000.0) for clip in _clips(speech_dirs, max_minutes, seed_rng)]
    for folder, edge in band_limited:
        speech += [(clip, edge) for clip in _clips([folder], max_minutes / len(band_limited), seed_rng)]
    backgrounds = _clips(background_dirs, max_minutes, seed_rng)
    if not speech or not backgrounds:
        raise TussFxError(output, "no audio found in the speech or background folders")
    recordings = Recordings(heldout_media)
    held = []
    for scene in default_scenes(recordings, (0.0, -6.0)):
        if scene.music or scene.effects:
            sources = render(scene, recordings)
            held.append((sources[0], sources[1] + sources[2], 24000.0))
    settings = DialogueSettings(steps=steps, minutes=minutes, batch_size=batch_size, lr=lr, eval_every=eval_every,
                                lsnr_weight=lsnr_weight)
    click.echo(f"{sum(len(c) for c, _ in speech) / 48000 / 60:.1f} min of speech, "
               f"{sum(len(c) for c in backgrounds) / 48000 / 60:.1f} min of backgrounds, {len(held)} held-out scenes",
               err=True)
    with training_bar(not quiet and sys.stderr.isatty(), steps, "training") as report:
        run, best = finetune_dialogue(load_network(), RecordingPairs(speech, backgrounds,
                                                                     round(settings.segment_seconds * 48000)),
                                      held, work_dir or output.with_suffix(".work"), settings, report,
                                      lambda line: click.echo(line, err=True))
    if best is None or not (run.improved or force):
        raise TussFxError(output, f"not written: held-out speech SI-SNRi start {run.start:+.2f} dB, best "
                                  f"{run.best['si_snri'] if run.best else float('nan'):+.2f} dB")
    shutil.copyfile(best, output)
    click.echo(str(output))


def _clips(folders, max_minutes: float, rng) -> list:
    """Mono 48 kHz clips (at most CLIP_SECONDS each, drawn from longer files) from the folders' audio
    files in a drawn order, until max_minutes are loaded."""
    import numpy as np
    import soundfile as sf

    from tuss_fx.media.resample import resample

    files = sorted(p for folder in folders for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    clips, total = [], 0
    for index in rng.permutation(len(files)):
        try:
            audio, rate = sf.read(files[index], dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError):
            continue  # a file libsndfile cannot read is not worth stopping a training run for
        mono = audio.mean(axis=1)
        if len(mono) > CLIP_SECONDS * rate:
            start = int(rng.integers(len(mono) - int(CLIP_SECONDS * rate)))
            mono = mono[start: start + int(CLIP_SECONDS * rate)]
        clip = resample(mono[None], rate, 48000)[0].astype(np.float32)
        if np.abs(clip).max() < 1e-4:
            continue
        clips.append(clip)
        total += len(clip)
        if total >= max_minutes * 60 * 48000:
            break
    return clips
