"""The dialogue ride: a background fader that comes down where a line is buried, as a mixer rides it.

From the dialogue-to-background ratio of every 400 ms window (measure.dbr) the ride asks, for each
window of a line, for the reduction that brings DBR up to the target, never more than
`max_reduction_db`; elsewhere for none (unity where dialogue is absent or already clear). A line
(line_windows) is where the speech detector (measure.speech) hears speech for at least
MIN_LINE_WINDOWS windows in a row, less the windows where the dialogue stem sits more than
LINE_WITHIN_LU under the line around it (its soft tail, what the engine leaks after it): a short
false alarm of the detector in a music swell, or a line's fading end, asks nothing. The asked-for
reduction is then given a mixer's ballistics on a 10 ms grid:
- hold: a reduction stays asked for `hold_seconds` after the window that asked, so the fader does
  not pump up between the words of one line (short: the speech detector's 0.3 s hangover already
  keeps them together);
- attack: the fader falls at most `attack_db_per_second`, starting early enough (the ride is
  computed over the whole programme, so it looks ahead) to be down by the first syllable;
- release: it rises at most `release_db_per_second`, slow enough not to be heard as a swell.
Defaults (RideSettings), measured with benchmarks/ride_gates.py on real readings under real music:
- 20 dB at most: at -6 dB DBR, reaching 10 LU takes 16 dB on average, and the 400 ms windows of a
  line vary around it; on 6 s readings under music at -6 dB a 12 dB cap brought 44 % of the dialogue
  windows to the target, 16 dB 69 %, 20 dB 90 %. Scenes mixed as TV usually is ask for a few dB.
- attack 120 dB/s (the full 20 dB in 0.17 s, 8 dB in 67 ms: down before the first syllable, as
  voice-over duckers' 10-50 ms attacks are), release 60 dB/s (20 dB back in 0.33 s, within the
  0.3-0.8 s of broadcast duckers), hold 0.05 s (the detector's 0.3 s hangover already bridges the
  pauses between words).
Measured with the dialogue engine's stems of the mix (benchmarks/ride_gates.py --estimated, the ride
applied to the true background; two 3 s lines in 22 s, 12 scenes): the share of dialogue windows
brought to 10 LU or within 1 dB of it, at 0 / -6 dB DBR, and the share of 100 ms steps more than 0.5 s
from the lines where the background stays within 1 dB of its median gain (mean of scenes, worst), and
how far the fader rises inside the lines in all (pumping between words; dB per line, mean):
  key                                              reach 0 / -6 dB   steady outside   rise inside
  level gate of the stem (before speech presence)  98 % / 92 %       67 %, 3 %
  speech windows, release 30, hold 0.2             98 % / 91 %       65 %, 3 %
  lines (>= 10 windows), release 30, hold 0.2      98 % / 91 %       84 %, 73 %
  lines less their tails (12 LU), 30 / 0.2         96 % / 90 %       90 %, 75 %
  lines less their tails, release 40, hold 0.1     96 % / 90 %       93 %, 80 %
  the same, detector with the stem's veto and      96 % / 90 %       97 %, 93 %       12.7 dB
    consonants (measure.speech), 40 / 0.1                            (9 of 12 >= 95 %)
  the same, release 60, hold 0.05                  96 % / 90 %       99 %, 96 %       13.8 dB   (these
                                                                     (12 of 12)                   defaults)
  the same, release 50, no hold                    96 % / 89.8 %     99 %, 96 %       14.5 dB
  the same, release 40, no hold                    96 % / 89.8 %     98 %, 94 %       14.2 dB
  the same, release 50, hold 0.05                  96 % / 90 %       98 %, 95 % (11 of 12)
  the same, release 70, hold 0.1                   96 % / 90 %       99 %, 96 %   (20 dB back in 0.29 s)
The three scenes short of 95 % with 40 / 0.1 were the fader still coming back 0.6-0.9 s after a line
ended at -6 dB; 60 dB/s after 0.05 s brings it back in time, at the cost of 1.1 dB more movement per
line inside the lines (the fader follows each window's asked reduction a little more closely); no hold
at all lost a window of reach at -6 dB (89.8 % against 90.3 %).
No gain falls faster than the attack nor rises faster than the release (tested).
The result is automation: one lane per non-dialogue source, written as MIDI with --write-automation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tuss_fx.measure.dbr import DEFAULT_TARGET_DBR_LU, DialogueClarity
from tuss_fx.measure.loudness import BLOCK_SECONDS
from tuss_fx.measure.speech import MIN_RUN_WINDOWS, long_runs
from tuss_fx.mix.automation import RAMP_MS

GRID_SECONDS = RAMP_MS / 1000  # the ride's time resolution: one automation ramp
# What a line is (benchmarks/ride_gates.py --estimated, the table above). A run of fewer speech windows
# (1.3 s of windows: about 0.7 s of speech with the detector's hangover) is not ridden: 8 windows kept the
# worst scene at 66 % (the speech detector drops such runs itself, measure.speech.MIN_RUN_WINDOWS; the ride
# keeps the rule for windows from another key, as the level gate's). Windows more than LINE_WITHIN_LU under
# the power mean of the speech windows within LINE_CONTEXT_WINDOWS either side ask nothing: 10 LU lost
# reach (95 % / 90 %), 15 LU kept more tail (93 %, 80 % steady, the same worst).
MIN_LINE_WINDOWS = MIN_RUN_WINDOWS
LINE_CONTEXT_WINDOWS = 10
LINE_WITHIN_LU = 12.0
LINE_LOOKAHEAD_WINDOWS = max(MIN_LINE_WINDOWS - 1, LINE_CONTEXT_WINDOWS)  # how far ahead a window's line reaches


@dataclass(frozen=True)
class RideSettings:
    """A preset's [ride] table."""

    target_lu: float = DEFAULT_TARGET_DBR_LU
    max_reduction_db: float = 20.0
    attack_db_per_second: float = 120.0
    release_db_per_second: float = 60.0
    hold_seconds: float = 0.05

    def check(self) -> str | None:
        """What is wrong with these settings, or None."""
        if not 0.0 < self.max_reduction_db <= 40.0:
            return "max_reduction_db must be in (0, 40]"
        if self.attack_db_per_second <= 0 or self.release_db_per_second <= 0:
            return "attack_db_per_second and release_db_per_second must be > 0"
        if not 0.0 <= self.hold_seconds <= 10.0:
            return "hold_seconds must be in [0, 10]"
        return None


