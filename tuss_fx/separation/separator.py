"""Separator: audio of any rate, length and channel layout in, one stem per prompt out."""

from __future__ import annotations

import ctypes
import functools
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from tuss_fx.errors import PromptError
from tuss_fx.media.audio_io import check_finite
from tuss_fx.media.resample import StreamResampler, resampled_length
from tuss_fx.media.sample_queue import SampleQueue
from tuss_fx.model import TussModel, UnknownPromptError
from tuss_fx.model.prompts import check_prompts
from tuss_fx.separation.checkpoint import (load_model, recorded_dialogue_engine, recorded_dialogue_weights,
                                          recorded_stem_split, resolve)
from tuss_fx.separation.devices import resolve_device
from tuss_fx.separation.dialogue import SPEECH_PROMPT, DialoguePlan, DialogueSplit, check_model_rate, resolve_engine
from tuss_fx.separation.forward import ModelRunner
from tuss_fx.separation.prefetch import prefetched
from tuss_fx.separation.split import StemSplit
from tuss_fx.separation.stream import OverlapAdd

DEFAULT_OVERLAP = 0.25
# samples (at the caller's rate) soxr VHQ may hold back on the way in and out, rounded up
RESAMPLER_LATENCY_ALLOWANCE = 2048
# input blocks decoded ahead of the model by a reading thread
PREFETCH_BLOCKS = 4

Progress = Callable[[int, int], None]  # (input frames done, input frames in total)


RESIDUAL = "residual"  # mixture - Σ stems: what no prompt caught


def source_names(prompts: Sequence[str]) -> list[str]:
    """The stems of `prompts` and then the residual: every source a remix mixes."""
    return stem_names(prompts) + [RESIDUAL]


def stem_names(prompts: Sequence[str]) -> list[str]:
    """Stem names from prompts: a repeated prompt is numbered (speech-1, speech-2)."""
    counts, seen = Counter(prompts), Counter()
    names = []
    for prompt in prompts:
        seen[prompt] += 1
        names.append(f"{prompt}-{seen[prompt]}" if counts[prompt] > 1 else prompt)
    return names


