"""Training loop (official recipe): AdamW, linear warm-up, then ReduceLROnPlateau per epoch, gradient
clipping, resumable checkpoints, and the last epochs' weights kept for checkpoint averaging."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tuss_fx.audio_io import temp_beside
from tuss_fx.model import TussModel
from tuss_fx.train.losses import snr_loss
from tuss_fx.train.sampler import MixtureSampler

StepReport = Callable[[int, float, float], None]  # (step, loss dB, examples per second)


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 10_000
    grad_clip: float = 5.0
    checkpoint_every: int = 100
    epoch_steps: int = 2500  # official: 2500 batches per epoch
    plateau_patience: int = 5  # epochs without improvement before the LR halves (official)
    plateau_factor: float = 0.5
    keep_snapshots: int = 5  # end-of-epoch weights kept for average_snapshots()
    seed: int = 20240618


def training_step(model: TussModel, optimizer, batch, grad_clip: float) -> float:
    """One optimisation step on (mixture (B, L), sources (B, P, L), prompts); returns the mean loss."""
    mixture, sources, prompts = batch
    estimate = model(torch.from_numpy(mixture), prompts)
    loss = snr_loss(estimate, torch.from_numpy(sources)).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach())


def train(
    model: TussModel, sampler: MixtureSampler, settings: TrainSettings, checkpoint: Path,
    report: StepReport | None = None,
) -> TussModel:
    """Train until settings.steps, resuming from `checkpoint` when it exists; saves it atomically.

    Every settings.epoch_steps steps ends an epoch: once warm-up is over, the epoch's mean loss
    drives ReduceLROnPlateau (the official recipe steps it on validation loss; a fixed held-out
    set costs CPU time we spend on training, and with dynamic mixing every training batch is
    unseen data), and the epoch's final weights join the snapshots kept for averaging.
    """
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / settings.warmup_steps))
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=settings.plateau_factor,
                                                         patience=settings.plateau_patience)
    progress = _Progress()
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        warmup.load_state_dict(state["scheduler"])
        if "plateau" in state:  # checkpoints written before plateau scheduling lack these
            plateau.load_state_dict(state["plateau"])
            progress = _Progress(state["step"], state["epoch_losses"], state["snapshots"])
        else:
            progress.step = state["step"]
        sampler.rng.bit_generator.state = state["sampler_rng"]
    else:
        torch.manual_seed(settings.seed)
    while progress.step < settings.steps:
        start = time.perf_counter()
        loss = training_step(model, optimizer, sampler.batch(settings.batch_size), settings.grad_clip)
        progress.step += 1
        if progress.step <= settings.warmup_steps:
            warmup.step()
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at step {progress.step}")
        progress.epoch_losses.append(loss)
        if progress.step % settings.epoch_steps == 0:
            if progress.step > settings.warmup_steps:
                plateau.step(sum(progress.epoch_losses) / len(progress.epoch_losses))
            progress.epoch_losses = []
            progress.snapshots = (progress.snapshots + [{k: v.detach().clone() for k, v in
                                                        model.state_dict().items()}])[-settings.keep_snapshots:]
        if report:
            report(progress.step, loss, settings.batch_size / (time.perf_counter() - start))
        if progress.step % settings.checkpoint_every == 0 or progress.step == settings.steps:
            _save(checkpoint, model, optimizer, warmup, plateau, sampler, progress, settings)
    return model.eval()


@dataclass
class _Progress:
    step: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    snapshots: list[dict[str, torch.Tensor]] = field(default_factory=list)


def average_snapshots(checkpoint: Path, model: TussModel) -> int:
    """Load into `model` the mean of the end-of-epoch weights `checkpoint` keeps; returns how many.

    The official evaluation averages checkpoints; with none kept yet, the current weights load.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    snapshots = state.get("snapshots") or [state["model"]]
    model.load_state_dict({name: torch.stack([s[name].float() for s in snapshots]).mean(0).to(tensor.dtype)
                           for name, tensor in snapshots[-1].items()})
    return len(snapshots)


def _save(path: Path, model, optimizer, warmup, plateau, sampler, progress: _Progress,
          settings: TrainSettings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": warmup.state_dict(),
                "plateau": plateau.state_dict(), "sampler_rng": sampler.rng.bit_generator.state,
                "step": progress.step, "epoch_losses": progress.epoch_losses, "snapshots": progress.snapshots,
                "settings": asdict(settings)}, tmp)
    tmp.replace(path)
