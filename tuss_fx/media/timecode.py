"""Positions in a programme as its own timecode: a film's start timecode (drop-frame counted as
SMPTE ST 12-1 counts it) or a Broadcast WAV's TimeReference, plus the offset into the programme."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

_LABEL = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


@dataclass(frozen=True)
class ProgrammeClock:
    """Where the programme's first sample sits on its timecode, and how to write a position."""

    start_seconds: float = 0.0
    frame_rate: Fraction | None = None  # None: no frames known; positions as HH:MM:SS.mmm
    drop_frame: bool = False

    def label(self, offset_seconds: float) -> str:
        """The timecode of `offset_seconds` into the programme."""
        seconds = self.start_seconds + offset_seconds
        if self.frame_rate is None:
            whole, millis = divmod(round(seconds * 1000), 1000)
            return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{millis:03d}"
        frame = int(seconds * self.frame_rate + 1e-6)
        nominal = round(self.frame_rate)
        if self.drop_frame:
            frame = _drop_frame_label_number(frame, nominal)
        whole, frames = divmod(frame, nominal)
        separator = ";" if self.drop_frame else ":"
        return f"{whole // 3600 % 24:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}{separator}{frames:02d}"


def parse_timecode(text: str, frame_rate: Fraction) -> ProgrammeClock:
    """A clock from a start timecode label ("01:00:00:00", drop-frame "00:59:59;28") at frame_rate.

    Raises:
        ValueError: not a timecode label, or drop-frame at a rate that has none.
    """
    match = _LABEL.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a timecode")
    hours, minutes, seconds, separator, frames = match.groups()
    nominal = round(frame_rate)
    drop = separator in ";,"
    if drop and nominal not in (30, 60):
        raise ValueError(f"drop-frame timecode {text!r} at {float(frame_rate):g} fps")
    total_minutes = int(hours) * 60 + int(minutes)
    number = (total_minutes * 60 + int(seconds)) * nominal + int(frames)
    if drop:
        number -= (nominal // 15) * (total_minutes - total_minutes // 10)
    return ProgrammeClock(float(number / frame_rate), frame_rate, drop)


def programme_clock(path: Path, sample_rate: int, is_film: bool) -> ProgrammeClock:
    """The programme's clock: a film's timecode track at its picture's rate, a Broadcast WAV's
    TimeReference (no frames), else 00:00:00.000. An unreadable timecode counts as none."""
    if is_film:
        from tuss_fx.media.remux import film_timecode

        found = film_timecode(path)
        if found:
            try:
                return parse_timecode(*found)
            except ValueError:
                return ProgrammeClock()
        return ProgrammeClock()
    from tuss_fx.media.bwf import read_chunks

    bext = read_chunks(path).bext
    return ProgrammeClock(bext.time_reference / sample_rate) if bext and bext.time_reference else ProgrammeClock()


def _drop_frame_label_number(frame: int, nominal: int) -> int:
    """A real frame count -> the number its drop-frame label spells (labels 00 and 01, or 00-03 at
    60 fps, are skipped at the start of every minute but each tenth)."""
    drop = nominal // 15
    per_ten_minutes = nominal * 600 - drop * 9
    per_minute = nominal * 60 - drop
    tens, rest = divmod(frame, per_ten_minutes)
    skipped = drop * 9 * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    return frame + skipped
