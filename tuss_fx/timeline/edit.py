"""Read an edit: the timeline through OpenTimelineIO, the audio tracks chosen, and what each of their
clips uses of its source, in exact seconds on the source's timecode.

OpenTimelineIO keeps rates as floats (29.97); a timecode hours into a day would drift by frames at
that precision, so NTSC rates are taken as the n*1000/1001 they stand for.
"""

from __future__ import annotations

import fnmatch
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tuss_fx.errors import TussFxError
from tuss_fx.media.timecode import ProgrammeClock

# what OpenTimelineIO reads and writes, by suffix: the adapter's name (each from its own package)
ADAPTERS = {".otio": "otio_json", ".otioz": "otioz", ".aaf": "AAF", ".xml": "fcp_xml", ".fcpxml": "fcpx_xml",
            ".edl": "cmx_3600"}
INSTALL_HINT = 'timelines need OpenTimelineIO and its adapters: pip install "tuss-fx[timeline]"'


class TimelineError(TussFxError):
    """A timeline that cannot be conformed: unreadable, no such track, a clip without usable media."""


def otio():
    """The opentimelineio module, or a TimelineError saying how to install it."""
    try:
        import opentimelineio
    except ImportError:
        raise TimelineError("opentimelineio", INSTALL_HINT) from None
    return opentimelineio


def exact_rate(rate: float) -> Fraction:
    """The frame (or sample) rate a float stands for: integers as they are, 23.976/29.97/59.94... as
    n*1000/1001."""
    if abs(rate - round(rate)) < 1e-6:
        return Fraction(round(rate))
    ntsc = Fraction(round(rate * 1.001) * 1000, 1001)
    return ntsc if abs(float(ntsc) - rate) < 1e-3 else Fraction(rate).limit_denominator(1001)


def seconds(time) -> Fraction:
    """An OpenTimelineIO RationalTime in exact seconds."""
    return Fraction(time.value).limit_denominator(1 << 20) / exact_rate(time.rate)


def clock(rate: float) -> ProgrammeClock:
    """Labels at `rate` from midnight; 29.97 and 59.94 count drop-frame, as editors default to."""
    exact = exact_rate(rate)
    return ProgrammeClock(0.0, exact, exact.denominator == 1001 and round(exact) in (30, 60))


@dataclass(frozen=True)
class ClipUse:
    """What one clip of a chosen track plays of its source."""

    track: str  # "A1 'DIA 1'": the track's place among the audio tracks, and its name
    index: int  # the clip's place among the chosen clips (edit.chosen_clips order)
    name: str
    record: str  # the clip's record timecode, for messages
    url: str | None  # the media reference's target URL; None: a clip without media
    start: Fraction  # seconds on the source's timecode: the first source instant the clip plays
    end: Fraction  # exclusive
    rate: float  # the clip's edit rate, as the timeline holds it
    media_start: Fraction | None  # the source's first sample on its timecode, when the timeline knows it
    media_end: Fraction | None

    def where(self) -> str:
        return f"clip {self.name!r} on {self.track} at {self.record}"

    @property
    def media_key(self) -> str:
        """What identifies its medium: the URL, or for a clip without one (an EDL's), its name."""
        return self.url or f"clip name:{self.name}"


def read_timeline(path: Path, bundle_dir: Path | None = None):
    """The timeline in `path` (by suffix: ADAPTERS). An .otioz bundle's media are extracted into
    `bundle_dir` (when given), where its references then point.

    Raises:
        TimelineError: no such file, a suffix no adapter reads, or the adapter's refusal (one line).
    """
    module = otio()
    if not path.is_file():
        raise TimelineError(path, "no such timeline file")
    adapter = ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        raise TimelineError(path, f"not a timeline tuss-fx reads ({', '.join(sorted(ADAPTERS))})")
    logging.disable(logging.WARNING)  # pyaaf2 logs odd-but-harmless AAF values on the root logger
    try:
        extract = {"extract_to_directory": str(bundle_dir)} if adapter == "otioz" and bundle_dir else {}
        if extract:  # the adapter unpacks into an existing folder; a rerun's is replaced
            shutil.rmtree(bundle_dir, ignore_errors=True)
            bundle_dir.mkdir(parents=True)
        timeline = module.adapters.read_from_file(str(path), adapter_name=adapter, **extract)
    except Exception as exc:  # adapters raise anything from parse errors to KeyErrors on odd files
        raise TimelineError(path, f"cannot be read as {adapter} ({type(exc).__name__}: {one_line(exc)})") from None
    finally:
        logging.disable(logging.NOTSET)
    if isinstance(timeline, module.schema.SerializableCollection):  # an EDL or XML of several sequences
        found = list(timeline.find_children(descended_from_type=module.schema.Timeline))
        if len(found) != 1:
            raise TimelineError(path, f"holds {len(found)} sequences; export the one to conform on its own")
        timeline = found[0]
    if not isinstance(timeline, module.schema.Timeline):
        raise TimelineError(path, f"holds a {type(timeline).__name__}, not a timeline")
    return timeline


