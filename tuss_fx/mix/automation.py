"""MIDI CC fader automation of stem gains (mido), rendered sample-accurately with de-zippering ramps.

Mapping: CC7 (channel volume) on MIDI channel n (1-based, as DAWs show it) rides stem n in the
preset's prompt order; the channel after the last stem rides the residual. Values follow the
GM2 channel-volume law raised by 6 dB, so a fader has headroom above unity:

    gain_db = 40 · log10(value / 127) + 6      (value 0 = −inf, i.e. muted)

so 127 → +6 dB, 90 → 0.0 dB (unity), 64 → −5.9 dB, 32 → −18.0 dB. CC39 (channel volume LSB, the
14-bit pair of MIDI 1.0) right after a CC7 at the same time refines it: value = CC7 + CC39/128, so a
written ride comes back within 0.003 dB instead of 7-bit steps of up to 0.4 dB. Event times come
from the file's own tempo map (mido converts ticks to seconds through every set_tempo). A change
does not jump: the gain moves linearly to the new value over RAMP_MS, which removes zipper noise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np

from tuss_fx.errors import TussFxError

FADER_CC = 7
FADER_LSB_CC = 39  # CC7's least significant byte
RAMP_MS = 10.0
UNITY_OFFSET_DB = 6.0
TEMPLATE_TEMPO_BPM = 120
TEMPLATE_TICKS_PER_BEAT = 480


class AutomationError(TussFxError):
    """A MIDI file that cannot drive the stems."""


def cc_to_gain_db(value: int) -> float:
    """CC value 0..127 -> fader gain in dB (see the module docstring)."""
    return -math.inf if value <= 0 else 40.0 * math.log10(value / 127.0) + UNITY_OFFSET_DB


def gain_db_to_cc(gain_db: float) -> int:
    """The CC value whose gain is nearest to gain_db (clamped to 0..127)."""
    if gain_db == -math.inf:
        return 0
    return int(min(127, max(1, round(127.0 * 10 ** ((gain_db - UNITY_OFFSET_DB) / 40.0)))))


def gain_db_to_cc14(gain_db: float) -> tuple[int, int]:
    """(CC7, CC39) whose 14-bit value is nearest to gain_db (clamped to 0..127 + 127/128)."""
    if gain_db == -math.inf:
        return 0, 0
    fine = min(127 * 128 + 127, max(1, round(128 * 127.0 * 10 ** ((gain_db - UNITY_OFFSET_DB) / 40.0))))
    return fine // 128, fine % 128


def cc14_to_gain_db(msb: int, lsb: int) -> float:
    """(CC7, CC39) -> fader gain in dB, the law of cc_to_gain_db at 1/128 steps."""
    value = msb + lsb / 128.0
    return -math.inf if value <= 0 else 40.0 * math.log10(value / 127.0) + UNITY_OFFSET_DB


class GainAutomation:
    """Per-stem fader events in seconds: stem -> [(time_seconds, gain_db), ...] sorted by time."""

    def __init__(self, lanes: dict[str, list[tuple[float, float]]], source: str = "automation") -> None:
        self.lanes = {stem: sorted(events, key=lambda event: event[0]) for stem, events in lanes.items()}
        self.source = source

    @classmethod
    def from_midi(cls, path: str | Path, stems: Sequence[str]) -> GainAutomation:
        """Read CC7 lanes; `stems` in channel order, the residual last.

        Raises:
            AutomationError: not a readable MIDI file.
        """
        try:
            midi = mido.MidiFile(str(path))
        except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
            raise AutomationError(path, f"not a readable MIDI file ({exc})") from None
        lanes: dict[str, list[tuple[float, float]]] = {}
        now, unmapped = 0.0, set()
        coarse: dict[int, tuple[float, int]] = {}  # channel -> (time, CC7 value) of its latest CC7
        for message in midi:  # merged tracks, .time in seconds through the tempo map
            now += message.time
            if message.type != "control_change" or message.control not in (FADER_CC, FADER_LSB_CC):
                continue
            if message.channel >= len(stems):
                unmapped.add(message.channel + 1)
                continue
            lane = lanes.setdefault(stems[message.channel], [])
            if message.control == FADER_CC:
                coarse[message.channel] = (now, message.value)
                lane.append((now, cc_to_gain_db(message.value)))
            elif message.channel in coarse and coarse[message.channel][0] == now and lane:
                lane[-1] = (now, cc14_to_gain_db(coarse[message.channel][1], message.value))
        if unmapped:
            warnings.warn(f"{path}: CC{FADER_CC} on MIDI channel(s) {sorted(unmapped)} ignored: "
                          f"only {len(stems)} lanes ({', '.join(stems)})", stacklevel=2)
        return cls(lanes, str(path))

    def envelope(self, stem: str, start: int, count: int, sample_rate: int, initial_db: float) -> np.ndarray:
        """(count,) linear gains of samples start .. start+count-1 of `stem`.

        Before a lane's first event the stem plays at initial_db (its preset gain).
        """
        xs, ys = self._breakpoints(stem, sample_rate, initial_db)
        return np.interp(np.arange(start, start + count, dtype=np.float64), xs, ys).astype(np.float32)

    def _breakpoints(self, stem: str, sample_rate: int, initial_db: float) -> tuple[np.ndarray, np.ndarray]:
        ramp = max(1.0, RAMP_MS * 1e-3 * sample_rate)
        xs, ys = [0.0], [linear_gain(initial_db)]
        for seconds, gain_db in self.lanes.get(stem, []):
            at = float(round(seconds * sample_rate))
            current = float(np.interp(at, xs, ys))  # where an unfinished ramp had got to
            while xs and xs[-1] >= at:
                xs.pop(), ys.pop()
            xs += [at, at + ramp]
            ys += [current, linear_gain(gain_db)]
        return np.array(xs), np.array(ys)


def linear_gain(gain_db: float) -> float:
    """A fader's dB as a linear factor; -inf (muted) is 0."""
    return 0.0 if gain_db == -math.inf else 10.0 ** (gain_db / 20.0)


def lanes_to_midi(stems: Sequence[str], lanes: dict[str, Sequence[tuple[float, float]]],
                  duration_seconds: float) -> mido.MidiFile:
    """A type-1 MIDI file (120 BPM) with one named track per lane: CC7 + CC39 pairs on the channel of
    the lane's stem in `stems` (channel n = stem n, as from_midi reads them) at each (seconds, dB) event."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TEMPLATE_TICKS_PER_BEAT)
    tempo = mido.bpm2tempo(TEMPLATE_TEMPO_BPM)

    def ticks(seconds: float) -> int:
        return round(mido.second2tick(seconds, TEMPLATE_TICKS_PER_BEAT, tempo))

    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="tuss-fx automation", time=0),
        mido.MetaMessage("set_tempo", tempo=tempo, time=0),
        mido.MetaMessage("marker", text="end of audio", time=ticks(duration_seconds)),
    ]))
    for channel, stem in enumerate(stems):
        if stem not in lanes:
            continue
        track, at = mido.MidiTrack([mido.MetaMessage("track_name", name=f"{stem} fader (CC{FADER_CC} ch {channel + 1})",
                                                     time=0)]), 0
        for seconds, gain_db in lanes[stem]:
            msb, lsb = gain_db_to_cc14(gain_db)
            when = max(ticks(seconds), at)
            track.append(mido.Message("control_change", channel=channel, control=FADER_CC, value=msb, time=when - at))
            track.append(mido.Message("control_change", channel=channel, control=FADER_LSB_CC, value=lsb, time=0))
            at = when
        midi.tracks.append(track)
    return midi
