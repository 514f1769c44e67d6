"""Streaming sample-rate conversion with soxr (VHQ), with an exactly known output length."""

from __future__ import annotations

import numpy as np
import soxr

SOXR_QUALITY = "VHQ"  # transparent for post-production; soxr's streaming output equals its one-shot output


def resampled_length(length: int, in_rate: int, out_rate: int) -> int:
    """Samples a signal of `length` samples at `in_rate` has at `out_rate`."""
    return length if in_rate == out_rate else round(length * out_rate / in_rate)


class StreamResampler:
    """Push (C, n) blocks at `in_rate`, get (C, m) blocks at `out_rate`; a pass-through at equal rates.

    The blocks returned add up to exactly `output_length` samples once
    `finish()` has been called, so streams can be aligned sample for sample with their input.
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        num_channels: int,
        total_length: int | None = None,
        output_length: int | None = None,
    ) -> None:
        """
        Args:
            total_length: input samples that will be pushed; None when unknown until finish().
            output_length: samples to deliver; default resampled_length(total_length). A round trip
                through another rate passes the original length here, so it lands back exactly.
        """
        self._rates = (in_rate, out_rate)
        self._target = output_length
        if output_length is None and total_length is not None:
            self._target = resampled_length(total_length, in_rate, out_rate)
        self._pushed = 0
        self._emitted = 0
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, num_channels, dtype="float32", quality=SOXR_QUALITY)
        )
        self._num_channels = num_channels

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) -> (C, m) resampled samples available so far (m may be 0)."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        self._pushed += block.shape[1]
        out = block if self._stream is None else self._stream.resample_chunk(block.T, last=False).T
        return self._take(out)

    def finish(self, output_length: int | None = None) -> np.ndarray:
        """Flush the filter tail; pads or trims so the total is exactly the expected length.

        Args:
            output_length: total to deliver when it was not known at construction; default
                resampled_length(samples pushed).
        """
        if output_length is not None:
            self._target = output_length
        elif self._target is None:
            self._target = resampled_length(self._pushed, *self._rates)
        empty = np.zeros((0, self._num_channels), np.float32)
        tail = empty.T if self._stream is None else self._stream.resample_chunk(empty, last=True).T
        tail = self._take(tail)
        missing = self._target - self._emitted
        if missing > 0:
            tail = np.concatenate([tail, np.zeros((self._num_channels, missing), np.float32)], axis=1)
            self._emitted += missing
        return tail

    def _take(self, out: np.ndarray) -> np.ndarray:
        if self._target is not None:
            out = out[:, : max(0, self._target - self._emitted)]
        self._emitted += out.shape[1]
        return np.ascontiguousarray(out)


def resample(audio: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """(C, L) at in_rate -> (C, resampled_length(L)) at out_rate, in one call."""
    stream = StreamResampler(in_rate, out_rate, audio.shape[0], audio.shape[1])
    return np.concatenate([stream.push(audio), stream.finish()], axis=1)
