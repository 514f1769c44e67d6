"""Media and timelines for the conform tests: sources synthesized at the names and lengths an
editor's export references, and small timelines built with OpenTimelineIO."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from tests.film_clips import RATE as FILM_RATE
from tests.film_clips import soundtrack, write_clip
from tuss_fx.media.bwf import Bext, write_with_chunks
from tuss_fx.timeline.media import file_name, url_path

RATE = 16000  # synthesized sources: low, so that a conform of minutes of edit stays seconds of CPU


def synthesize_media(timeline, folder: Path, rate: int = RATE) -> dict[str, Path]:
    """One file per media reference of the audio tracks, as long as its available range: films
    (.mov/.mp4) with a picture and one audio track, WAV files as float. name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for track in timeline.audio_tracks():
        for clip in track.find_clips():
            reference = clip.media_reference
            name = file_name(url_path(reference.target_url))
            if name in made:
                continue
            seconds = reference.available_range.duration.to_seconds()
            audio = soundtrack(seconds * rate / FILM_RATE, 1, seed=len(made))  # soundtrack() counts at FILM_RATE
            path = folder / name
            if path.suffix.lower() in (".mov", ".mp4"):
                write_clip(path, [audio], rate, "alac" if path.suffix.lower() == ".mp4" else "pcm_s24le", subtitle=None)
            else:
                sf.write(path, audio.T, rate, subtype="FLOAT")
            made[name] = path
    return made


def ramp_wav(path: Path, seconds: float, rate: int, time_reference: int | None = None) -> np.ndarray:
    """A mono float WAV whose every sample says where it is (index / length), so any offset shows;
    optionally a Broadcast WAV with that TimeReference. Returns the samples."""
    samples = (np.arange(round(seconds * rate)) / round(seconds * rate) * 0.5).astype(np.float32)
    plain = path if time_reference is None else path.with_suffix(".plain.wav")
    sf.write(plain, samples, rate, subtype="FLOAT")
    if time_reference is not None:
        write_with_chunks(plain, path, Bext(description="ramp", time_reference=time_reference), None)
        plain.unlink()
    return samples


def build_timeline(otio, rate: float, tracks: dict[str, list[tuple]], name: str = "built"):
    """A timeline of audio tracks: name -> clips as (clip name, media path or None, media start frame,
    media frames, source in frame, frames, gap frames before it), all at `rate`."""
    timeline = otio.schema.Timeline(name=name, global_start_time=otio.opentime.RationalTime(86400 * rate / 24, rate))
    for track_name, clips in tracks.items():
        track = otio.schema.Track(name=track_name, kind=otio.schema.TrackKind.Audio)
        for clip_name, path, media_start, media_frames, source_in, frames, gap in clips:
            if gap:
                track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(gap, rate)))
            available = otio.opentime.TimeRange(otio.opentime.RationalTime(media_start, rate),
                                                otio.opentime.RationalTime(media_frames, rate))
            reference = otio.schema.ExternalReference(target_url=otio.url_utils.url_from_filepath(str(path)),
                                                      available_range=available) if path else None
            clip = otio.schema.Clip(name=clip_name, media_reference=reference,
                                    source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(source_in, rate),
                                                                         otio.opentime.RationalTime(frames, rate)))
            clip.markers.append(otio.schema.Marker(name=f"{clip_name} sync",
                                                   marked_range=otio.opentime.TimeRange(
                                                       otio.opentime.RationalTime(source_in + 1, rate))))
            track.append(clip)
        timeline.tracks.append(track)
    return timeline
