"""Waveform peaks of a whole programme, streamed: the lowest and highest sample in each of a fixed
number of equal spans, which is all an overview picture of hours of audio needs (audiowaveform and
peaks.js draw from the same min/max pairs)."""

from __future__ import annotations

import numpy as np


class PeakMeter:
    """Push (C, n) blocks in order; `minima` / `maxima` hold, per bucket, the extremes over every channel.

    Bucket b spans frames [b·L/N, (b+1)·L/N) of the L frames announced, so N buckets cover the
    programme whatever its length; a programme shorter than N frames gets one bucket per frame.
    """

    def __init__(self, num_frames: int, num_buckets: int) -> None:
        if num_frames <= 0 or num_buckets <= 0:
            raise ValueError("a peak meter needs frames and buckets")
        self.num_frames = num_frames
        self.num_buckets = min(num_buckets, num_frames)
        # +-inf until a bucket's first frame arrives, so the first block into a bucket sets it
        self.minima = np.full(self.num_buckets, np.inf, dtype=np.float32)
        self.maxima = np.full(self.num_buckets, -np.inf, dtype=np.float32)
        self._done = 0

    def push(self, block: np.ndarray) -> None:
        """block: (C, n) float32, the next n frames."""
        count = min(block.shape[1], self.num_frames - self._done)
        if count <= 0:
            return
        frames = np.arange(self._done, self._done + count, dtype=np.int64)
        buckets = frames * self.num_buckets // self.num_frames  # non-decreasing through the block
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        low = np.minimum.reduceat(block[:, :count].min(axis=0), starts)
        high = np.maximum.reduceat(block[:, :count].max(axis=0), starts)
        ids = buckets[starts]
        self.minima[ids] = np.minimum(self.minima[ids], low)
        self.maxima[ids] = np.maximum(self.maxima[ids], high)
        self._done += count