@functools.cache
def tune_allocator() -> None:
    """Keep freed blocks in glibc's heap instead of returning them to the OS after every op.

    The model allocates and frees many tensors of tens of MB per segment; with glibc's defaults
    each one is a fresh mmap that page-faults on first touch. Measured on the 2-core CI machine:
    a 6 s medium segment drops from ~8.6 s to ~6.5 s (benchmarks/bench_model.py). Peak memory
    is unchanged; the process just keeps its peak instead of shrinking between segments.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:
            return
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 30)
        libc.mallopt(m_trim_threshold, 1 << 30)


class Separator:
    """TUSS in post-production terms: channels-first float32 arrays at any sample rate.

    The model is monaural at 48 kHz: each channel is separated as its own batch item, audio is
    resampled to the model rate and back with soxr, and inputs longer than one segment are
    processed in overlapping windowed segments (tuss_fx.separation.stream).

    precision: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "fp32" or "bf16".
    batch_size: most mono segments (segments x channels) per forward pass; None: 4 on CPU, on
    CUDA as many as fit in the free memory, up to 64. On CUDA several segments of a file go
    through one pass; CUDA running out of memory halves the batch instead of failing.
    dialogue_engine: what serves the `speech` prompt (tuss_fx.separation.dialogue): "tuss", or
    "deepfilternet" (DFN3 takes the dialogue, TUSS separates the rest); "auto" is what the
    model's JSON records as measured better, which from_pretrained reads; a bare model has no
    record, so "auto" is TUSS here. dialogue_atten_lim_db: most attenuation DFN3 may apply.
    stem_split: whether the model's music/effects split is trusted (tuss_fx.separation.split), which
    decides a remix's plan; from_pretrained reads the model's record, a bare model has none.
    dialogue_weights: DFN3 weights fine-tuned for this model (default: the shipped conversion);
    from_pretrained takes the ones its record names.
    """

    def __init__(
        self,
        model: TussModel,
        device: str = "auto",
        segment_seconds: float | None = None,
        overlap: float = DEFAULT_OVERLAP,
        name: str = "custom",
        precision: str = "auto",
        batch_size: int | None = None,
        dialogue_engine: str = "auto",
        dialogue_atten_lim_db: float | None = None,
        stem_split: StemSplit | None = None,
        dialogue_weights: Path | None = None,
    ) -> None:
        tune_allocator()
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.runner = ModelRunner(self.model, self.device, precision, batch_size)
        self.segment_seconds = segment_seconds or model.config.segment_seconds
        if self.segment_seconds <= 0 or not 0.0 <= overlap < 1.0:
            raise ValueError("segment_seconds must be > 0 and overlap in [0, 1)")
        self.overlap = overlap
        self.name = name
        self.dialogue_engine = resolve_engine(dialogue_engine, None)
        self.dialogue_atten_lim_db = dialogue_atten_lim_db
        self.stem_split = stem_split or StemSplit(False, "a model given without its record; its music/effects "
                                                         "split was never measured")
        self.dialogue_network = None
        if self.dialogue_engine == "deepfilternet":
            from tuss_fx.deepfilternet import load_network

            check_model_rate(self.sample_rate)
            self.dialogue_network = load_network(**({"path": dialogue_weights} if dialogue_weights else {}),
                                                 device=self.device)

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path = "default", device: str = "auto",
                        dialogue_engine: str = "auto", **kwargs) -> Separator:
        """Load "default" (the shipped model), an official TUSS folder/.pth/.ckpt, an installed
        official model by name (tuss-medium, tuss-large: `tuss-fx models pull`), or a .safetensors.
        dialogue_engine "auto" takes the engine the model's JSON records (TUSS if none).

        Raises:
            CheckpointError: missing or mismatched checkpoint, one line naming the file.
        """
        engine = resolve_engine(dialogue_engine, recorded_dialogue_engine(path_or_name))
        return cls(load_model(path_or_name), device=device, name=str(resolve(path_or_name)),
                   dialogue_engine=engine, stem_split=recorded_stem_split(path_or_name),
                   dialogue_weights=recorded_dialogue_weights(path_or_name), **kwargs)

    @property
    def prompts(self) -> tuple[str, ...]:
        """Prompt names this model knows."""
        return self.model.config.prompts

    @property
    def sample_rate(self) -> int:
        """The model's own rate; inputs at other rates are resampled."""
        return self.model.config.sample_rate

    @property
    def segment_samples(self) -> int:
        return round(self.segment_seconds * self.sample_rate)

    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Raise PromptError listing the model's prompts when one is unknown."""
        try:
            check_prompts(prompts, self.prompts)
        except UnknownPromptError as exc:
            raise PromptError("prompts", str(exc)) from None

    def separate(
        self, audio: np.ndarray, sample_rate: int, prompts: Sequence[str], progress: Progress | None = None
    ) -> np.ndarray:
        """Separate an in-memory signal.

        Args:
            audio: (C, L) or (L,) float; channels first (a (L, C) array is not guessed).
            sample_rate: of `audio`, in Hz.
            prompts: P prompt names, e.g. ["speech", "sfxbg", "musicbg"].
            progress: optional callback(frames done, total frames).

        Returns:
            (P, C, L) float32 at `sample_rate`; (P, 1, L) for a 1-D input.

        Raises:
            PromptError: unknown prompt. AudioReadError: empty input or NaN/inf samples.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2 or audio.shape[1] == 0:
            raise ValueError(f"audio must be (C, L) or (L,) with L > 0, got shape {audio.shape}")
        check_finite(audio, "audio")
        regions = self.separate_regions([audio], sample_rate, audio.shape[0], audio.shape[1], prompts, progress)
        return np.concatenate([stems for _, stems in regions], axis=-1)

    def separate_regions(
        self,
        blocks: Iterable[np.ndarray],
        sample_rate: int,
        num_channels: int,
        num_frames: int,
        prompts: Sequence[str],
        progress: Progress | None = None,
        channels: Sequence[int] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Separate a signal given as (C, n) blocks; yields (mixture (C, m), stems (P, C, m)) regions
        totalling num_frames: each stem region with the input samples it was separated from (for
        the residual and the remix). channels: the channels separated (default all); the others'
        stems are silent, so they stay whole in the residual (an LFE, surrounds without dialogue).

        Memory is bounded by one segment plus one block (and, where the dialogue engine runs a file's
        timeline in spans, one round of them: deepfilternet.lanes), whatever num_frames is.
        """
        stream = self.open_stream(prompts, sample_rate, num_channels, num_frames, channels)
        done = 0
        for block in prefetched(blocks, PREFETCH_BLOCKS):  # reading and decoding overlap the model
            stems = stream.push(block)
            yield stream.mixture_for(stems), stems
            done += block.shape[1]
            if progress:
                progress(done, num_frames)
        stems = stream.finish()
        yield stream.mixture_for(stems), stems

    def open_stream(
        self, prompts: Sequence[str], sample_rate: int, num_channels: int, num_frames: int | None = None,
        channels: Sequence[int] | None = None,
    ) -> SeparationStream:
        """A push-based separation of one signal; num_frames None for live input of unknown length;
        channels: those separated (default all; see separate_regions)."""
        self.check_prompts(prompts)
        return SeparationStream(self, list(prompts), sample_rate, num_channels, num_frames, channels)

    def dialogue_plan(self, prompts: Sequence[str]) -> DialoguePlan | None:
        """The DFN3 + TUSS cascade for these prompts, or None when TUSS serves them all."""
        if self.dialogue_engine != "deepfilternet" or SPEECH_PROMPT not in prompts:
            return None
        return DialoguePlan(tuple(prompts))

    def segments_per_call(self, num_prompts: int, num_channels: int, known_length: bool) -> int:
        """Segments the overlap-add engine gathers per model call: one on CPU and for live streams
        (waiting adds latency), on CUDA (or with batch_size set) as many as a pass holds."""
        if not known_length or (self.device.type != "cuda" and self.runner.max_items is None):
            return 1
        return max(1, self.runner.items_per_pass(num_prompts, self.segment_samples) // num_channels)

    def _separate_segments(self, segments: np.ndarray, prompts: list[str],
                           outputs: Sequence[int] | None = None) -> np.ndarray:
        """(N, C, S) at the model rate -> (N, O, C, S), the stems of prompts[outputs] (all by default);
        the N·C mono items go through in passes."""
        num_segments, num_channels, num_samples = segments.shape
        stems = self.runner(segments.reshape(-1, num_samples), prompts, outputs)  # (N·C, O, S)
        return stems.reshape(num_segments, num_channels, stems.shape[1], num_samples).transpose(0, 2, 1, 3)


class SeparationStream:
    """Push (C, n) blocks at the caller's rate, get (P, C, m) stems back as they are final.

    Resamples to the model rate, runs the dialogue engine's split when DFN3 serves speech, runs
    the overlap-add engine, resamples back. The stems returned add up to exactly the samples
    pushed once finish() has run. Only `channels` (default all) go through; the stems of the
    others are silent.
    """

    def __init__(
        self, separator: Separator, prompts: list[str], sample_rate: int, num_channels: int, num_frames: int | None,
        channels: Sequence[int] | None = None,
    ) -> None:
        model_rate = separator.sample_rate
        model_frames = None if num_frames is None else resampled_length(num_frames, sample_rate, model_rate)
        self._all_channels = num_channels
        self._channels = list(range(num_channels)) if channels is None else sorted(set(channels))
        if not self._channels or not all(0 <= c < num_channels for c in self._channels):
            raise ValueError(f"channels to separate must be some of 0..{num_channels - 1}, got {channels}")
        num_channels = len(self._channels)  # from here on: the channels the engines see
        self._num_prompts, self._num_channels = len(prompts), num_channels
        self._to_model = StreamResampler(sample_rate, model_rate, num_channels, num_frames)
        self._from_model = StreamResampler(model_rate, sample_rate, len(prompts) * num_channels, model_frames, num_frames)
        self._plan = separator.dialogue_plan(prompts)
        self._split = self._dialogue = None
        process = functools.partial(separator._separate_segments, prompts=prompts)
        needs_tuss, passes = True, len(prompts)
        if self._plan is not None:
            self._split = DialogueSplit(separator.dialogue_network, num_channels, separator.dialogue_atten_lim_db,
                                        offline=num_frames is not None)
            self._dialogue = SampleQueue(num_channels)  # DFN3's dialogue waiting for TUSS's other stems
            process = self._plan.segment_processor(separator._separate_segments)
            needs_tuss, passes = self._plan.needs_tuss, self._plan.tuss_passes
        self._engine = None if not needs_tuss else OverlapAdd(
            process,
            model_frames,
            separator.segment_samples,
            separator.overlap,
            num_channels if self._plan is None else self._plan.engine_channels(num_channels),
            separator.segments_per_call(passes, num_channels, num_frames is not None),
        )
        self._pushed = self._emitted = 0
        self._mixture = SampleQueue(self._all_channels)  # input waiting for its stems (residual, remix)
        # model-rate latency plus both resamplers' filter delays, at the caller's rate
        model_latency = (self._engine.latency_samples if self._engine else 0) + (
            DialogueSplit.latency_samples if self._split else 0)
        self.latency_samples = resampled_length(model_latency, model_rate, sample_rate) + (
            0 if sample_rate == model_rate else RESAMPLER_LATENCY_ALLOWANCE
        )

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) -> (P, C, m), m >= 0."""
        self._pushed += block.shape[1]
        self._mixture.push(block)
        if len(self._channels) != self._all_channels:
            block = block[self._channels]
        regions = [self._from_model.push(self._flat(r)) for r in self._model_push(self._to_model.push(block))]
        return self._stems(regions)

    def finish(self) -> np.ndarray:
        """The rest of the stems; afterwards exactly as many samples came out as went in."""
        regions = self._model_push(self._to_model.finish()) + self._model_finish()
        regions = [self._from_model.push(self._flat(r)) for r in regions]
        regions.append(self._from_model.finish(self._pushed))
        return self._stems(regions)

    def mixture_for(self, stems: np.ndarray) -> np.ndarray:
        """The (C, m) input samples that the (P, C, m) stems just returned were separated from."""
        return self._mixture.pop(stems.shape[-1])

    def _model_push(self, block: np.ndarray) -> list[np.ndarray]:
        """(C, n) at the model rate -> finished (P, C, k) regions."""
        if self._split is None:
            return list(self._engine.push(block))
        return self._cascade(*self._split.push(block))

    def _model_finish(self) -> list[np.ndarray]:
        if self._split is None:
            return list(self._engine.finish())
        regions = self._cascade(*self._split.finish())
        return regions + [self._with_dialogue(r) for r in (self._engine.finish() if self._engine else [])]

    def _cascade(self, dialogue: np.ndarray, mixture: np.ndarray) -> list[np.ndarray]:
        """DFN3's dialogue and the mix it came from -> (P, C, k) regions, once TUSS has done its part."""
        if self._engine is None:  # speech was the only prompt
            return [self._plan.assemble(None, dialogue)]
        if not self._plan.talkers:  # with talkers the dialogue rides in the engine's input instead
            self._dialogue.push(dialogue)
        return [self._with_dialogue(region) for region in self._engine.push(self._plan.engine_input(dialogue, mixture))]

    def _with_dialogue(self, tuss_stems: np.ndarray) -> np.ndarray:
        dialogue = None if self._plan.talkers else self._dialogue.pop(tuss_stems.shape[-1])
        return self._plan.assemble(tuss_stems, dialogue)

    @staticmethod
    def _flat(region: np.ndarray) -> np.ndarray:
        return region.reshape(region.shape[0] * region.shape[1], region.shape[-1])  # (P, C, m) -> (P·C, m)

    def _stems(self, regions: list[np.ndarray]) -> np.ndarray:
        empty = np.zeros((self._num_prompts * self._num_channels, 0), np.float32)
        flat = np.concatenate([empty, *regions], axis=1)[:, : self._pushed - self._emitted]
        self._emitted += flat.shape[1]
        stems = flat.reshape(self._num_prompts, self._num_channels, flat.shape[1])  # (P·C, m) -> (P, C, m)
        if self._num_channels == self._all_channels:
            return stems
        every = np.zeros((self._num_prompts, self._all_channels, flat.shape[1]), np.float32)
        every[:, self._channels] = stems
        return every
