"""pedalboard chains from preset entries, run block by block with their output kept sample-aligned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pedalboard

# containers and hosts are not effects a preset can name
_NOT_EFFECTS = {"Plugin", "Pedalboard", "Chain", "Mix", "PluginContainer", "ExternalPlugin", "VST3Plugin",
                "AudioUnitPlugin"}


def effect_names() -> list[str]:
    """pedalboard's built-in effect classes, by the names presets use."""
    return sorted(
        name for name in dir(pedalboard)
        if isinstance(getattr(pedalboard, name), type) and issubclass(getattr(pedalboard, name), pedalboard.Plugin)
        and name not in _NOT_EFFECTS and not name.startswith("_")
    )


def build_plugin(name: str, params: Mapping[str, Any]) -> pedalboard.Plugin:
    """pedalboard.<name>(**params).

    Raises:
        KeyError: not a pedalboard effect. TypeError/ValueError: pedalboard's own refusal of a
            parameter name, type or value.
    """
    if name not in effect_names():
        raise KeyError(name)
    return getattr(pedalboard, name)(**params)


class ChainStream:
    """A pedalboard chain fed block by block (reset=False), its output aligned sample for sample.

    pedalboard compensates a plugin's latency by returning fewer samples at the start of a
    stream; finish() pushes silence until every input sample has its output.
    """

    def __init__(self, board: pedalboard.Pedalboard, sample_rate: int, num_channels: int) -> None:
        self._board = board
        self._sample_rate = sample_rate
        self._num_channels = num_channels
        self._pushed = self._emitted = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) float32 -> (C, m) processed samples, m <= n at the start of a stream."""
        self._pushed += block.shape[1]
        if not len(self._board):
            out = block
        else:
            out = self._board.process(np.ascontiguousarray(block, np.float32), self._sample_rate, reset=False)
        self._emitted += out.shape[1]
        return out

    def finish(self) -> np.ndarray:
        """The samples the chain still holds back, so that output length equals input length."""
        parts = [np.zeros((self._num_channels, 0), np.float32)]
        for _ in range(64):  # a plugin returns at least part of its backlog each call
            missing = self._pushed - self._emitted
            if missing <= 0:
                break
            out = self._board.process(np.zeros((self._num_channels, missing), np.float32), self._sample_rate,
                                      reset=False)
            parts.append(out[:, :missing])
            self._emitted += parts[-1].shape[1]
        return np.concatenate(parts, axis=1)
