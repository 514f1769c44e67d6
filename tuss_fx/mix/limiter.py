"""The output's true-peak brick-wall limiter, run only where the programme comes near its ceiling.

pedalboard's BrickwallLimiter at rest hands its input back unchanged (its lookahead compensated), and its
true-peak detector (4x oversampling) is nine tenths of its cost: 0.26 s for 36 s of stereo at 48 kHz, where
a remix's separation can take 2 s. So the mix pass keeps each 100 ms hop's sample peak (PeakMap), and the
final pass runs a fresh limiter only over the spans where a peak comes within NEAR_CEILING_DB of the ceiling
(a true peak can sit a few dB over the samples around it, not that far), widened by PRE_ROLL_SECONDS (the
lookahead and the detector's filters settle, the gain still 1) and RELEASE_SECONDS after (the gain back
within 0.01 % of 1 from its 100 ms release); everywhere else the samples pass as they are.

Against one limiter over the whole programme the difference is what its release leaves: its gain never
quite returns to 1 (it stalls 1.4e-4 under it, -77 dB, in pedalboard 0.9), which one limiter carries to
the programme's end and a span's limiter drops at the span's end.
"""

from __future__ import annotations

import math

import numpy as np
import pedalboard

from tuss_fx.media.sample_queue import SampleQueue
from tuss_fx.mix.effects import ChainStream

PEAK_HOP_SECONDS = 0.1
NEAR_CEILING_DB = 6.0
PRE_ROLL_SECONDS = 0.1
RELEASE_SECONDS = 1.5  # ten times the limiter's release and more: its gain within 0.01 % of 1 again


class PeakMap:
    """Each PEAK_HOP_SECONDS hop's sample peak over a stream, kept (10 numbers a second)."""

    def __init__(self, sample_rate: int) -> None:
        self.hop_samples = round(PEAK_HOP_SECONDS * sample_rate)
        self._peaks: list[float] = []
        self._partial = 0.0  # the peak of the hop in progress
        self._filled = 0  # samples of it seen

    def push(self, block: np.ndarray) -> None:
        """block: (C, n)."""
        magnitude = np.abs(block).max(axis=0, initial=0.0)
        while magnitude.size:
            take = min(self.hop_samples - self._filled, magnitude.size)
            self._partial = max(self._partial, float(magnitude[:take].max()))
            self._filled += take
            magnitude = magnitude[take:]
            if self._filled == self.hop_samples:
                self._peaks.append(self._partial)
                self._partial, self._filled = 0.0, 0

    @property
    def peaks(self) -> np.ndarray:
        """(hops,) every hop's sample peak, the last one partial."""
        return np.array(self._peaks + ([self._partial] if self._filled else []))

    def spans(self, scale: float, ceiling: float, sample_rate: int, num_frames: int) -> list[tuple[int, int]]:
        """[start, end) samples to limit once the stream is scaled by `scale`: hops whose peak comes within
        NEAR_CEILING_DB of `ceiling`, widened (PRE_ROLL_SECONDS, RELEASE_SECONDS) and merged where they meet."""
        near = self.peaks * scale > ceiling * 10 ** (-NEAR_CEILING_DB / 20)
        before, after = math.ceil(PRE_ROLL_SECONDS * sample_rate), math.ceil(RELEASE_SECONDS * sample_rate)
        spans: list[tuple[int, int]] = []
        for hop in np.flatnonzero(near):
            start = max(0, int(hop) * self.hop_samples - before)
            end = min(num_frames, (int(hop) + 1) * self.hop_samples + after)
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        return spans


class SpanLimiter:
    """A stream through a true-peak BrickwallLimiter at `ceiling_db` over `spans` ([start, end) samples,
    in order, apart), unchanged elsewhere; as many samples out as in once finished."""

    def __init__(self, ceiling_db: float, spans: list[tuple[int, int]], sample_rate: int, num_channels: int) -> None:
        self._ceiling_db, self._spans = ceiling_db, list(spans)
        self._sample_rate, self._num_channels = sample_rate, num_channels
        self._position = 0  # input samples taken
        self._chain: ChainStream | None = None  # the span in progress
        self._out = SampleQueue(num_channels)

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) -> (C, m): the samples ready, in order (a span's limiter holds some back)."""
        while block.shape[1]:
            span = self._spans[0] if self._spans else None
            if span is None or self._position < span[0]:  # before the next span: as it is
                count = block.shape[1] if span is None else min(block.shape[1], span[0] - self._position)
                self._out.push(block[:, :count])
            else:
                if self._chain is None:
                    board = pedalboard.Pedalboard([pedalboard.BrickwallLimiter(ceiling_db=self._ceiling_db,
                                                                               true_peak=True)])
                    self._chain = ChainStream(board, self._sample_rate, self._num_channels)
                count = min(block.shape[1], span[1] - self._position)
                self._out.push(self._chain.push(block[:, :count]))
                if self._position + count == span[1]:
                    self._out.push(self._chain.finish())
                    self._chain = None
                    self._spans.pop(0)
            self._position += count
            block = block[:, count:]
        return self._out.pop(self._out.size)

    def finish(self) -> np.ndarray:
        if self._chain is not None:  # a span past the stream's end (it was shorter than said)
            self._out.push(self._chain.finish())
            self._chain = None
        return self._out.pop(self._out.size)
