"""pedalboard chains from preset entries, run block by block with their output kept sample-aligned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pedalboard

DEFAULT_BUFFER_SIZE = 8192  # pedalboard's own default buffer_size

# The effects a preset may name, by pedalboard's class names: an allow-list, so a class a later pedalboard adds
# (a host that loads native code, like VST3Plugin, or one that reads files) is not open to a shared preset
# until it is read and listed here
PRESET_EFFECTS = ("Bitcrush", "BrickwallLimiter", "Chorus", "Clipping", "Compressor", "Convolution", "Delay", "Distortion",
                  "GSMFullRateCompressor", "Gain", "HighShelfFilter", "HighpassFilter", "IIRFilter", "Invert",
                  "LadderFilter", "Limiter", "LowShelfFilter", "LowpassFilter", "MP3Compressor", "NoiseGate",
                  "PeakFilter", "Phaser", "PitchShift", "Resample", "Reverb")
# parameters that name a file, per effect: a preset may name only files beside it (presets._files_beside)
FILE_PARAMS = {"Convolution": ("impulse_response_filename",)}


def effect_names() -> list[str]:
    """The effects presets may name: the allow-list, as far as the installed pedalboard has them."""
    return sorted(name for name in PRESET_EFFECTS
                  if isinstance(getattr(pedalboard, name, None), type)
                  and issubclass(getattr(pedalboard, name), pedalboard.Plugin))


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
    """A pedalboard chain fed block by block (reset=False), its output equal to one call on the whole.

    pedalboard prepares a plugin for the size of each call and, when that size changes, prepares
    it again and loses its state (a filter's memory, a reverb's tail). Blocks in a stream vary
    (the separator emits what it has), so the chain gets fixed blocks of `block_samples` and
    holds back fewer than that many. pedalboard compensates a plugin's own latency by returning
    fewer samples at the start; finish() pushes silence until every input sample has its output.
    """

    def __init__(self, board: pedalboard.Pedalboard, sample_rate: int, num_channels: int,
                 block_samples: int = DEFAULT_BUFFER_SIZE) -> None:
        self._board = board
        self._board.reset()  # a new stream: no state from an earlier signal
        self._sample_rate = sample_rate
        self._num_channels = num_channels
        # pedalboard reads the channel axis as the shorter one: a block must be longer than wide
        self._block_samples = max(block_samples, num_channels + 1)
        self._waiting = np.zeros((num_channels, 0), np.float32)  # fewer than one block
        self._pushed = self._emitted = 0

    @property
    def latency_samples(self) -> int:
        """Most samples held back, not counting the plugins' own latency."""
        return self._block_samples - 1 if len(self._board) else 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) float32 -> (C, m) processed samples, m <= n + held."""
        if not len(self._board):
            return block
        self._pushed += block.shape[1]
        self._waiting = np.concatenate([self._waiting, block], axis=1)
        ready = self._waiting.shape[1] // self._block_samples * self._block_samples
        if not ready:
            return np.zeros((self._num_channels, 0), np.float32)
        ready_block, self._waiting = self._waiting[:, :ready], self._waiting[:, ready:]
        return self._process(ready_block)

    def finish(self) -> np.ndarray:
        """The samples the chain still holds back, so that output length equals input length."""
        parts = [np.zeros((self._num_channels, 0), np.float32)]
        tail, self._waiting = self._waiting, np.zeros((self._num_channels, 0), np.float32)
        for _ in range(64):  # a plugin returns at least part of its backlog each call
            missing = self._pushed - self._emitted
            if missing <= 0:
                break
            # whole blocks of silence after the last samples: the block size never changes
            padded = -(-max(missing, tail.shape[1]) // self._block_samples) * self._block_samples
            tail = np.pad(tail, ((0, 0), (0, padded - tail.shape[1])))
            parts.append(self._process(tail)[:, :missing])
            tail = np.zeros((self._num_channels, 0), np.float32)
        return np.concatenate(parts, axis=1)

    def _process(self, block: np.ndarray) -> np.ndarray:
        out = self._board.process(np.ascontiguousarray(block, np.float32), self._sample_rate,
                                  buffer_size=self._block_samples, reset=False)
        self._emitted += out.shape[1]
        return out
