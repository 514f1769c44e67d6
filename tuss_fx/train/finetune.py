"""Fine-tuning on a user's stems: whole tracks held out, the official recipe, the best checkpoint by held-out score.

The run lives in a work folder (training state, evaluations, best weights) so it resumes where it
stopped. Before training the start model is scored on the held-out tracks; every `eval_every`
steps (and when the time budget ends) the fine-tuned weights are scored the same way, and the
best of them is exported only if it beats the start model (mean SI-SNRi over the stems).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from tuss_fx.errors import TussFxError
from tuss_fx.media.temp_files import write_atomically
from tuss_fx.model import TussModel
from tuss_fx.separation.checkpoint import load_model, record_dialogue_engine, record_in_json, save_native, weights_digest
from tuss_fx.separation.split import SPLIT_PROMPTS, STEM_SPLIT_KEY, read_split, split_record
from tuss_fx.train.distributed import Placement
from tuss_fx.train.evaluate import dialogue_engine_record, evaluate, evaluate_deepfilternet
from tuss_fx.train.loop import StepReport, TrainSettings, train
from tuss_fx.train.stems_folder import StemsFolderError, Track, folder_digest
from tuss_fx.train.stems_sampler import StemsSampler, heldout_examples

Scores = dict[str, dict[str, float]]  # prompt -> {"si_snri", "si_snr", "snr", "count"} (train.evaluate)
STATE_NAME, RUN_NAME, BEST_NAME = "train.pt", "run.json", "best.safetensors"


@dataclass(frozen=True)
class FinetuneSettings:
    steps: int = 1000
    minutes: float | None = None  # wall-clock budget for this invocation; None: until `steps`
    batch_size: int = 4
    segment_seconds: float = 4.0
    lr: float = 1e-4  # a tenth of the from-scratch rate: the start model already separates
    warmup_steps: int = 50
    eval_every: int = 100
    checkpoint_every: int = 25
    holdout: float = 0.1
    heldout_per_track: int = 8
    seed: int = 0


@dataclass(frozen=True)
class FinetuneResult:
    start: Scores
    best: dict | None  # {"step", "scores", "mean_si_snri"} of the best fine-tuned evaluation
    steps: int  # steps trained so far in the work folder
    exported: Path | None
    heldout_tracks: list[str]

    @property
    def improved(self) -> bool:
        return self.best is not None and self.best["mean_si_snri"] > mean_si_snri(self.start)


def mean_si_snri(scores: Scores) -> float:
    """The held-out score a checkpoint is ranked by: SI-SNRi averaged over the stems, in dB."""
    return float(np.mean([row["si_snri"] for row in scores.values()]))


def split_holdout(tracks: Sequence[Track], fraction: float, seed: int) -> tuple[list[Track], list[Track]]:
    """(training, held-out) tracks: `fraction` of each task's tracks (at least one, never all), by seed.

    Raises:
        StemsFolderError: a task with fewer than two tracks (one must train, one must judge).
    """
    training, held = [], []
    for task in dict.fromkeys(track.task for track in tracks):
        group = [track for track in tracks if track.task == task]
        if len(group) < 2:
            raise StemsFolderError(group[0].folder, f"the only {task} track: fine-tuning holds whole tracks out "
                                   "to prove itself, so it needs at least two")
        count = min(max(1, round(fraction * len(group))), len(group) - 1)
        order = np.random.default_rng(seed).permutation(len(group))
        held += [group[i] for i in sorted(order[:count])]
        training += [group[i] for i in sorted(order[count:])]
    return training, held


def finetune(
    start_model: str | Path, tracks: Sequence[Track], output: Path, work_dir: Path, settings: FinetuneSettings,
    placement: Placement, precision: str = "fp32", report: StepReport | None = None, force: bool = False,
    log: Callable[[str], None] = lambda line: None,
) -> FinetuneResult:
    """Fine-tune `start_model` on `tracks`, resuming from `work_dir`; export the best checkpoint to `output`.

    Raises:
        TussFxError: work_dir holds a run of other stems, another start model or another hold-out.
        StemsFolderError: too few tracks, or held-out tracks with nothing but silence.
    """
    model = load_model(start_model)
    training, held = split_holdout(tracks, settings.holdout, settings.seed)
    identity = {"start_model": str(start_model), "start_weights_sha256": weights_digest(model),
                "stems": folder_digest(tracks), "holdout": settings.holdout, "seed": settings.seed,
                "segment_seconds": settings.segment_seconds, "heldout_tracks": [str(t.folder) for t in held]}
    run = _load_run(work_dir, identity)
    segment = round(settings.segment_seconds * model.config.sample_rate)
    examples = heldout_examples(held, segment, model.config.sample_rate, settings.heldout_per_track)
    if not examples:
        raise StemsFolderError(held[0].folder, "the held-out tracks hold nothing but silence")
    if "start" not in run:
        log(f"scoring the start model on {len(examples)} held-out excerpts of {len(held)} track(s)")
        run["start"] = evaluate(model, examples)
        _write_json(work_dir / RUN_NAME, run)
    state_path = work_dir / STATE_NAME
    state = _saved_state(state_path)
    step = state["step"] if state else 0
    if state:
        model.load_state_dict(state["model"])
        log(f"resuming at step {step}")
    del state  # the optimiser's moments: train() reloads what it needs
    sampler = StemsSampler(training, segment, model.config.sample_rate, seed=settings.seed)
    deadline = time.monotonic() + settings.minutes * 60 if settings.minutes else None
    while True:
        if step and not any(entry["step"] == step for entry in run["evaluations"]):
            _record(run, step, evaluate(model, examples), model, work_dir)
            log(f"step {step}: held-out SI-SNRi {run['evaluations'][-1]['mean_si_snri']:+.2f} dB "
                f"(start model {mean_si_snri(run['start']):+.2f} dB)")
        if step >= settings.steps or (deadline is not None and time.monotonic() >= deadline):
            break
        target = min((step // settings.eval_every + 1) * settings.eval_every, settings.steps)
        model = train(model, sampler, TrainSettings(
            steps=target, batch_size=settings.batch_size, lr=settings.lr, warmup_steps=settings.warmup_steps,
            checkpoint_every=settings.checkpoint_every, epoch_steps=settings.eval_every, seed=settings.seed),
            state_path, report, placement, precision, deadline)
        step = _saved_state(state_path)["step"]
    best = max(run["evaluations"], key=lambda entry: entry["mean_si_snri"], default=None)
    result = FinetuneResult(run["start"], best, step, None, identity["heldout_tracks"])
    if best is not None and (result.improved or force):
        metadata = {"finetune": {**identity, "steps": best["step"], "trained_steps": step,
                                 "settings": asdict(settings), "torch": torch.__version__},
                    "heldout": {"start": run["start"], "finetuned": best["scores"], "step": best["step"]}}
        exported = save_native(load_model(work_dir / BEST_NAME), output, metadata)
        record = dialogue_engine_record(best["scores"].get("speech"), evaluate_deepfilternet(examples),
                                        f"{len(held)} held-out track(s) of the fine-tuning stems")
        if record:
            record_dialogue_engine(exported, record)
            log(f"dialogue engine: {record['choice']} (held-out speech SI-SNRi: TUSS "
                f"{record['speech si_snri_db']['tuss']:+.2f} dB, DeepFilterNet3 "
                f"{record['speech si_snri_db']['deepfilternet']:+.2f} dB)")
        _record_split(exported, best["scores"], f"{len(held)} held-out track(s) of the fine-tuning stems", log)
        result = FinetuneResult(run["start"], best, step, exported, identity["heldout_tracks"])
    _write_json(output.with_suffix(".heldout.json"),
                {"start": run["start"], "evaluations": run["evaluations"], "best_step": best and best["step"],
                 "exported": str(result.exported) if result.exported else None, **identity})
    return result


def _record_split(exported: Path, scores: Scores, measured_on: str, log: Callable[[str], None]) -> None:
    """Re-measure the music/effects split on the held-out stems (remix plans read it); a show without
    both stems leaves the model unmeasured, so its presets keep to the dialogue plan."""
    if not all(prompt in scores for prompt in SPLIT_PROMPTS):
        return
    record = split_record({prompt: scores[prompt]["si_snri"] for prompt in SPLIT_PROMPTS}, measured_on)
    record_in_json(exported, STEM_SPLIT_KEY, record)
    log(f"music/effects split: {'trusted' if record['trusted'] else 'not trusted'} "
        f"({read_split(record, official=False).reason})")


def _record(run: dict, step: int, scores: Scores, model: TussModel, work_dir: Path) -> None:
    """Add an evaluation; a new best fine-tuned score also saves its weights."""
    previous = max((entry["mean_si_snri"] for entry in run["evaluations"]), default=-np.inf)
    entry = {"step": step, "scores": scores, "mean_si_snri": mean_si_snri(scores)}
    if entry["mean_si_snri"] > previous:
        save_native(model, work_dir / BEST_NAME, {"step": step})
    run["evaluations"].append(entry)
    _write_json(work_dir / RUN_NAME, run)


def _load_run(work_dir: Path, identity: dict) -> dict:
    path = work_dir / RUN_NAME
    if not path.exists():
        work_dir.mkdir(parents=True, exist_ok=True)
        return {"identity": identity, "evaluations": []}
    run = json.loads(path.read_text())
    if run["identity"] != identity:
        changed = sorted(key for key in identity if run["identity"].get(key) != identity[key])
        raise TussFxError(work_dir, f"holds a fine-tuning run with another {', '.join(changed)}; delete it or pass "
                          "another --work-dir")
    return run


def _write_json(path: Path, data: dict) -> None:
    write_atomically(path, lambda temp: Path(temp).write_text(json.dumps(data, indent=1)))


def _saved_state(state_path: Path) -> dict | None:
    """The training state train() saved (model, optimiser, step ...), or None before the first save."""
    return torch.load(state_path, map_location="cpu", weights_only=True) if state_path.exists() else None
