"""The conformed timeline: the input's own, every chosen clip pointing at the processed range that
holds it (or, for a split, one track per stem in each chosen track's place), written in the input's
format where its adapter can carry the new media, and always as OpenTimelineIO.

Nothing else changes: record positions, source in/out, names, markers, transitions, effects,
metadata and the tracks not chosen. An AAF's clips carry their master mob's ID and the "UNC Path"
user comment the adapter links by; each new medium gets its own ID (derived from its file, so a rerun
writes the same timeline) and path, and the written AAF is read back to check the links held.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tuss_fx.media.temp_files import write_atomically
from tuss_fx.timeline.edit import ADAPTERS, chosen_clips, chosen_tracks, exact_rate, one_line, otio
from tuss_fx.timeline.media import file_name, url_path
from tuss_fx.timeline.ranges import SourceRange

AAF_UMID_PREFIX = "urn:smpte:umid:060a2b34.01010105.01010f20.13000000"  # SMPTE 330M label, as pyaaf2 makes


@dataclass(frozen=True)
class WrittenTimeline:
    paths: tuple[Path, ...]  # the timelines written: the input's format (when it could be), and .otio
    note: str  # why the input's format was not written, or ""


def relinked(timeline, patterns: Sequence[str], where: Path, served: Mapping[int, SourceRange],
             media: Mapping[str, Mapping[str, Path]], split: Sequence[str] = ()):
    """A copy of `timeline` with its chosen clips relinked.

    Args:
        served: chosen clip index (edit.chosen_clips order) -> the range that holds it.
        media: range key -> output name -> file: "audio" for a preset, the stem names for a split.
        split: the stems: each chosen track becomes one track per stem, named "<track> <stem>".
    """
    module = otio()
    result = timeline.deepcopy()
    tracks = chosen_tracks(result, patterns, where)
    if not split:
        for index, (_, clip) in enumerate(chosen_clips(result, tracks)):
            item = served[index]
            _relink(clip, item, media[item.key]["audio"], module)
        return result
    stack = result.tracks
    first_index = 0
    for label, track in tracks:
        position = list(stack).index(track)
        clips = len(track.find_clips())
        stem_tracks = []
        for stem in split:
            copy = track.deepcopy()
            copy.name = f"{track.name} {stem}"
            for offset, clip in enumerate(copy.find_clips()):
                item = served[first_index + offset]
                _relink(clip, item, media[item.key][stem], module)
            stem_tracks.append(copy)
        del stack[position]
        for offset, copy in enumerate(stem_tracks):
            stack.insert(position + offset, copy)
        first_index += clips
    return result


def _relink(clip, item: SourceRange, path: Path, module) -> None:
    """Point `clip` at `path`, which holds `item`; its source range stays as it was."""
    rate = item.rate
    unit = exact_rate(rate)
    available = module.opentime.TimeRange(
        module.opentime.RationalTime(float(item.start * unit), rate),
        module.opentime.RationalTime(float(item.num_frames * unit / item.sample_rate), rate))
    url = module.url_utils.url_from_filepath(str(path.absolute()))
    reference = module.schema.ExternalReference(target_url=url, available_range=available)
    reference.name = path.name
    clip.set_media_references({module.schema.Clip.DEFAULT_MEDIA_KEY: reference}, module.schema.Clip.DEFAULT_MEDIA_KEY)
    aaf = clip.metadata.get("AAF")
    if aaf is not None:
        aaf["MobID"] = medium_mob_id(path)
        comments = aaf.get("UserComments")  # a mapping; the adapter reads "UNC Path" before the locator
        if comments is not None and not isinstance(comments, str) and "UNC Path" in comments:
            comments["UNC Path"] = str(path.absolute())


def medium_mob_id(path: Path) -> str:
    """An AAF master mob ID for a new medium, the same for the same file name on every run."""
    digest = hashlib.sha256(path.name.encode()).hexdigest()
    return f"{AAF_UMID_PREFIX}.{digest[0:8]}.{digest[8:16]}.{digest[16:24]}.{digest[24:32]}"


def write_timelines(timeline, source: Path, out_dir: Path) -> WrittenTimeline:
    """Write `timeline` (relinked) as out_dir/<input stem>.otio and as out_dir/<input name> in the
    input's format, the latter read back and checked: every audio clip must point at the medium it
    was given. A format that cannot carry the new links is left out and the note says why."""
    module = otio()
    otio_path = out_dir / f"{source.stem}.otio"
    write_atomically(otio_path, lambda temp: module.adapters.write_to_file(timeline, temp, adapter_name="otio_json"))
    adapter = ADAPTERS[source.suffix.lower()]
    if adapter == "otio_json":
        return WrittenTimeline((otio_path,), "")
    target = out_dir / source.name
    logging.disable(logging.WARNING)  # pyaaf2 logs on the root logger
    try:
        write_atomically(target, lambda temp: _write_checked(module, timeline, temp, adapter))
    except _LinksLost as exc:
        target.unlink(missing_ok=True)  # an earlier run's would point at media this run rewrote
        return WrittenTimeline((otio_path,), f"{adapter} cannot carry the new media links ({exc}); "
                                             f"{otio_path.name} and the BWFs' timecode and names do")
    except Exception as exc:  # an adapter's refusal, whatever its kind: the OTIO file stands
        target.unlink(missing_ok=True)
        return WrittenTimeline((otio_path,), f"the {adapter} adapter cannot write this timeline "
                                             f"({type(exc).__name__}: {one_line(exc)}); {otio_path.name} carries it")
    finally:
        logging.disable(logging.NOTSET)
    return WrittenTimeline((target, otio_path), "")


def _in_clip_units(timeline):
    """A copy whose media ranges count in their clips' edit rate, the same instants: the AAF writer
    refuses a clip at 29.97 on a medium counted at 23.976, as Avid's own exports have them."""
    copy = timeline.deepcopy()
    for clip in copy.find_clips():
        reference = clip.media_reference
        available = reference.available_range if reference is not None else None
        rate = clip.trimmed_range().duration.rate
        if available is not None and available.duration.rate != rate:
            reference.available_range = type(available)(available.start_time.rescaled_to(rate),
                                                        available.duration.rescaled_to(rate))
    return copy


class _LinksLost(Exception):
    """The written timeline, read back, does not point at the new media."""


def media_names(timeline, module) -> list[str]:
    """The file name each audio clip plays, in track and clip order ("" for a clip without one)."""
    return [file_name(url_path(getattr(clip.media_reference, "target_url", None) or ""))
            for track in timeline.audio_tracks() for clip in track.find_clips()]


def _write_checked(module, timeline, temp: str, adapter: str) -> None:
    Path(temp).unlink()  # the otioz adapter will not write over a file, even the empty temporary one
    module.adapters.write_to_file(_in_clip_units(timeline) if adapter == "AAF" else timeline, temp,
                                  adapter_name=adapter)
    back = module.adapters.read_from_file(temp, adapter_name=adapter)
    if isinstance(back, module.schema.SerializableCollection):
        back = next(back.find_children(descended_from_type=module.schema.Timeline))
    written, read = media_names(timeline, module), media_names(back, module)
    if len(written) != len(read):
        raise _LinksLost(f"{len(read)} audio clips read back where {len(written)} were written")
    for wrote, got in zip(written, read):
        if wrote != got:
            raise _LinksLost(f"a clip given {wrote!r} reads back as {got or 'no media'!r}")
