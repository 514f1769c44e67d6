"""Fine-tuning the dialogue engine (DeepFilterNet3) on speech over backgrounds, resumable, never worse.

Training pairs are (speech, background) excerpts at 48 kHz mono: from a show's stems folder (its
dialogue stem, and everything else of its mix as the background, remixed at random gains), or from
recordings (real speech over real music and effects at drawn dialogue-to-background ratios). The
network is trained through the exact inference path (deepfilternet.training.enhance_batch) with the
DeepFilterNet papers' loss; its BatchNorm statistics stay as converted (eval mode, gradients on):
small fine-tuning batches would only add noise to them.

The run lives in a work folder (state, evaluations, best weights) and resumes there. The start
weights are scored on held-out pairs first (speech SI-SNRi of the dialogue estimate), then every
`eval_every` steps; the best evaluated weights are the result, and the caller exports them only
where they beat the start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from tuss_fx.deepfilternet import enhance
from tuss_fx.deepfilternet.network import DeepFilterNet3
from tuss_fx.deepfilternet.training import LSNR_WEIGHT, dialogue_loss
from tuss_fx.media.temp_files import write_atomically
from tuss_fx.train.real_suite import si_snr
from tuss_fx.train.stems_folder import StemsFolderError, Track
from tuss_fx.train.stems_sampler import SILENT_PEAK, heldout_examples, read_excerpt, source_frames

MODEL_RATE = 48000
FULL_BAND_HZ = MODEL_RATE / 2
REMIX_GAIN_DB = (-6.0, 6.0)  # the background's gain around its delivered level, in a show's remixes
STATE_NAME, RUN_NAME, BEST_NAME = "dfn3.state.pt", "dfn3.run.json", "dfn3.best.safetensors"

Pair = tuple[np.ndarray, np.ndarray, float]  # speech (L,), background (L,), the speech's band edge in Hz
StepReport = Callable[[int, float, float], None]  # (step, loss, pairs per second)


@dataclass(frozen=True)
class DialogueSettings:
    steps: int = 300
    minutes: float | None = None  # wall-clock budget of this invocation
    batch_size: int = 8
    segment_seconds: float = 3.0
    lr: float = 2e-5  # the shipped weights are good: small steps, so they are refined, not relearned
    eval_every: int = 50
    checkpoint_every: int = 25
    grad_clip: float = 1.0
    lsnr_weight: float = LSNR_WEIGHT
    seed: int = 0


@dataclass
class DialogueRun:
    """What a run measured: the start weights' held-out score and each evaluation's."""

    start: float  # mean held-out speech SI-SNRi of the start weights, dB
    evaluations: list[dict] = field(default_factory=list)  # {"step", "si_snri"}
    steps: int = 0

    @property
    def best(self) -> dict | None:
        return max(self.evaluations, key=lambda entry: entry["si_snri"], default=None)

    @property
    def improved(self) -> bool:
        return self.best is not None and self.best["si_snri"] > self.start


class TrackPairs:
    """Pairs from a show's stems: the `speech` stem, and the rest of the mix (the mix minus the
    dialogue where the track has one, else the other stems' sum) at a random gain."""

    def __init__(self, tracks: Sequence[Track], segment_samples: int, seed: int = 0) -> None:
        self.tracks = [track for track in tracks if "speech" in track.stems]
        if not self.tracks:
            raise StemsFolderError(tracks[0].folder if tracks else Path("."), "no track has a speech stem to teach "
                                   "the dialogue engine")
        self.segment_samples = segment_samples
        self.rng = np.random.default_rng(seed)

    def draw(self) -> Pair:
        for _ in range(20):
            track = self.tracks[self.rng.integers(len(self.tracks))]
            frames = source_frames(track, self.segment_samples, MODEL_RATE)
            start = int(self.rng.integers(max(track.num_frames - frames, 0) + 1))
            speech, background = track_pair(track, start, int(self.rng.integers(track.num_channels)),
                                            self.segment_samples)
            if np.abs(speech).max() > SILENT_PEAK:
                break
        gain = 10 ** (self.rng.uniform(*REMIX_GAIN_DB) / 20)
        return speech, (background * gain).astype(np.float32), FULL_BAND_HZ


