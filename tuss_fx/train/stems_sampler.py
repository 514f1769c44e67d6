"""Training and held-out mixtures from a user's tracks: real co-occurring stems, and remixes across tracks.

A real example is one excerpt of one track: every stem at the same time and channel, and the
track's own mix as the mixture when it has one (so its residual is in the input, as in a real
remix). A remix takes each stem from a random track of the same task at a random gain, the
mixture the exact sum. Excerpts are read from disk on demand (soundfile seeks), one channel at
a time (the model is monaural), resampled to the model rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import soundfile as sf

from tuss_fx.media.resample import resample
from tuss_fx.train.stems_folder import Track

Example = tuple[np.ndarray, np.ndarray, list[str]]  # mixture (L,), sources (P, L), prompts
REAL_SHARE = 0.5  # examples that are a real moment of a track; the rest are remixes across tracks
REMIX_GAIN_DB = (-6.0, 6.0)  # each stem's gain in a remix, around its delivered level
SILENT_PEAK = 1e-4  # an excerpt whose every stem stays under this is a gap between scenes: drawn again
MAX_DRAWS = 20


def read_excerpt(track: Track, path, start: int, channel: int, segment_samples: int, model_rate: int) -> np.ndarray:
    """(segment_samples,) float32 at model_rate: one channel of the file from frame `start` (at the
    track's rate), zero-padded past the end of the file."""
    num_frames = source_frames(track, segment_samples, model_rate)
    data, _ = sf.read(str(path), start=start, frames=num_frames, dtype="float32", always_2d=True)
    excerpt = np.zeros(num_frames, np.float32)
    excerpt[: data.shape[0]] = data[:, channel]
    if track.sample_rate != model_rate:
        excerpt = resample(excerpt[None], track.sample_rate, model_rate)[0]
    return excerpt[:segment_samples]


def moment(track: Track, start: int, channel: int, segment_samples: int, model_rate: int) -> Example:
    """A real moment of a track: every stem at the same time and channel, and the track's own mix
    as the mixture when it has one (so its residual is in the input)."""
    sources = np.stack([read_excerpt(track, path, start, channel, segment_samples, model_rate)
                        for path in track.stems.values()])
    mixture = (read_excerpt(track, track.mix, start, channel, segment_samples, model_rate) if track.mix
               else sources.sum(axis=0))
    return mixture, sources, track.prompts


class StemsSampler:
    """Batches of user-stem mixtures for train.loop.train (which saves and restores `rng`)."""

    def __init__(self, tracks: Sequence[Track], segment_samples: int, model_rate: int, seed: int = 0,
                 real_share: float = REAL_SHARE) -> None:
        self.groups = _by_task(tracks)
        self.segment_samples, self.model_rate = segment_samples, model_rate
        self.real_share = real_share
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """`size` examples of one task (the model batches one prompt count at a time)."""
        group = self.groups[int(self.rng.integers(len(self.groups)))]
        examples = [self.example(group) for _ in range(size)]
        return (np.stack([e[0] for e in examples]), np.stack([e[1] for e in examples]), [e[2] for e in examples])

    def example(self, group: Sequence[Track]) -> Example:
        for _ in range(MAX_DRAWS):
            example = self._real(group) if self.rng.random() < self.real_share else self._remix(group)
            if np.abs(example[1]).max() > SILENT_PEAK:
                break
        return example

    def _real(self, group: Sequence[Track]) -> Example:
        track = self._track(group)
        return moment(track, *self._position(track), self.segment_samples, self.model_rate)

    def _remix(self, group: Sequence[Track]) -> Example:
        prompts = group[0].prompts
        sources = []
        for prompt in prompts:
            track = self._track(group)
            start, channel = self._position(track)
            excerpt = read_excerpt(track, track.stems[prompt], start, channel, self.segment_samples,
                                   self.model_rate)
            sources.append(excerpt * np.float32(10 ** (self.rng.uniform(*REMIX_GAIN_DB) / 20)))
        stacked = np.stack(sources)
        return stacked.sum(axis=0), stacked, list(prompts)

    def _track(self, group: Sequence[Track]) -> Track:
        lengths = np.array([track.num_frames / track.sample_rate for track in group])
        return group[int(self.rng.choice(len(group), p=lengths / lengths.sum()))]

    def _position(self, track: Track) -> tuple[int, int]:
        latest = max(track.num_frames - source_frames(track, self.segment_samples, self.model_rate), 0)
        return int(self.rng.integers(0, latest + 1)), int(self.rng.integers(track.num_channels))


def source_frames(track: Track, segment_samples: int, model_rate: int) -> int:
    """Frames at the track's rate that resample to at least one segment at the model rate: the
    ceiling of segment * rate / model rate (resampled_length rounds, so the ceiling always reaches it)."""
    return -(-segment_samples * track.sample_rate // model_rate)


def heldout_examples(tracks: Sequence[Track], segment_samples: int, model_rate: int,
                     per_track: int) -> list[Example]:
    """The same real excerpts every time: `per_track` evenly spaced moments of each track, channels in
    turn, with the track's mix when it has one; excerpts where every stem is silent are left out."""
    examples = []
    for track in tracks:
        frames = source_frames(track, segment_samples, model_rate)
        starts = np.linspace(0, max(track.num_frames - frames, 0), per_track).round().astype(int)
        for index, start in enumerate(dict.fromkeys(starts.tolist())):
            example = moment(track, start, index % track.num_channels, segment_samples, model_rate)
            if np.abs(example[1]).max() > SILENT_PEAK:
                examples.append(example)
    return examples


def _by_task(tracks: Sequence[Track]) -> list[list[Track]]:
    groups: dict[str, list[Track]] = {}
    for track in tracks:
        groups.setdefault(track.task, []).append(track)
    return list(groups.values())
