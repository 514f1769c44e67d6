"""Training loop: AdamW, linear warm-up, gradient clipping, resumable checkpoints (official recipe)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
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
    """Train until settings.steps, resuming from `checkpoint` when it exists; saves it atomically."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / settings.warmup_steps))
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        warmup.load_state_dict(state["scheduler"])
        sampler.rng.bit_generator.state = state["sampler_rng"]
        step = state["step"]
    else:
        torch.manual_seed(settings.seed)
    while step < settings.steps:
        start = time.perf_counter()
        loss = training_step(model, optimizer, sampler.batch(settings.batch_size), settings.grad_clip)
        warmup.step()
        step += 1
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at step {step}")
        if report:
            report(step, loss, settings.batch_size / (time.perf_counter() - start))
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            _save(checkpoint, model, optimizer, warmup, sampler, step, settings)
    return model.eval()


def _save(path: Path, model, optimizer, scheduler, sampler, step: int, settings: TrainSettings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "sampler_rng": sampler.rng.bit_generator.state, "step": step, "settings": asdict(settings)}, tmp)
    tmp.replace(path)
