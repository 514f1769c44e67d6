"""A FIFO of channels-first sample blocks, popped by count: aligns streams that advance unevenly."""

from __future__ import annotations

import numpy as np


class SampleQueue:
    """FIFO of (C, n) blocks, popped by sample count: aligns streams that advance unevenly."""

    def __init__(self, num_channels: int) -> None:
        self._blocks: list[np.ndarray] = []
        self._num_channels = num_channels
        self.size = 0

    def push(self, block: np.ndarray) -> None:
        if block.shape[-1]:
            self._blocks.append(block)
            self.size += block.shape[-1]

    def pop(self, count: int) -> np.ndarray:
        """The first `count` samples as (C, count); count must not exceed size."""
        if count > self.size:
            raise ValueError(f"asked for {count} samples, {self.size} queued")
        parts, needed = [np.zeros((self._num_channels, 0), np.float32)], count
        while needed:
            block = self._blocks.pop(0)
            parts.append(block[:, :needed])
            if block.shape[1] > needed:
                self._blocks.insert(0, block[:, needed:])
            needed -= parts[-1].shape[1]
        self.size -= count
        return np.concatenate(parts, axis=1)
