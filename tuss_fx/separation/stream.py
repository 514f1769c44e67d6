"""Chunk plan and windowed overlap-add over signals of any length, with bounded buffers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

# (N, C, S) segments -> (N, P, C, S) per-prompt estimates of each segment
SegmentProcessor = Callable[[np.ndarray], np.ndarray]


def plan_chunks(length: int, segment: int, hop: int) -> list[int]:
    """Start offsets of the segments that cover [0, length).

    Segments start every `hop` samples; the last one is moved back to end exactly at `length`,
    so every segment is full of real audio. An input no longer than one segment is one segment.

    Args:
        length: L, samples in the signal (> 0).
        segment: S, samples per segment.
        hop: samples between segment starts, 0 < hop <= S.

    Returns:
        Strictly increasing offsets; offsets[-1] + min(S, L) == L.
    """
    if length <= 0 or segment <= 0 or not 0 < hop <= segment:
        raise ValueError(f"bad chunk plan: length={length}, segment={segment}, hop={hop}")
    if length <= segment:
        return [0]
    offsets = list(range(0, length - segment, hop))
    return offsets + [length - segment]


def segment_window(length: int, ramp: int) -> np.ndarray:
    """(length,) float32 weights: raised-cosine ramps of `ramp` samples at both ends, 1 between.

    Strictly positive everywhere, so accumulated weights never divide by zero and no COLA
    condition is needed (the overlap-add divides by the summed weights).
    """
    window = np.ones(length, dtype=np.float32)
    ramp = min(ramp, length // 2)
    if ramp:
        rise = np.sin(0.5 * np.pi * (np.arange(ramp) + 0.5) / ramp).astype(np.float32) ** 2
        window[:ramp] = rise
        window[length - ramp :] = rise[::-1]
    return window


class OverlapAdd:
    """Push blocks of a (C, L) signal in, get finished (P, C, m) output regions back.

    Holds at most one segment plus one pushed block of input and one segment of output: a
    region is emitted as soon as no later segment overlaps it, so memory does not grow with L.

    With a known length L the last segment is moved back to end at L (plan_chunks). With
    length None (live streams, plugins) segments start every hop forever, and finish()
    completes the last ones with silence; the output then does not depend on how the input
    was cut into blocks.

    With batch_segments N > 1 (known length only) the engine waits until N segments are
    buffered and runs them in one call, so an accelerator sees N segments per forward pass;
    memory then holds N segments of input, still independent of L. The output is the same.
    """

    def __init__(
        self, process: SegmentProcessor, length: int | None, segment: int, overlap: float, num_channels: int,
        batch_segments: int = 1,
    ) -> None:
        """
        Args:
            process: model on a stack of segments: (N, C, S) -> (N, P, C, S).
            length: L, total samples that will be pushed, or None when unknown.
            segment: S, samples per segment.
            overlap: fraction of a segment shared with the next one, 0 <= overlap < 1.
            num_channels: C.
            batch_segments: most segments per call of `process` (1 for live streams: waiting for
                more would add latency).
        """
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if batch_segments < 1 or (length is None and batch_segments != 1):
            raise ValueError(f"batch_segments must be >= 1 (1 for an unknown length), got {batch_segments}")
        self._hop = max(1, round(segment * (1.0 - overlap)))
        self._process = process
        self._batch_segments = batch_segments
        self._length = length
        self._segment = segment if length is None else min(segment, length)
        self._offsets = None if length is None else plan_chunks(length, segment, self._hop)
        self._window = segment_window(self._segment, segment - self._hop)
        self._next_chunk = 0
        self._input = np.zeros((num_channels, 0), dtype=np.float32)
        self._input_start = 0  # absolute sample index of self._input[:, 0]
        self._output: np.ndarray | None = None  # (P, C, n) weighted sum, starts at self._output_start
        self._weight = np.zeros(0, dtype=np.float32)
        self._output_start = 0
        self._received = 0

    @property
    def buffered_samples(self) -> tuple[int, int]:
        """(input samples held, output samples held): bounded by a segment plus a block (and a hop per
        further segment of a batch)."""
        return self._input.shape[1], self._weight.shape[0]

    @property
    def latency_samples(self) -> int:
        """Most input samples a region can wait before it is emitted: one segment, and a hop for
        every further segment of a batch."""
        return self._segment + (self._batch_segments - 1) * self._hop

    def _offset(self, chunk: int) -> int | None:
        if self._offsets is None:
            return chunk * self._hop
        return self._offsets[chunk] if chunk < len(self._offsets) else None

    def push(self, block: np.ndarray) -> Iterator[np.ndarray]:
        """Add the next (C, n) samples; yields every output region that became final."""
        self._received += block.shape[1]
        if self._length is not None and self._received > self._length:
            raise ValueError(f"pushed {self._received} samples into a stream declared {self._length} long")
        self._input = np.concatenate([self._input, block.astype(np.float32, copy=False)], axis=1)
        yield from self._run_ready_chunks()

    def finish(self) -> Iterator[np.ndarray]:
        """Yield what is left; the total yielded equals the samples pushed."""
        if self._length is None:
            self._close_unbounded()
        if self._received != self._length:
            raise ValueError(f"stream declared {self._length} samples but received {self._received}")
        yield from self._run_ready_chunks(final=True)
        if self._output_start < self._length:  # live mode: the last chunk ran before L was known
            yield self._emit_until(self._length)

    def _close_unbounded(self) -> None:
        """Fix the plan now that L is known: chunks every hop until one reaches L, silence after L."""
        length = self._received
        last = max(0, -(-(length - self._segment) // self._hop), self._next_chunk - 1)
        self._offsets = [i * self._hop for i in range(last + 1)]
        self._length = length
        pad = self._offsets[-1] + self._segment - (self._input_start + self._input.shape[1])
        self._input = np.concatenate([self._input, np.zeros((self._input.shape[0], max(0, pad)), np.float32)], 1)

    def _run_ready_chunks(self, final: bool = False) -> Iterator[np.ndarray]:
        """Run the buffered chunks in batches of batch_segments; a smaller batch only when no more
        chunks can come (the end of the input)."""
        while starts := self._ready_starts():
            if len(starts) < self._batch_segments and not final and self._offset(self._next_chunk + len(starts)) \
                    is not None:
                return  # wait for the input that completes the batch
            lo = self._input_start
            batch = np.stack([self._input[:, start - lo : start - lo + self._segment] for start in starts])
            for start, estimate in zip(starts, self._process(batch)):
                self._accumulate(start, estimate * self._window)
                self._next_chunk += 1
                next_start = self._offset(self._next_chunk)
                final_end = self._length if next_start is None else min(next_start, self._length or next_start)
                self._drop_input_before(next_start if next_start is not None else final_end)
                yield self._emit_until(final_end)

    def _ready_starts(self) -> list[int]:
        """Offsets of the next chunks (at most batch_segments) whose input is all buffered."""
        buffered_end = self._input_start + self._input.shape[1]
        starts = []
        while len(starts) < self._batch_segments:
            start = self._offset(self._next_chunk + len(starts))
            if start is None or start + self._segment > buffered_end:
                break
            starts.append(start)
        return starts

    def _accumulate(self, start: int, estimate: np.ndarray) -> None:
        end = start + estimate.shape[-1]
        if self._output is None:
            self._output = np.zeros((*estimate.shape[:2], 0), dtype=np.float32)
        grow = end - (self._output_start + self._weight.shape[0])
        if grow > 0:
            self._output = np.concatenate([self._output, np.zeros((*estimate.shape[:2], grow), np.float32)], -1)
            self._weight = np.concatenate([self._weight, np.zeros(grow, np.float32)])
        lo = start - self._output_start
        self._output[..., lo : lo + estimate.shape[-1]] += estimate
        self._weight[lo : lo + estimate.shape[-1]] += self._window

    def _emit_until(self, end: int) -> np.ndarray:
        count = end - self._output_start
        region = self._output[..., :count] / self._weight[:count]
        self._output = self._output[..., count:].copy()
        self._weight = self._weight[count:].copy()
        self._output_start = end
        return region

    def _drop_input_before(self, start: int) -> None:
        keep_from = max(0, start - self._input_start)
        self._input = self._input[:, keep_from:].copy()
        self._input_start += keep_from
