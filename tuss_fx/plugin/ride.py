"""TUSSRide: the dialogue ride as a streaming, pedalboard-style processor.

The dialogue engine separates the dialogue block by block; the background (mix - dialogue) is
ridden as the `dialogue-ride` preset rides it (tuss_fx.mix.ride: the same asked reductions, hold,
look-ahead attack and release, computed by RideFollower point for point as ride_curve does). What
a stream cannot have is the whole programme, so the output lags the input by latency_samples: the
dialogue engine's delay, a window's 0.4 s, the speech detector's frame, hangover and run length
(measure.speech: where people speak, as the file ride decides it), the second a window needs to know
whether it is part of a line (mix.ride.line_windows), the attack's look-ahead and one 100 ms hop. The detector and the
line key only look back and that far ahead, so a stream finds the same lines as the file ride does, and
rides the same curve.
"""

from __future__ import annotations

import math

import numpy as np

from tuss_fx.measure.dbr import window_dbr
from tuss_fx.measure.loudness import BLOCK_SECONDS, LoudnessMeter, mean_square_lufs
from tuss_fx.measure.meters import HOP_SECONDS
from tuss_fx.measure.speech import HANGOVER_SECONDS, MIN_RUN_WINDOWS, UNVOICED_REACH_SECONDS, SpeechPresence
from tuss_fx.media.sample_queue import SampleQueue
from tuss_fx.mix.ride import (GRID_SECONDS, LINE_LOOKAHEAD_WINDOWS, LineFollower, RideFollower, RideSettings,
                              asked_reduction)
from tuss_fx.plugin.processors import TussProcessor
from tuss_fx.separation.dialogue import SPEECH_PROMPT

__all__ = ["TUSSRide"]


class TUSSRide(TussProcessor):
    """Ride the background down where the dialogue is buried, streaming.

    Example: Chain([TUSSRide(RideSettings(target_lu=12.0), dialogue_gain_db=2.0), Limiter()])
    """

    def __init__(self, settings: RideSettings | None = None, dialogue_gain_db: float = 0.0, **kwargs) -> None:
        """settings: the ride (tuss_fx.mix.ride.RideSettings; default the dialogue-ride preset's);
        dialogue_gain_db: a small static lift of the dialogue, counted in the DBR the ride aims at."""
        super().__init__((SPEECH_PROMPT,), **kwargs)
        self.settings = settings or RideSettings()
        problem = self.settings.check()
        if problem:
            raise ValueError(problem)
        self.dialogue_gain_db = dialogue_gain_db

    def _renderer(self, sample_rate: int, num_channels: int, buffer_size: int):
        return _RideRenderer(self.settings, self.dialogue_gain_db, sample_rate, num_channels)

    def _describe(self) -> str:
        return f" to {self.settings.target_lu:g} LU"


class _RideRenderer:
    """Dialogue and mixture blocks in, the ridden mix out once each sample's gain is final."""

    def __init__(self, settings: RideSettings, dialogue_gain_db: float, sample_rate: int, num_channels: int) -> None:
        self._settings, self._rate = settings, sample_rate
        self._dialogue_gain = 10 ** (dialogue_gain_db / 20)
        self._lift_db = dialogue_gain_db
        self._meters = [LoudnessMeter(sample_rate, num_channels, HOP_SECONDS) for _ in range(2)]  # dialogue, rest
        self._speech = SpeechPresence(sample_rate, num_channels)
        self._hops = round(BLOCK_SECONDS / HOP_SECONDS)
        self._windows = 0
        self._lines = LineFollower()
        self._follower = RideFollower(settings, HOP_SECONDS)
        self._gains = np.zeros(0)  # linear gain of the final grid points from self._gain_start on
        self._gain_start = 0
        self._queues = [SampleQueue(num_channels) for _ in range(2)]  # dialogue, background
        self._pushed = self._emitted = 0
        detector_seconds = (self._speech.latency_samples / sample_rate + HANGOVER_SECONDS + HOP_SECONDS
                            + (MIN_RUN_WINDOWS - 1) * HOP_SECONDS  # a window waits for its run's length
                            + UNVOICED_REACH_SECONDS)  # and for the consonants that let the stem's speech count
        line_seconds = LINE_LOOKAHEAD_WINDOWS * HOP_SECONDS
        self.latency_samples = int(math.ceil((self._follower.latency_seconds + GRID_SECONDS + detector_seconds
                                              + line_seconds) * sample_rate))

    def push(self, mixture: np.ndarray, stems: np.ndarray) -> np.ndarray:
        dialogue = stems[0]
        background = mixture - dialogue
        for meter, signal in zip(self._meters, (dialogue, background)):
            meter.push(signal)
        self._speech.push(mixture, dialogue)
        for queue, signal in zip(self._queues, (dialogue, background)):
            queue.push(signal)
        self._pushed += mixture.shape[1]
        self._add_points(self._follower.push(self._asked()))
        return self._emit(self._final_samples())

    def finish(self) -> np.ndarray:
        self._speech.finish()
        self._add_points(self._follower.push(self._asked(final=True)))
        self._add_points(self._follower.finish(self._pushed / self._rate))
        return self._emit(self._pushed)

    def _asked(self, final: bool = False) -> np.ndarray:
        """Reductions the windows final since the last call ask for (mix.ride.asked_reduction): windows the
        meters have whole and the speech detector has settled (all of them at the end), once the line key
        has seen their look-ahead."""
        energies = [meter.hop_energies for meter in self._meters]
        available = min(len(e) for e in energies) - self._hops
        if not final:
            available = min(available, self._speech.settled_windows(HOP_SECONDS))
        count = max(0, available - self._windows)
        # the new windows' mean squares from the meters' running sums, as block_mean_squares takes them all
        sums = [np.asarray(e[self._windows:self._windows + count + self._hops]) for e in energies]
        spoken, rest = (np.maximum(e[self._hops:] - e[:count], 0.0) / (self._hops * self._meters[0].hop_samples)
                        for e in sums)
        speaking = self._speech.windows(count, HOP_SECONDS, first_window=self._windows)
        self._windows = max(self._windows, available)
        dbr, answered = self._lines.push(window_dbr(spoken, rest), speaking, mean_square_lufs(spoken), final)
        return asked_reduction(dbr, answered, self._settings, self._lift_db)

    def _add_points(self, gains_db: np.ndarray) -> None:
        self._gains = np.concatenate([self._gains, 10 ** (gains_db / 20)])

    def _final_samples(self) -> int:
        """Samples whose gain is known: those up to the last final grid point."""
        last_point = self._gain_start + len(self._gains) - 1
        return min(self._pushed, int(last_point * GRID_SECONDS * self._rate) + 1) if len(self._gains) else 0

    def _emit(self, until: int) -> np.ndarray:
        """The ridden mix of samples self._emitted .. until - 1: gains interpolated between grid points."""
        count = max(0, until - self._emitted)
        dialogue, background = (queue.pop(count) for queue in self._queues)
        step = GRID_SECONDS * self._rate  # samples per grid point
        times = (self._emitted + np.arange(count)) / step
        gains = np.interp(times, self._gain_start + np.arange(len(self._gains)), self._gains) if count else times
        self._emitted += count
        drop = max(0, int(self._emitted / step) - 1 - self._gain_start)  # keep the point before the next sample
        self._gains, self._gain_start = self._gains[drop:], self._gain_start + drop
        return (dialogue * self._dialogue_gain + background * gains).astype(np.float32)
