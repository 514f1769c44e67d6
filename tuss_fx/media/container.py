"""Audio tracks of film containers (MOV, MP4, MKV, WebM, MXF) read through PyAV, block by block.

PyAV carries FFmpeg inside its wheel, so nothing comes from the system. Tracks are numbered from 1
in the order the container lists its audio streams (A1, A2 ... as an editor's timeline shows them).
Samples keep the track's channel count and FFmpeg's channel order (WAV order for 5.1 and 7.1).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tuss_fx.errors import AudioReadError

# the suffixes read through FFmpeg rather than libsndfile
CONTAINER_SUFFIXES = {".mov", ".mp4", ".m4a", ".m4v", ".mkv", ".webm", ".mxf"}
# codecs whose packets decode on their own, so a seek lands on exactly the samples a full decode gives
_INTRA_CODECS = ("pcm_", "alac", "flac")
# sample format -> full scale of its integers (None: already float); planar names end in "p"
_FULL_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63, "flt": None, "dbl": None}


def is_container(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CONTAINER_SUFFIXES


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a container, as decoded (FFmpeg's timeline)."""

    number: int  # 1-based among the container's audio streams
    sample_rate: int
    num_channels: int
    num_frames: int  # decoded samples per channel
    start_seconds: float  # timestamp of the first decoded sample
    pcm_bits: int | None = None  # 16 or 24 for a 16/24-bit PCM track; None otherwise
    layout: tuple[str, ...] = ()  # FFmpeg's speaker label of each channel (FL, FR, FC, LFE, ...)


def codec_name(stream) -> str:
    """The stream's codec as FFmpeg names it; "unknown codec" where FFmpeg could not tell."""
    return stream.codec_context.name if stream.codec_context is not None else "unknown codec"


def probe_track(path: Path, number: int) -> AudioTrack:
    """Open audio track `number` (1-based) and decode it once to count its samples exactly
    (compressed tracks carry no exact length; decoding audio is fast next to separating it).

    Raises:
        AudioReadError: not a container FFmpeg can open, no audio, no such track, undecodable data.
    """
    with _opened_track(path, number) as (container, stream):
        num_frames, start = 0, None
        for frame in _decode(container, stream, path):
            if start is None and frame.pts is not None:
                start = float(frame.pts * frame.time_base)
            num_frames += frame.samples
        bits = {"pcm_s16le": 16, "pcm_s16be": 16, "pcm_s24le": 24, "pcm_s24be": 24}.get(codec_name(stream))
        layout = tuple(channel.name for channel in stream.layout.channels)
        return AudioTrack(number, stream.rate, stream.channels, num_frames, start or 0.0, bits, layout)


def read_track_blocks(path: Path, number: int, block_frames: int, first_frame: int = 0) -> Iterator[np.ndarray]:
    """Yield (C, n) float32 blocks of about block_frames samples from sample `first_frame` on (codec
    frames are small, and the stream engine copies its buffer per pushed block).

    Tracks whose packets decode on their own (PCM, ALAC, FLAC) seek to first_frame and place each
    decoded frame by its timestamp; others, and any seek that does not land before first_frame,
    decode from the start (a lossy frame needs the one before it to decode exactly as in one pass).
    """
    with _opened_track(path, number) as (container, stream):
        frames = _frames_from(container, stream, path, first_frame)
        pending: list[np.ndarray] = []
        held = 0
        for block in frames:
            pending.append(block)
            held += block.shape[1]
            if held >= block_frames:
                yield np.concatenate(pending, axis=1)
                pending, held = [], 0
        if pending:
            yield np.concatenate(pending, axis=1)