def line_windows(speaking: np.ndarray, dialogue_lufs: np.ndarray | None) -> np.ndarray:
    """(K,) bool: the windows of lines, those the ride answers. speaking: (K,) the speech windows;
    dialogue_lufs: (K,) the dialogue stem's loudness per window, or None (then every window of a run of at
    least MIN_LINE_WINDOWS counts). Window i depends only on windows i +- LINE_LOOKAHEAD_WINDOWS, so a
    stream (LineFollower) finds the same windows."""
    speaking = np.asarray(speaking, dtype=bool)
    in_line = long_runs(speaking, MIN_LINE_WINDOWS)
    if dialogue_lufs is None or not in_line.any():
        return in_line
    lufs = np.asarray(dialogue_lufs, dtype=np.float64)
    power = np.where(speaking, 10.0 ** (np.where(np.isnan(lufs), -np.inf, lufs) / 10.0), 0.0)
    span = 2 * LINE_CONTEXT_WINDOWS + 1
    around = np.lib.stride_tricks.sliding_window_view(np.pad(power, LINE_CONTEXT_WINDOWS), span).sum(axis=1)
    spoken = np.lib.stride_tricks.sliding_window_view(np.pad(speaking, LINE_CONTEXT_WINDOWS), span).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        line_lufs = 10.0 * np.log10(around / np.maximum(spoken, 1))
    return in_line & (lufs >= line_lufs - LINE_WITHIN_LU)


