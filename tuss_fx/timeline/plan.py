"""A conform from start to end: read the edit, find its media, cut the ranges (plan_conform), process
them (conform.run_conform), and hand back the relinked timeline (conform_timeline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tuss_fx.errors import AudioReadError
from tuss_fx.media.audio_io import AudioInfo, probe
from tuss_fx.media.container import is_container
from tuss_fx.media.timecode import programme_clock
from tuss_fx.mix.replace import Placement
from tuss_fx.timeline.conform import ConformJob, ConformSummary, FrameProgress, run_conform
from tuss_fx.timeline.edit import ClipUse, TimelineError, chosen_clips, chosen_tracks, clip_uses, read_timeline
from tuss_fx.timeline.media import locate_media
from tuss_fx.timeline.ranges import HANDLE_SECONDS, SourceRange, plan_ranges
from tuss_fx.timeline.relink import WrittenTimeline, relinked, write_timelines


@dataclass(frozen=True)
class ConformPlan:
    """An edit read and its media found: what a conform will process, before any of it is."""

    timeline_path: Path
    timeline: object  # opentimelineio.schema.Timeline
    patterns: tuple[str, ...]
    tracks: tuple[str, ...]  # labels of the chosen tracks
    uses: tuple[ClipUse, ...]
    ranges: tuple[SourceRange, ...]
    sources: tuple[AudioInfo, ...] = ()  # every medium the chosen clips play, probed whole

    @property
    def served(self) -> dict[int, SourceRange]:
        """Chosen clip index -> the range that holds it."""
        return {index: item for item in self.ranges for index in item.clips}

    def describe(self) -> str:
        sources = len({item.source for item in self.ranges})
        seconds = sum(item.num_frames / item.sample_rate for item in self.ranges)
        return (f"{len(self.uses)} clips on {len(self.tracks)} tracks ({', '.join(self.tracks)}) play "
                f"{len(self.ranges)} source ranges of {sources} sources, {seconds / 60:.1f} min of audio with handles")


def plan_conform(timeline_path: Path, patterns: Sequence[str] = (), media_roots: Sequence[Path] = (),
                 handle_seconds: float = HANDLE_SECONDS, bundle_dir: Path | None = None,
                 film_audio_track: int = 1) -> ConformPlan:
    """Read the timeline, choose its tracks, find every clip's media and cut the ranges. An .otioz
    bundle's media are extracted into `bundle_dir` (the conform's folder: shared with Ray actors);
    film sources are read from their `film_audio_track` (timelines do not say which).

    Raises:
        TimelineError: the timeline, a track pattern, or a clip's media: missing, or not readable
            audio (one line naming the clip).
    """
    timeline = read_timeline(timeline_path, bundle_dir)
    tracks = chosen_tracks(timeline, patterns, timeline_path)
    uses = clip_uses(timeline, chosen_clips(timeline, tracks))
    unpacked = bundle_dir if bundle_dir and timeline_path.suffix.lower() == ".otioz" else None
    located = locate_media(uses, timeline_path, media_roots, unpacked)
    first_users: dict[Path, ClipUse] = {}  # each medium, in timeline order, with the first clip that plays it
    for use in uses:
        first_users.setdefault(located[use.media_key], use)
    infos = {path: _probe(path, film_audio_track, user, timeline_path) for path, user in first_users.items()}
    unplaced = {located[use.media_key] for use in uses if use.media_start is None}  # start from their own timecode
    own_starts = {path: _own_start(infos[path]) for path in unplaced}
    ranges = plan_ranges(uses, located, infos, own_starts, handle_seconds, timeline_path)
    return ConformPlan(timeline_path, timeline, tuple(patterns), tuple(label for label, _ in tracks), tuple(uses),
                       tuple(ranges), tuple(infos.values()))


def _probe(path: Path, film_audio_track: int, user: ClipUse, timeline_path: Path) -> AudioInfo:
    """The medium probed; a medium that is not readable audio is one line naming a clip that plays it."""
    try:
        return probe(path, film_audio_track if is_container(path) else None)
    except AudioReadError as exc:
        raise TimelineError(timeline_path, f"{user.where()}: its media {path}: {exc.problem}") from None


def _own_start(info: AudioInfo) -> Fraction:
    """A medium's first sample on its own timecode: a Broadcast WAV's TimeReference, a film's timecode
    track, else midnight."""
    clock = programme_clock(info.path, info.sample_rate, is_container(info.path))
    return Fraction(clock.start_seconds).limit_denominator(1_000_000)


def conform_timeline(plan: ConformPlan, job: ConformJob, ray_address: str | None = None, actors: int = 1,
                     progress: FrameProgress | None = None, on_entry=None) -> tuple[ConformSummary,
                                                                                      WrittenTimeline | None]:
    """Process the plan's ranges (those a previous run finished are skipped), then write the relinked
    timeline; with any range failed, no timeline is written (the summary lists the errors).

    Raises:
        BatchError / ReplacementError: a source without its replacing recording, or one that does not fit
            the source, before any range is processed.
    """
    for source in plan.sources:
        for replacement in job.replacements(source.path):
            Placement.of(replacement.path, source)
    summary = run_conform(job, ray_address, actors, progress, on_entry)
    if summary.failed:
        return summary, None
    media = {item.key: job.outputs(item) for item in plan.ranges}
    stems = job.preset().source_names if job.split else ()
    timeline = relinked(plan.timeline, plan.patterns, plan.timeline_path, plan.served, media, stems)
    return summary, write_timelines(timeline, plan.timeline_path, job.engine.out_dir)