def track_pair(track: Track, start: int, channel: int, segment_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """One moment of a track as (speech, background) at the model rate."""
    def excerpt(path) -> np.ndarray:
        return read_excerpt(track, path, start, channel, segment_samples, MODEL_RATE)

    speech = excerpt(track.stems["speech"])
    if track.mix is not None:
        return speech, excerpt(track.mix) - speech
    others = [excerpt(path) for prompt, path in track.stems.items() if prompt != "speech"]
    return speech, np.sum(others, axis=0) if others else np.zeros_like(speech)


def heldout_pairs(tracks: Sequence[Track], segment_samples: int, per_track: int = 8) -> list[Pair]:
    """The same held-out moments every time (stems_sampler.heldout_examples), as pairs."""
    pairs = []
    for mixture, sources, prompts in heldout_examples([t for t in tracks if "speech" in t.stems], segment_samples,
                                                      MODEL_RATE, per_track):
        speech = sources[prompts.index("speech")]
        if np.abs(speech).max() > SILENT_PEAK:
            pairs.append((speech, mixture - speech, FULL_BAND_HZ))
    return pairs


class RecordingPairs:
    """Pairs drawn from recordings in memory: speech clips (each with its band edge) over background
    clips at a dialogue-to-background ratio drawn from dbr_range_db (RMS over RMS)."""

    def __init__(self, speech: Sequence[tuple[np.ndarray, float]], backgrounds: Sequence[np.ndarray],
                 segment_samples: int, dbr_range_db: tuple[float, float] = (-10.0, 10.0), seed: int = 0) -> None:
        self.speech, self.backgrounds = list(speech), list(backgrounds)
        self.segment_samples, self.dbr_range_db = segment_samples, dbr_range_db
        self.rng = np.random.default_rng(seed)

    def draw(self) -> Pair:
        clip, band_edge = self.speech[self.rng.integers(len(self.speech))]
        speech = self._excerpt(clip)
        background = self._excerpt(self.backgrounds[self.rng.integers(len(self.backgrounds))])
        dbr = self.rng.uniform(*self.dbr_range_db)
        level = np.sqrt(np.mean(speech ** 2)) / (np.sqrt(np.mean(background ** 2)) + 1e-9) * 10 ** (-dbr / 20)
        return speech, (background * level).astype(np.float32), band_edge

    def _excerpt(self, clip: np.ndarray) -> np.ndarray:
        if len(clip) <= self.segment_samples:
            return np.pad(clip, (0, self.segment_samples - len(clip))).astype(np.float32)
        start = int(self.rng.integers(len(clip) - self.segment_samples + 1))
        return clip[start: start + self.segment_samples].astype(np.float32)


def score(network: DeepFilterNet3, pairs: Sequence[Pair]) -> float:
    """Mean speech SI-SNRi (dB) of the dialogue engine on the pairs: the estimate against the speech,
    over the mixture against the speech."""
    network.eval()
    gains = []
    for speech, background, _ in pairs:
        mixture = (speech + background).astype(np.float32)
        estimate = enhance(network, mixture[None])[0]
        gains.append(si_snr(estimate, speech) - si_snr(mixture, speech))
    return float(np.mean(gains))


def finetune_dialogue(network: DeepFilterNet3, source, held: Sequence[Pair], work_dir: Path,
                      settings: DialogueSettings, report: StepReport | None = None,
                      log: Callable[[str], None] = lambda line: None) -> tuple[DialogueRun, Path | None]:
    """Train `network` (in place) on pairs from `source` (draw() -> Pair), resuming from work_dir;
    returns the run and the best evaluated weights' file in work_dir (None before any evaluation)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    run_path, state_path, best_path = work_dir / RUN_NAME, work_dir / STATE_NAME, work_dir / BEST_NAME
    run = DialogueRun(**json.loads(run_path.read_text())) if run_path.exists() else None
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.lr)
    if run is None:
        log(f"scoring the start weights on {len(held)} held-out excerpts")
        run = DialogueRun(score(network, held))
        _write_json(run_path, asdict(run))
    elif state_path.exists():
        state = torch.load(state_path, weights_only=False)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        source.rng.bit_generator.state = state["rng"]
        log(f"resuming at step {run.steps}")
    deadline = time.monotonic() + settings.minutes * 60 if settings.minutes else None
    started, drawn = time.monotonic(), 0
    while run.steps < settings.steps and (deadline is None or time.monotonic() < deadline):
        network.eval()  # BatchNorm as converted; gradients still flow
        pairs = [source.draw() for _ in range(settings.batch_size)]
        speech, background = (torch.from_numpy(np.stack([pair[i] for pair in pairs])) for i in (0, 1))
        loss, terms = dialogue_loss(network, speech, background,
                                    torch.tensor([pair[2] for pair in pairs], dtype=torch.float32),
                                    settings.lsnr_weight)
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(network.parameters(), settings.grad_clip)
        if torch.isfinite(norm):  # a batch whose gradients are not finite would poison the weights: skipped
            optimizer.step()
        else:
            log(f"step {run.steps + 1}: gradients not finite, batch skipped")
        run.steps += 1
        drawn += len(pairs)
        if report:
            report(run.steps, terms["total"], drawn / (time.monotonic() - started))
        if run.steps % settings.eval_every == 0 or run.steps == settings.steps:
            _evaluate(network, held, run, best_path, log)
        if run.steps % settings.checkpoint_every == 0 or run.steps == settings.steps:
            _save_state(state_path, network, optimizer, source, run, run_path)
    if run.steps and not any(entry["step"] == run.steps for entry in run.evaluations):
        _evaluate(network, held, run, best_path, log)  # the time ran out between evaluations
        _save_state(state_path, network, optimizer, source, run, run_path)
    return run, best_path if best_path.exists() else None


def _evaluate(network: DeepFilterNet3, held: Sequence[Pair], run: DialogueRun, best_path: Path, log) -> None:
    previous = run.best["si_snri"] if run.best else -np.inf
    value = score(network, held)
    run.evaluations.append({"step": run.steps, "si_snri": value})
    if value > previous:
        write_atomically(best_path, lambda tmp: save_file({k: v.detach().contiguous() for k, v in network.state_dict().items()},
                                                 tmp))
    log(f"step {run.steps}: held-out speech SI-SNRi {value:+.2f} dB (start {run.start:+.2f} dB)")


def _save_state(path: Path, network, optimizer, source, run: DialogueRun, run_path: Path) -> None:
    state = {"model": network.state_dict(), "optimizer": optimizer.state_dict(), "rng": source.rng.bit_generator.state}
    write_atomically(path, lambda tmp: torch.save(state, tmp))
    _write_json(run_path, asdict(run))


def _write_json(path: Path, data: dict) -> None:
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1)))


@dataclass(frozen=True)
class DialogueExport:
    run: DialogueRun
    exported: Path | None  # the fine-tuned DFN3 weights beside the model, when they beat the start
    model: Path | None  # the model JSON that now names them


def finetune_show_dialogue(start_model: str | Path, training: Sequence[Track], held: Sequence[Track], output: Path,
                           work_dir: Path, settings: DialogueSettings, force: bool = False,
                           report: StepReport | None = None, log: Callable[[str], None] = lambda line: None,
                           tuss_speech_si_snri: float | None = None) -> DialogueExport:
    """`tuss-fx finetune --engine dialogue|both`: fine-tune the start model's dialogue engine on a show's
    tracks (held-out tracks scored before and after) and, where the best beats the start (or with
    `force`), write it beside `output` (a .safetensors model: the start model itself when TUSS was
    not fine-tuned) and record it in the model's JSON as the engine that serves speech, unless TUSS
    measured better on the same excerpts (tuss_speech_si_snri)."""
    from tuss_fx.deepfilternet import load_network
    from tuss_fx.separation.checkpoint import (load_model, record_dialogue_engine, recorded_dialogue_weights,
                                              save_native)

    segment = round(settings.segment_seconds * MODEL_RATE)
    held_pairs = heldout_pairs(held, segment)
    if not held_pairs:
        raise StemsFolderError(held[0].folder, "the held-out tracks hold no dialogue to score the engine on")
    start_weights = recorded_dialogue_weights(start_model)
    network = load_network(**({"path": start_weights} if start_weights else {}))
    run, best = finetune_dialogue(network, TrackPairs(training, segment, settings.seed), held_pairs,
                                  work_dir / "dialogue", settings, report, log)
    if best is None or not (run.improved or force):
        return DialogueExport(run, None, None)
    if not output.exists():
        save_native(load_model(start_model), output, {"dialogue_finetune": {"start_model": str(start_model)}})
    weights = output.with_name(output.stem + ".dfn3.safetensors")
    write_atomically(weights, lambda tmp: Path(tmp).write_bytes(best.read_bytes()))
    scores = {"deepfilternet (fine-tuned)": run.best["si_snri"], "deepfilternet (start)": run.start}
    if tuss_speech_si_snri is not None:
        scores["tuss"] = tuss_speech_si_snri
    choice = "tuss" if tuss_speech_si_snri is not None and tuss_speech_si_snri > run.best["si_snri"] \
        else "deepfilternet"
    record_dialogue_engine(output, {"choice": choice, "weights": weights.name,
                                    "measured_on": f"{len(held)} held-out track(s) of the fine-tuning stems, "
                                                   f"{len(held_pairs)} excerpts", "speech si_snri_db": scores,
                                    "steps": run.best["step"]})
    return DialogueExport(run, weights, output)