def asked_reduction(dbr_lu: np.ndarray, answered: np.ndarray, settings: RideSettings,
                    lift_db: float = 0.0) -> np.ndarray:
    """(K,) reduction in dB each window asks of the background: target - (DBR + lift), clipped to
    [0, max], where `answered` (line_windows); 0 elsewhere. lift_db: what the remix already gives the
    dialogue over the background (dialogue gain minus background gain)."""
    needed = settings.target_lu - (np.asarray(dbr_lu, dtype=np.float64) + lift_db)
    needed = np.where(np.isfinite(needed), needed, np.where(needed > 0, settings.max_reduction_db, 0.0))
    return np.where(answered, np.clip(needed, 0.0, settings.max_reduction_db), 0.0)


def ride_curve(clarity: DialogueClarity, settings: RideSettings, duration_seconds: float,
               lift_db: float = 0.0) -> np.ndarray:
    """The background's gain in dB (<= 0) at every GRID_SECONDS from 0 to duration_seconds: the
    whole programme's lines through RideFollower at once."""
    follower = RideFollower(settings, clarity.hop_seconds)
    answered = line_windows(clarity.dialogue, clarity.dialogue_lufs)
    return np.concatenate([follower.push(asked_reduction(clarity.dbr_lu, answered, settings, lift_db)),
                           follower.finish(duration_seconds)])


def lane_events(curve_db: np.ndarray, base_db: float) -> list[tuple[float, float]]:
    """Automation events (seconds, gain dB) drawing base_db + the curve: one where the curve starts
    and one for every grid step where it changes, nothing over flat stretches. An automation event
    ramps over the next GRID_SECONDS (mix.automation.RAMP_MS), so the event reaching curve[i] sits
    one step before it and the ramps join into the curve's straight lines."""
    changed = np.flatnonzero(np.abs(np.diff(curve_db)) > 1e-9) + 1
    events = [] if changed.size and changed[0] == 1 else [(0.0, base_db + float(curve_db[0]))]
    return events + [(round((index - 1) * GRID_SECONDS, 6), base_db + float(curve_db[index])) for index in changed]


def ride_lanes(curve_db: np.ndarray, sources: Sequence[str], gains_db: dict[str, float]) -> dict[str, list]:
    """Automation lanes riding every source in `sources` by the curve, on top of its own gain."""
    return {name: lane_events(curve_db, gains_db.get(name, 0.0)) for name in sources
            if gains_db.get(name, 0.0) != -math.inf}


def window_means(curve_db: np.ndarray, window_end_seconds: np.ndarray) -> np.ndarray:
    """(K,) the curve's mean over each 400 ms window ending at window_end_seconds."""
    span = int(round(BLOCK_SECONDS / GRID_SECONDS))
    cumulative = np.concatenate([[0.0], np.cumsum(curve_db)])
    ends = np.clip(np.round(window_end_seconds / GRID_SECONDS).astype(int), span, len(curve_db))
    return (cumulative[ends] - cumulative[ends - span]) / span


