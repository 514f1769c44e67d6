"""DeepFilterNet3 on every core: a signal's channels, and a file's stretches of time, as lanes side by side.

The network's GRUs step frame by frame, and at the batch of a stereo file one step is bound by
reading the 0.8 MB of recurrent weights, not by arithmetic: a second intra-op thread leaves it
as slow (62 us a step for 2 channels on 1 or 2 threads, 37 us for one channel; AMD EPYC, 2 cores).
So each lane is its own DeepFilterNet3Stream on its own thread with its share of torch's threads:
- LanedStream, live or file: a lane per channel (group). The channels are independent signals, so
  a lane computes what the whole batch would for them (float rounding of the batched GEMMs aside:
  within 1e-6 of the one stream); nothing is approximated and the latency is the stream's.
- SpanLanes, files only, where threads outnumber the channels (a mono or stereo film on a
  many-core machine): the timeline is cut into spans run side by side, each fresh one after a
  warm-up on the audio before it; within 40 dB of the one stream on every real scene.
benchmarks/bench_dialogue_lanes.py measures both against the one stream in the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from tuss_fx.deepfilternet.enhancer import LATENCY_SAMPLES, SAMPLE_RATE, DeepFilterNet3Stream
from tuss_fx.deepfilternet.features import HOP_SIZE
from tuss_fx.deepfilternet.network import DeepFilterNet3


# a round of spans is held three times over (the input, the mix waiting beside it, the engine's buffer):
# 16 spans of a mono file's 60 s are 550 MB at 48 kHz float32, the most we let a many-core machine hold
MAX_SPANS_PER_ROUND = 16


def lane_count(num_channels: int, threads: int | None = None) -> int:
    """One lane per channel, at most one per torch thread (torch.get_num_threads() when None)."""
    return max(1, min(num_channels, threads or torch.get_num_threads()))


def spans_per_round(num_channels: int, threads: int | None = None) -> int:
    """Time spans SpanLanes runs side by side per channel lane: the threads the channels leave, at most
    MAX_SPANS_PER_ROUND."""
    threads = threads or torch.get_num_threads()
    return max(1, min(MAX_SPANS_PER_ROUND, threads // lane_count(num_channels, threads)))


def file_stream(network: DeepFilterNet3, batch: int, atten_lim_db: float | None = None) -> LanedStream | SpanLanes:
    """The engine for a file: SpanLanes where threads outnumber the channels, else LanedStream."""
    if spans_per_round(batch) > 1:
        return SpanLanes(network, batch, atten_lim_db)
    return LanedStream(network, batch, atten_lim_db)


def _channel_groups(batch: int, lanes: int) -> list[tuple[int, int]]:
    """The B channels as `lanes` contiguous (start, stop) groups, sizes as even as they go (no empty one)."""
    return [(int(group[0]), int(group[-1]) + 1) for group in np.array_split(np.arange(batch), lanes) if len(group)]


@contextmanager
def _threads_per_lane(lanes: int) -> Iterator[None]:
    """torch's intra-op threads shared out between the lanes while they run, then given back (lane
    threads started inside take the count in force when they first run an op)."""
    total = torch.get_num_threads()
    torch.set_num_threads(max(1, total // lanes))
    try:
        yield
    finally:
        torch.set_num_threads(total)


class LanedStream:
    """DeepFilterNet3Stream's push/finish with the B channels in parallel lanes: (B, n) in, (B, m) out."""

    latency_samples = LATENCY_SAMPLES

    def __init__(self, network: DeepFilterNet3, batch: int, atten_lim_db: float | None = None,
                 lanes: int | None = None) -> None:
        """
        Args:
            network: DFN3 weights, shared by the lanes (read only).
            batch: B, the channels.
            atten_lim_db: as DeepFilterNet3Stream's.
            lanes: how many; lane_count(batch) when None. One lane is the plain stream, no threads.
        """
        self.batch = batch
        self._bounds = _channel_groups(batch, lanes or lane_count(batch))
        self._streams = [DeepFilterNet3Stream(network, stop - start, atten_lim_db) for start, stop in self._bounds]
        self._pool = ThreadPoolExecutor(len(self._streams), "tuss-fx-dfn-lane") if len(self._streams) > 1 else None

    @property
    def lanes(self) -> int:
        return len(self._streams)

    @property
    def held_samples(self) -> int:
        """Input held back, short of a whole hop (per channel)."""
        return self._streams[0].held_samples

    def push(self, block: np.ndarray) -> np.ndarray:
        """(B, n) -> (B, m): the output samples that became final, in order."""
        return self._each(lambda stream, start, stop: stream.push(block[start:stop]))

    def finish(self) -> np.ndarray:
        """Flush every lane; afterwards exactly as many samples came out as went in. The lanes' threads end."""
        try:
            return self._each(lambda stream, start, stop: stream.finish())
        finally:
            if self._pool is not None:
                self._pool.shutdown()

    def _each(self, work: Callable[[DeepFilterNet3Stream, int, int], np.ndarray]) -> np.ndarray:
        if self._pool is None:
            return work(self._streams[0], *self._bounds[0])
        with _threads_per_lane(self.lanes):
            futures = [self._pool.submit(work, stream, *bounds) for stream, bounds in zip(self._streams, self._bounds)]
            return np.concatenate([future.result() for future in futures])


