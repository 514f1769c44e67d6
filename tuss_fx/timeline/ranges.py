"""The source ranges a conform processes: every clip's use of a source widened by handles (on the
clip's frame grid, clamped to the media), overlapping and touching uses merged, so each stretch of
each source is processed once however many clips and tracks play it."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from tuss_fx.media.audio_io import AudioInfo
from tuss_fx.timeline.edit import ClipUse, TimelineError, clock, exact_rate

HANDLE_SECONDS = 2.0  # each side of a clip, as dialogue editors ask for, so fades and trims have room


@dataclass(frozen=True)
class SourceRange:
    """One stretch of one source, processed once into one new medium."""

    key: str  # unique, file-name safe: "<source stem>_<start timecode digits>"
    source: Path
    audio_track: int | None  # a film's audio track (1-based); None: an audio file
    first_frame: int  # in the source's samples
    num_frames: int
    sample_rate: int
    start: Fraction  # seconds on the source's timecode of first_frame
    rate: float  # the frame rate of its clips, as the timeline holds it (the new reference's unit)
    clips: tuple[int, ...]  # ClipUse.index of every clip it serves
    names: tuple[str, ...]  # their clip names, each once

    @property
    def end(self) -> Fraction:
        return self.start + Fraction(self.num_frames, self.sample_rate)

    def label(self) -> str:
        """Its start as a timecode at its clips' rate (drop-frame at 29.97 and 59.94)."""
        return clock(self.rate).label(float(self.start))

    def excerpt(self, info: AudioInfo) -> AudioInfo:
        """The source probed (`info`) narrowed to this range."""
        return info.excerpt(self.first_frame, self.num_frames)


def plan_ranges(uses: Sequence[ClipUse], located: Mapping[str, Path], infos: Mapping[Path, AudioInfo],
                own_starts: Mapping[Path, Fraction], handle_seconds: float = HANDLE_SECONDS,
                where: Path | str = "timeline") -> list[SourceRange]:
    """The merged ranges, by source then time.

    Args:
        located: each use's media_key -> its file (media.locate_media). infos: each file probed.
        own_starts: each file's first sample on its own timecode (a BWF's TimeReference, a film's
            timecode track), used where the timeline does not say where its media start.

    Raises:
        TimelineError: a clip that plays none of its source (a timecode the media does not hold).
    """
    # per source and where the timeline says it starts (clips may disagree): (low, high, use), in seconds
    # on the source's timecode
    spans: dict[tuple[Path, Fraction], list[tuple[Fraction, Fraction, ClipUse]]] = defaultdict(list)
    handle = Fraction(handle_seconds).limit_denominator(1000)
    for use in uses:
        path = located[use.media_key]
        info = infos[path]
        media_start = use.media_start if use.media_start is not None else own_starts[path]
        media_end = media_start + Fraction(info.num_frames, info.sample_rate)
        if use.end <= media_start or use.start >= media_end:
            tc = clock(use.rate)
            raise TimelineError(where, f"{use.where()} plays {tc.label(float(use.start))}-{tc.label(float(use.end))} "
                                       f"of {path.name}, which holds {tc.label(float(media_start))}-"
                                       f"{tc.label(float(media_end))}")
        grid = exact_rate(use.rate)
        low = Fraction(math.floor((use.start - handle) * grid), 1) / grid
        high = Fraction(math.ceil((use.end + handle) * grid), 1) / grid
        spans[path, media_start].append((max(low, media_start), min(high, media_end), use))
    ranges = []
    for path, media_start in sorted(spans, key=lambda key: (str(key[0]), key[1])):
        info = infos[path]
        merged: list[list] = []
        for low, high, use in sorted(spans[path, media_start], key=lambda span: (span[0], span[1])):
            if merged and low <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high)
                merged[-1][2].append(use)
            else:
                merged.append([low, high, [use]])
        for low, high, served in merged:
            first = round((low - media_start) * info.sample_rate)
            last = min(round((high - media_start) * info.sample_rate), info.num_frames)
            names = tuple(dict.fromkeys(use.name for use in served))
            ranges.append(SourceRange("", path, info.audio_track, first, last - first, info.sample_rate,
                                      media_start + Fraction(first, info.sample_rate), served[0].rate,
                                      tuple(sorted(use.index for use in served)), names))
    return _keyed(ranges)


def _keyed(ranges: list[SourceRange]) -> list[SourceRange]:
    """Each range named by its source's stem and start timecode; sources of one name in different
    folders get a number after the stem."""
    stems: dict[str, list[Path]] = defaultdict(list)
    for item in ranges:
        if item.source not in stems[item.source.stem]:
            stems[item.source.stem].append(item.source)
    keyed = []
    for item in ranges:
        stem = re.sub(r"[^\w.()+-]+", "_", item.source.stem).strip("_") or "source"
        same = stems[item.source.stem]
        if len(same) > 1:
            stem += f"-{same.index(item.source) + 1}"
        digits = re.sub(r"\D", "", item.label())
        keyed.append(replace(item, key=f"{stem}_{digits}"))
    return keyed