class LineFollower:
    """line_windows as a stream: each window's DBR, speech and dialogue loudness in; out, with their DBR,
    the windows whose look-ahead (LINE_LOOKAHEAD_WINDOWS) has arrived (all of them with final=True)."""

    def __init__(self) -> None:
        self._windows = np.zeros((3, 0))  # rows: DBR, speaking, dialogue LUFS, from window self._first on
        self._first = self._emitted = self._count = 0

    def push(self, dbr_lu: np.ndarray, speaking: np.ndarray, dialogue_lufs: np.ndarray,
             final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(k,) each -> (DBR, answered) of the windows now final."""
        self._windows = np.concatenate([self._windows, np.stack([dbr_lu, speaking, dialogue_lufs]).astype(np.float64)],
                                       axis=1)
        self._count += len(dbr_lu)
        until = self._count if final else max(self._emitted, self._count - LINE_LOOKAHEAD_WINDOWS)
        chosen = slice(self._emitted - self._first, until - self._first)
        answered = line_windows(self._windows[1] > 0, self._windows[2])[chosen]
        dbr = self._windows[0, chosen]
        self._emitted = until
        keep_from = max(0, self._emitted - LINE_LOOKAHEAD_WINDOWS - self._first)  # the look-back a window needs
        self._windows, self._first = self._windows[:, keep_from:], self._first + keep_from
        return dbr, answered


class RideFollower:
    """The ride as a stream: asked reductions of 400 ms windows in, ridden grid points out.

    Give it each window's asked reduction (asked_reduction's values, in order, one per 100 ms hop);
    it returns the ride's gain (dB) at every grid point no later window can change any more: a point
    is final once the windows spanning it have arrived and the attack's look-ahead past it is known.
    A window asks over all it spans; each point asks the most of the `hold` points before it; the
    attack looks ahead (falling early enough to be down in time); the release follows. However the
    windows are cut into calls, the points are the same (tested against a whole-programme reference).
    """

    def __init__(self, settings: RideSettings, hop_seconds: float) -> None:
        self._settings, self._hop = settings, hop_seconds
        self._hold = int(round(settings.hold_seconds / GRID_SECONDS))
        self._attack = settings.attack_db_per_second * GRID_SECONDS
        self._release = settings.release_db_per_second * GRID_SECONDS
        self._ahead = int(math.ceil(settings.max_reduction_db / self._attack))  # the attack's reach, in points
        self._asked = np.zeros(0)  # asked reduction of points from self._first on (held points included)
        self._first = 0  # grid index of self._asked[0]
        self._emitted = 0  # grid points returned so far
        self._windows = 0
        self._level = 0.0  # the last returned reduction, where the release continues from

    @property
    def latency_seconds(self) -> float:
        """How far the final points lag the newest window's end: its span, the look-ahead, one hop."""
        return BLOCK_SECONDS + (self._ahead + 1) * GRID_SECONDS + self._hop

    def push(self, asked: np.ndarray) -> np.ndarray:
        """(k,) reductions of the next windows -> the gains (dB) of the grid points now final."""
        hops = round(BLOCK_SECONDS / self._hop)
        if len(asked):  # room for every window's span at once: growing per window would copy the lot each time
            self._grow(int(math.ceil((self._windows + len(asked) - 1 + hops) * self._hop / GRID_SECONDS)) + 1)
        for reduction in asked:
            end = (self._windows + hops) * self._hop
            first, last = int((end - BLOCK_SECONDS) / GRID_SECONDS), int(math.ceil(end / GRID_SECONDS))
            self._grow(last + 1)
            span = slice(max(first, self._first) - self._first, last + 1 - self._first)
            self._asked[span] = np.maximum(self._asked[span], reduction)
            self._windows += 1
        next_first = int((self._windows + round(BLOCK_SECONDS / self._hop)) * self._hop / GRID_SECONDS) \
            - round(BLOCK_SECONDS / GRID_SECONDS)
        return self._emit(next_first - self._ahead - 1)

    def finish(self, duration_seconds: float) -> np.ndarray:
        """The remaining points up to duration_seconds (as ride_curve counts them)."""
        steps = int(math.ceil(duration_seconds / GRID_SECONDS)) + 1
        self._grow(steps + self._ahead + 1)
        return self._emit(steps, final=steps)

    def _grow(self, points: int) -> None:
        missing = points - self._first - len(self._asked)
        if missing > 0:
            self._asked = np.concatenate([self._asked, np.zeros(missing)])

    def _emit(self, until: int, final: int | None = None) -> np.ndarray:
        """Gains of points self._emitted .. until - 1 (until: points whose inputs are all known)."""
        count = until - self._emitted
        if count <= 0:
            return np.zeros(0)
        start = self._emitted - self._first  # index of the first point to emit in self._asked
        end = min(start + count + self._ahead, len(self._asked)) if final is None else final - self._first
        held = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([np.zeros(max(0, self._hold - start)), self._asked[max(0, start - self._hold):end]]),
            self._hold + 1).max(axis=1) if self._hold else self._asked[start:end].copy()
        lead = held.copy()
        for i in range(len(lead) - 2, -1, -1):  # the attack's look-ahead, within the points known
            lead[i] = max(lead[i], lead[i + 1] - self._attack)
        out = np.empty(count)
        for i in range(count):
            self._level = max(lead[i], self._level - self._release) if self._emitted + i else lead[i]
            out[i] = -self._level
        self._emitted += count
        keep_from = max(0, self._emitted - self._hold - self._first)  # the hold looks back this far
        self._asked, self._first = self._asked[keep_from:], self._first + keep_from
        return out
