"""Training loop (official recipe): AdamW, linear warm-up, then ReduceLROnPlateau per epoch, gradient
clipping, bf16 autocast on GPUs, DDP under torchrun, resumable checkpoints, and the last epochs'
weights kept for checkpoint averaging."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tuss_fx.media.audio_io import temp_beside
from tuss_fx.model import TussModel
from tuss_fx.train.distributed import Placement, gather
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


def training_step(model: torch.nn.Module, optimizer, batch, grad_clip: float, device: torch.device | None = None,
                  precision: str = "fp32") -> float:
    """One optimisation step on (mixture (B, L), sources (B, P, L), prompts); returns the mean loss.

    precision "bf16" runs the forward under bf16 autocast (official recipe on GPUs); the loss and
    the weights stay fp32.
    """
    device = device or torch.device("cpu")
    mixture, sources, prompts = batch
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        estimate = model(torch.from_numpy(mixture).to(device), prompts)
    loss = snr_loss(estimate.float(), torch.from_numpy(sources).to(device)).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach())


def train(
    model: TussModel, sampler: MixtureSampler, settings: TrainSettings, checkpoint: Path,
    report: StepReport | None = None, placement: Placement | None = None, precision: str = "fp32",
    deadline: float | None = None,
) -> TussModel:
    """Train until settings.steps, resuming from `checkpoint` when it exists; saves it atomically.

    `deadline` (a time.monotonic() value) ends training early, after a step, with the
    checkpoint saved, so a time budget loses no work.

    Every settings.epoch_steps steps ends an epoch: once warm-up is over, the epoch's mean loss
    drives ReduceLROnPlateau (the official recipe steps it on validation loss; a fixed held-out
    set costs CPU time we spend on training, and with dynamic mixing every training batch is
    unseen data), and the epoch's final weights join the snapshots kept for averaging.

    Under torchrun (`placement.distributed`) the model is wrapped in DistributedDataParallel,
    each rank draws its own mixtures (its sampler seeded by rank), epoch losses are averaged
    over ranks, and only rank 0 reports and writes the checkpoint.
    """
    placement = placement or Placement(torch.device("cpu"))
    model.to(placement.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / settings.warmup_steps))
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=settings.plateau_factor,
                                                         patience=settings.plateau_patience)
    progress = _Progress()
    if placement.distributed:
        sampler.rng = np.random.default_rng([settings.seed, placement.rank])
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
        rng_states = state["sampler_rng"] if isinstance(state["sampler_rng"], list) else [state["sampler_rng"]]
        if len(rng_states) == placement.world_size:  # else: a new world size keeps the fresh per-rank seeds
            sampler.rng.bit_generator.state = rng_states[placement.rank]
    else:
        torch.manual_seed(settings.seed)
    # a batch uses only the prompt embeddings it asks for, so DDP must expect unused parameters
    trained = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[placement.device.index]
                                                         if placement.device.type == "cuda" else None,
                                                         find_unused_parameters=True)
               if placement.distributed else model)
    while progress.step < settings.steps:
        start = time.perf_counter()
        loss = training_step(trained, optimizer, sampler.batch(settings.batch_size), settings.grad_clip,
                             placement.device, precision)
        progress.step += 1
        if progress.step <= settings.warmup_steps:
            warmup.step()
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at step {progress.step}")
        progress.epoch_losses.append(loss)
        if progress.step % settings.epoch_steps == 0:
            epoch_loss = float(np.mean(gather(float(np.mean(progress.epoch_losses)), placement)))
            if progress.step > settings.warmup_steps:
                plateau.step(epoch_loss)
            progress.epoch_losses = []
            progress.snapshots = (progress.snapshots + [{k: v.detach().cpu().clone() for k, v in
                                                        model.state_dict().items()}])[-settings.keep_snapshots:]
        if report and placement.is_main:
            report(progress.step, loss, settings.batch_size * placement.world_size / (time.perf_counter() - start))
        out_of_time = deadline is not None and time.monotonic() >= deadline
        if progress.step % settings.checkpoint_every == 0 or progress.step == settings.steps or out_of_time:
            rng_states = gather(sampler.rng.bit_generator.state, placement)
            if placement.is_main:
                _save(checkpoint, model, optimizer, warmup, plateau, rng_states, progress, settings)
        if out_of_time:
            break
    return model.eval()


@dataclass
class _Progress:
    step: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    snapshots: list[dict[str, torch.Tensor]] = field(default_factory=list)


def average_snapshots(state: dict, model: TussModel) -> int:
    """Load into `model` the mean of the end-of-epoch weights a saved training `state` keeps;
    returns how many.

    The official evaluation averages checkpoints; with none kept yet, the current weights load.
    """
    snapshots = state.get("snapshots") or [state["model"]]
    model.load_state_dict({name: torch.stack([s[name].float() for s in snapshots]).mean(0).to(tensor.dtype)
                           for name, tensor in snapshots[-1].items()})
    return len(snapshots)


def _save(path: Path, model, optimizer, warmup, plateau, rng_states: list, progress: _Progress,
          settings: TrainSettings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "optimizer": optimizer.state_dict(),
                "scheduler": warmup.state_dict(), "plateau": plateau.state_dict(),
                "sampler_rng": rng_states if len(rng_states) > 1 else rng_states[0],
                "step": progress.step, "epoch_losses": progress.epoch_losses, "snapshots": progress.snapshots,
                "settings": asdict(settings)}, tmp)
    tmp.replace(path)
