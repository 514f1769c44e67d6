"""Dynamic mixing: draw a prompt list with the official co-occurrence statistics, then sources and gains."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from tuss_fx.train.recipe import NUM_SOURCES_WEIGHTS, RULES


class ClipLike(Protocol):
    """A mono clip: a 1-D array, or anything with len() and contiguous slicing to one."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> np.ndarray: ...


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str | None:
    names = [name for name, weight in weights.items() if weight > 0]
    if not names:
        return None
    probs = np.array([weights[name] for name in names], dtype=np.float64)
    return names[rng.choice(len(names), p=probs / probs.sum())]


def sample_prompts(rng: np.random.Generator, available: Sequence[str] | None = None) -> list[str]:
    """A prompt list of 2-4 sources drawn like the official sampler.

    The first prompt follows init_prob, each next one the previous prompt's transition table;
    prompts that reached their count limit, or have no data (`available`), are left out and
    the rest renormalised. Fewer sources come out when no transition is possible.
    """
    usable = set(RULES if available is None else available)
    num_sources = int(rng.choice(list(NUM_SOURCES_WEIGHTS), p=list(NUM_SOURCES_WEIGHTS.values())))
    prompts: list[str] = []
    weights = {name: rule.init_prob for name, rule in RULES.items()}
    while len(prompts) < num_sources:
        allowed = {name: w for name, w in weights.items()
                   if name in usable and prompts.count(name) < RULES[name].max_count}
        chosen = _pick(rng, allowed)
        if chosen is None:
            break
        prompts.append(chosen)
        weights = RULES[chosen].next_prob
    return prompts


Augment = Callable[[str, np.ndarray, np.random.Generator], np.ndarray]  # (prompt, (L,), rng) -> (L,)

# A production scene: dialogue over a background, every stem asked for (dialogue/music/effects).
SCENE_PROMPTS = ("speech", "sfxbg", "musicbg")
# dB relative to the -20 dBFS reference: dialogue-to-music from -13 dB (music swelling over a
# line) to +20 dB (a faint bed), the ratios a mixer meets and the real-recording evaluation tests
SCENE_GAIN_DB = {"speech": (-5.0, 0.0), "sfxbg": (-25.0, 3.0), "musicbg": (-20.0, 8.0)}
SCENE_SILENT_BACKGROUND = 0.1  # share of scenes with a background stem silent (dialogue alone, or one bed)


def _fill_weights(clips: Sequence[ClipLike], segment_samples: int) -> np.ndarray:
    fill = np.array([min(len(clip), segment_samples) for clip in clips], dtype=np.float64)
    return fill / fill.sum()


class MixtureSampler:
    """Examples of `segment_samples` at the model rate from per-class pools of mono clips
    (float32 arrays, or corpus.DiskClip read on demand).

    Each example: prompts from sample_prompts, one random excerpt per prompt (clips shorter than
    the segment are placed at a random offset in silence), optionally a production augmentation
    of each excerpt (augment.ProductionAugment: the processed excerpt is the target), a gain from
    the class's range, the mixture the exact float sum of the scaled sources.

    With `scene_prob` > 0 that share of examples is a dialogue scene instead: all of
    SCENE_PROMPTS with SCENE_GAIN_DB's wider dialogue-to-background range, and now and then a
    background left silent, so the model learns that a voice with nothing behind it is all speech.
    """

    def __init__(self, pools: Mapping[str, Sequence[ClipLike]], segment_samples: int, seed: int = 0,
                 augment: Augment | None = None, scene_prob: float = 0.0) -> None:
        self.pools = {name: list(clips) for name, clips in pools.items() if len(clips)}
        if len(self.pools) < 2 and not any(RULES[name].max_count > 1 for name in self.pools):
            raise ValueError("need clips for at least two prompt classes (or one that may repeat)")
        if scene_prob and not set(SCENE_PROMPTS) <= set(self.pools):
            raise ValueError(f"dialogue scenes need clips for all of {', '.join(SCENE_PROMPTS)}")
        self.segment_samples = segment_samples
        # a clip is drawn in proportion to how much of an excerpt it fills: an isolated word
        # (0.5 s) fills a quarter of a 2 s excerpt, so a corpus of thousands of words does not
        # drown its read sentences, and every clip longer than the excerpt counts the same
        self.clip_weights = {name: _fill_weights(clips, segment_samples) for name, clips in self.pools.items()}
        self.rng = np.random.default_rng(seed)
        self.augment = augment
        self.scene_prob = scene_prob

    def excerpt(self, clip: ClipLike) -> np.ndarray:
        out = np.zeros(self.segment_samples, np.float32)
        length = len(clip)
        if length >= self.segment_samples:
            start = int(self.rng.integers(0, length - self.segment_samples + 1))
            out[:] = clip[start : start + self.segment_samples]
        else:
            start = int(self.rng.integers(0, self.segment_samples - length + 1))
            out[start : start + length] = clip[0:length]
        return out

    def example(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(mixture (L,), sources (P, L), prompts): mixture == sources.sum(0) exactly."""
        if self.scene_prob and self.rng.random() < self.scene_prob:
            return self.scene()
        return self.example_for(sample_prompts(self.rng, list(self.pools)))

    def example_for(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """A mixture of the given prompts (e.g. a fixed evaluation task), drawn like example()."""
        prompts = list(prompts)
        stacked = np.stack([self._source(prompt, RULES[prompt].gain_db) for prompt in prompts])
        return stacked.sum(axis=0), stacked, prompts

    def scene(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """A dialogue scene: speech, effects bed and music bed at SCENE_GAIN_DB, one bed silent now and then."""
        prompts = list(SCENE_PROMPTS)
        stacked = np.stack([self._source(prompt, SCENE_GAIN_DB[prompt]) for prompt in prompts])
        if self.rng.random() < SCENE_SILENT_BACKGROUND:
            silent = [[1], [2], [1, 2]][int(self.rng.integers(3))]
            stacked[silent] = 0.0
        return stacked.sum(axis=0), stacked, prompts

    def _source(self, prompt: str, gain_range_db: tuple[float, float]) -> np.ndarray:
        clip = self.pools[prompt][int(self.rng.choice(len(self.pools[prompt]), p=self.clip_weights[prompt]))]
        source = self.excerpt(clip)
        if self.augment is not None:
            source = self.augment(prompt, source, self.rng)
        rms = np.sqrt(np.mean(source**2)) + 1e-8
        gain_db = self.rng.uniform(*gain_range_db)
        return (source / rms * 0.1 * 10 ** (gain_db / 20)).astype(np.float32)  # -20 dBFS RMS, then the gain

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """`size` examples with the same number of prompts (the model batches one P at a time)."""
        first = self.example()
        examples = [first]
        while len(examples) < size:
            candidate = self.example()
            if len(candidate[2]) == len(first[2]):
                examples.append(candidate)
        return (np.stack([e[0] for e in examples]), np.stack([e[1] for e in examples]), [e[2] for e in examples])