def audio_track_labels(timeline) -> list[tuple[str, object]]:
    """(label, track) for every audio track, in order: A1, A2, ... and the track's name."""
    return [(f"A{number} {track.name!r}", track) for number, track in enumerate(timeline.audio_tracks(), 1)]


def chosen_tracks(timeline, patterns: Sequence[str], where: Path) -> list[tuple[str, object]]:
    """The audio tracks whose name or position (A1, A2, ...) matches one of `patterns` (shell globs,
    case-insensitive); every audio track when there are none.

    Raises:
        TimelineError: a pattern that matches no audio track (the tracks there are are listed).
    """
    labelled = audio_track_labels(timeline)
    if not patterns:
        return labelled
    chosen = []
    for pattern in patterns:
        matched = [(label, track) for label, track in labelled
                   if any(fnmatch.fnmatch(text.lower(), pattern.lower()) for text in (label.split()[0], track.name))]
        if not matched:
            raise TimelineError(where, f"--tracks {pattern!r} matches no audio track; audio tracks: "
                                       f"{', '.join(label for label, _ in labelled) or 'none'}")
        chosen += [item for item in matched if item not in chosen]
    return [item for item in labelled if item in chosen]  # timeline order


def chosen_clips(timeline, tracks: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """(track label, clip) of every clip on the chosen tracks, nested ones included, in order."""
    return [(label, clip) for label, track in tracks for clip in track.find_clips()]


def clip_uses(timeline, clips: list[tuple[str, object]]) -> list[ClipUse]:
    """What each clip plays of its source (its visible range: transitions included, speed changes
    scaled), in seconds on the source's timecode."""
    module = otio()
    start_label = timeline.global_start_time
    uses = []
    for index, (label, clip) in enumerate(clips):
        visible = clip.visible_range()
        scale = _speed(clip, module)
        reference = clip.media_reference
        available = reference.available_range if reference is not None else None
        url = getattr(reference, "target_url", None) or None
        record = _record_label(clip, start_label, module)
        start = seconds(visible.start_time)
        uses.append(ClipUse(label, index, clip.name or (reference.name if reference else "") or f"clip {index + 1}",
                            record, url, start, start + seconds(visible.duration) * scale, visible.duration.rate,
                            seconds(available.start_time) if available else None,
                            seconds(available.end_time_exclusive()) if available else None))
    return uses


def _speed(clip, module) -> Fraction:
    """How much source a second of the clip plays: the product of its linear time warps' |scalar|."""
    scale = Fraction(1)
    for effect in clip.effects:
        if isinstance(effect, module.schema.LinearTimeWarp):
            scale *= Fraction(abs(effect.time_scalar)).limit_denominator(1000)
    return scale


def _record_label(clip, start, module) -> str:
    """The clip's record-in timecode on the timeline's clock."""
    try:
        record = clip.transformed_time(clip.trimmed_range().start_time, clip.parent())
        parent = clip.parent()
        while parent is not None and parent.parent() is not None:  # nested: up to the top-level track
            record = parent.transformed_time(record, parent.parent())
            parent = parent.parent()
        at = (start or module.opentime.RationalTime(0, record.rate)) + record
    except Exception:  # an odd nesting: the message names the clip without its position
        return "an unknown position"
    return clock(at.rate).label(float(seconds(at)))


def one_line(exc: Exception) -> str:
    """An exception's message on one line, at most 300 characters (adapters raise long, multi-line ones)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__