def enhance(network: DeepFilterNet3, audio: np.ndarray, atten_lim_db: float | None = None,
            lanes: int | None = None) -> np.ndarray:
    """(B, L) float32 at 48 kHz -> (B, L) DFN3 speech estimate, sample-aligned with `audio`."""
    stream = LanedStream(network, audio.shape[0], atten_lim_db, lanes)
    return np.concatenate([stream.push(audio), stream.finish()], axis=1)


WARM_UP_SECONDS = 20.0  # a fresh span's lead-in: worst scene 47.5 dB from the stream (16 s: 40.5, 12 s: 37.0)
SPAN_SECONDS = 60.0  # a span's length: each fresh one runs 20 s of warm-up for 60 s of output
LOOKAHEAD_SAMPLES = LATENCY_SAMPLES + HOP_SIZE  # past a span's end: its last samples become final


class SpanLanes:
    """Files only: where threads outnumber the channel lanes, the timeline too is cut into spans
    that run side by side, so a mono or stereo film uses every core. (B, n) in, (B, m) out.

    The network's GRUs remember tens of seconds, so a span cannot start from a fresh state: each
    fresh stream first runs WARM_UP_SECONDS of the audio before its span, whose output it drops
    (measured against the one stream on the real scenes: benchmarks/bench_dialogue_lanes.py). A
    round buffers k spans per channel group; the stream that ran the round's last span carries on
    into the next round's first, so only k - 1 spans of k pay the warm-up. Output lags the input
    by up to a round (k spans); memory holds one round.
    """

    latency_samples = LATENCY_SAMPLES  # of each stream; the round's wait is not a fixed delay

    def __init__(self, network: DeepFilterNet3, batch: int, atten_lim_db: float | None = None,
                 threads: int | None = None, span_seconds: float = SPAN_SECONDS,
                 warm_up_seconds: float = WARM_UP_SECONDS) -> None:
        """
        Args:
            network, batch, atten_lim_db: as LanedStream's.
            threads: torch.get_num_threads() when None; spans per round = threads // channel lanes.
            span_seconds, warm_up_seconds: a span and its warm-up (whole hops, warm-up <= span).
        """
        threads = threads or torch.get_num_threads()
        self.network, self.batch, self.atten_lim_db = network, batch, atten_lim_db
        self._groups = _channel_groups(batch, lane_count(batch, threads))
        self.spans_per_round = spans_per_round(batch, threads)
        self._span = _whole_hops(span_seconds)
        self._warm_up = min(_whole_hops(warm_up_seconds), self._span)
        # the streams that carry on, one per channel group, and the input position of their next output
        self._carried = [DeepFilterNet3Stream(network, stop - start, atten_lim_db) for start, stop in self._groups]
        self._carried_position = 0
        self._buffer = np.zeros((batch, 0), np.float32)  # input of the round being gathered
        self._buffer_start = 0  # its first sample's position in the input
        self._pool = ThreadPoolExecutor(len(self._groups) * self.spans_per_round, "tuss-fx-dfn-span")

    @property
    def held_samples(self) -> int:
        """Input held back (per channel): the round being gathered, and what the carried streams hold."""
        return self._buffer.shape[1] + self._carried[0].held_samples

    def push(self, block: np.ndarray) -> np.ndarray:
        """(B, n) -> (B, m): the output samples that became final, in order."""
        self._buffer = np.concatenate([self._buffer, np.asarray(block, np.float32)], axis=1)
        round_samples = self.spans_per_round * self._span
        outputs = [np.zeros((self.batch, 0), np.float32)]
        while self._buffer.shape[1] >= round_samples:
            outputs.append(self._round(self._buffer[:, :round_samples], self.spans_per_round, self._span, last=False))
            self._buffer, self._buffer_start = self._buffer[:, round_samples:], self._buffer_start + round_samples
        return np.concatenate(outputs, axis=1)

    def finish(self) -> np.ndarray:
        """The rest in as many spans as it holds warm-ups (at most a round's); afterwards exactly as
        many samples came out as went in. The lanes' threads end."""
        try:
            remaining = self._buffer.shape[1]
            spans = max(1, min(self.spans_per_round, remaining // self._warm_up))
            span = max(HOP_SIZE, -(-remaining // spans // HOP_SIZE) * HOP_SIZE)  # whole hops, >= the warm-up
            return self._round(self._buffer, max(1, -(-remaining // span)), span, last=True)
        finally:
            self._pool.shutdown()

    def _round(self, audio: np.ndarray, spans: int, span: int, last: bool) -> np.ndarray:
        """audio (B, n) from self._buffer_start on, as `spans` spans of `span` samples (the last one
        shorter) -> output from self._carried_position to where the next round's output starts."""
        jobs = []
        for (first, stop), carried in zip(self._groups, self._carried):
            part = audio[first:stop]
            for index in range(spans):
                begin, end = index * span, min((index + 1) * span, part.shape[1])
                final = index == spans - 1
                feed_end = part.shape[1] if final else end + LOOKAHEAD_SAMPLES
                if index == 0:  # owes its output from self._carried_position on
                    owed = self._buffer_start - self._carried_position
                    jobs.append((carried, part[:, :feed_end], 0, None if final else owed + end, last and final))
                else:
                    fresh = DeepFilterNet3Stream(self.network, stop - first, self.atten_lim_db)
                    lead_in = part[:, begin - self._warm_up : feed_end]
                    jobs.append((fresh, lead_in, self._warm_up, None if final else end - begin, last and final))
        with _threads_per_lane(len(jobs)):
            results = list(self._pool.map(lambda job: _run_span(*job), jobs))
        groups = [results[index : index + spans] for index in range(0, len(results), spans)]
        self._carried = [group[-1][1] for group in groups]
        carried_origin = self._carried_position if spans == 1 else self._buffer_start + (spans - 1) * span - self._warm_up
        self._carried_position = carried_origin + groups[0][-1][2]
        return np.concatenate([np.concatenate([piece for piece, _, _ in group], axis=1) for group in groups])


def _run_span(stream: DeepFilterNet3Stream, feed: np.ndarray, drop: int, keep: int | None,
              finish: bool) -> tuple[np.ndarray, DeepFilterNet3Stream, int]:
    """One lane's share of a round: push `feed` (and flush when `finish`), drop the first `drop`
    output samples (a warm-up), keep `keep` after them (None: all) -> (kept output, the stream, how
    many samples it has emitted in this call)."""
    out = stream.push(feed)
    if finish:
        out = np.concatenate([out, stream.finish()], axis=1)
    kept = out[:, drop:] if keep is None else out[:, drop : drop + keep]
    return kept, stream, out.shape[1]


def _whole_hops(seconds: float) -> int:
    return max(1, round(seconds * SAMPLE_RATE / HOP_SIZE)) * HOP_SIZE