def _frames_from(container, stream, path: Path, first_frame: int) -> Iterator[np.ndarray]:
    """Decoded frames as (C, n) float32 from sample first_frame on (the first one cut to start there)."""
    decoded = _decode(container, stream, path)
    first = next(decoded)
    origin = first.pts * first.time_base if first.pts is not None else None
    if first_frame > first.samples and origin is not None and codec_name(stream).startswith(_INTRA_CODECS):
        target = origin + Fraction(first_frame, stream.rate)
        container.seek(int(target / stream.time_base), stream=stream, backward=True)
        decoded = _decode(container, stream, path)
        first = next(decoded)
        position = round((first.pts * first.time_base - origin) * stream.rate) if first.pts is not None else None
        if position is None or position > first_frame:  # landed past it: decode from the start instead
            container.seek(0, stream=stream, backward=True)
            decoded = _decode(container, stream, path)
            first, position = next(decoded), 0
    else:
        position = 0
    for frame in itertools.chain((first,), decoded):
        block = frame_to_float(frame)
        low = first_frame - position
        position += block.shape[1]
        if position > first_frame:
            yield block[:, max(low, 0):]


def frame_to_float(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as (C, n) float32 in [-1, 1): integers divided by their full scale."""
    name = frame.format.name
    planar = name.endswith("p")
    array = frame.to_ndarray()
    if not planar:  # packed: one row of interleaved samples
        array = array.reshape(frame.samples, -1).T
    scale = _FULL_SCALE[name.rstrip("p")]
    if name.startswith("u8"):
        return ((array.astype(np.float32) - 128.0) / scale).astype(np.float32)
    if scale is None:
        return np.ascontiguousarray(array, dtype=np.float32)
    return (array / scale).astype(np.float32)


def float_to_frame(block: np.ndarray, sample_format: str, bits: int, layout: av.AudioLayout, sample_rate: int,
                   pts: int) -> av.AudioFrame:
    """(C, n) float32 -> an AudioFrame in `sample_format` holding `bits`-bit integers (24-bit audio
    travels in the top bits of s32), rounded to nearest and clipped (the remix limiter already holds
    peaks under its ceiling; clipping only guards the last step). Float formats pass through."""
    scale = _FULL_SCALE[sample_format.rstrip("p")]
    if scale is not None:
        dtype = {"s16": np.int16, "s32": np.int32}[sample_format.rstrip("p")]
        top = 2.0 ** (bits - 1)
        steps = np.clip(np.round(block.astype(np.float64) * top), -top, top - 1)
        block = (steps * (scale / top)).astype(dtype)
    if not sample_format.endswith("p"):
        block = np.ascontiguousarray(block.T).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=sample_format, layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame


@contextmanager
def _opened_track(path: Path, number: int) -> Iterator[tuple[av.container.InputContainer,
                                                             av.audio.stream.AudioStream]]:
    """The open container and its audio track `number`, closed on leaving."""
    container = _open(path)
    try:
        yield container, _pick(container, path, number)
    finally:
        container.close()


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise AudioReadError(path, f"FFmpeg cannot open it ({ffmpeg_reason(exc)})") from None


def _pick(container: av.container.InputContainer, path: Path, number: int) -> av.audio.stream.AudioStream:
    streams = list(container.streams.audio)
    if not streams:
        kinds = ", ".join(f"{s.type} {codec_name(s)}" for s in container.streams) or "no streams at all"
        raise AudioReadError(path, f"has no audio track ({kinds})")
    if not 1 <= number <= len(streams):
        raise AudioReadError(path, f"has no audio track {number}: it has {len(streams)} "
                             f"(numbered from 1: {', '.join(_short(s, i + 1) for i, s in enumerate(streams))})")
    stream = streams[number - 1]
    if stream.codec_context is None or stream.codec_context.codec is None or not stream.rate or not stream.channels:
        raise AudioReadError(path, f"audio track {number} ({codec_name(stream)}) cannot be decoded by FFmpeg")
    return stream


def _decode(container, stream, path: Path) -> Iterator[av.AudioFrame]:
    decoded = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                decoded += frame.samples
                yield frame
    except av.FFmpegError as exc:
        raise AudioReadError(path, f"FFmpeg cannot decode audio after {decoded} samples "
                             f"({ffmpeg_reason(exc)})") from None
    if decoded == 0:
        raise AudioReadError(path, "its audio track holds no samples")


def _short(stream, number: int) -> str:
    return f"{number} = {codec_name(stream)} {stream.layout.name}"


def ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's own words for an error, without PyAV's call details."""
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]
