"""A copy of a film container with one audio track replaced: every other stream copied packet for
packet (never re-encoded), the new audio encoded losslessly where the container allows it.

The new track starts at the timestamp of the original track's first decoded sample and holds
exactly as many samples as were decoded from it. Packets are written in the source's order with the
new audio interleaved just ahead of them, so memory stays flat whatever the film's length.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tuss_fx.errors import AudioReadError, AudioWriteError
from tuss_fx.media.audio_io import AudioInfo, make_parents, read_blocks, remove_if_empty, temp_beside
from tuss_fx.media.container import codec_name, ffmpeg_reason, float_to_frame

# the FFmpeg muxer each output suffix asks for
MUXERS = {".mov": "mov", ".mp4": "mp4", ".m4v": "mp4", ".m4a": "ipod", ".mkv": "matroska", ".webm": "webm",
          ".mxf": "mxf"}
CODEC_CHOICES = ("auto", "pcm", "flac", "alac", "aac", "opus")
# lossy fallbacks: 256 kb/s for stereo as the delivery floor, 64 kb/s per channel above it
LOSSY_BITS_PER_SECOND_PER_CHANNEL = 64_000
LOSSY_MIN_BITS_PER_SECOND = 256_000
# the tag FFmpeg gives a film's start timecode (a QuickTime/MP4 tmcd track, a picture, an MXF file);
# the MOV, MP4 and MXF muxers write a timecode track of their own from it
TIMECODE_TAG = "timecode"
# how far the new audio runs ahead of the copied packets (seconds), so the muxer's interleaving
# queue holds a second of packets, not the film
AUDIO_LEAD_SECONDS = 1.0


@dataclass(frozen=True)
class AudioEncoding:
    """How the replacement track is written."""

    codec: str  # FFmpeg encoder name
    sample_format: str  # the frames it takes
    bits: int  # integer depth of the samples (24-bit rides in s32); 32 for float formats
    bit_rate: int | None  # None: lossless

    def describe(self) -> str:
        if self.bit_rate is None:
            depth = "float" if self.sample_format.startswith("flt") else f"{self.bits}-bit"
            return f"{self.codec} ({depth}, lossless)"
        return f"{self.codec} {self.bit_rate // 1000} kb/s (lossy)"


def muxer_for(path: Path) -> str | None:
    """The FFmpeg muxer for a film container's suffix; None for plain audio files."""
    return MUXERS.get(path.suffix.lower())


def choose_encoding(target: Path, original: av.audio.stream.AudioStream, requested: str = "auto") -> AudioEncoding:
    """The codec for the new track: `requested`, or by the container (auto).

    auto: PCM in MOV, MKV and MXF (the original's PCM codec when it was PCM, else 24-bit; MXF
    takes 16 or 24-bit only); ALAC in MP4/M4A/M4V (FLAC kept where the original was FLAC), which
    Apple players, VLC and NLEs play; Opus in WebM, whose codecs are all lossy.
    """
    muxer = muxer_for(target)
    depth = _original_depth(original)
    original_codec = original.codec_context.name
    if requested == "auto":
        requested = {"mov": "pcm", "matroska": "pcm", "mxf": "pcm", "webm": "opus"}.get(muxer, "alac")
        if muxer in ("mp4", "ipod") and original_codec == "flac":
            requested = "flac"
    if requested == "pcm":
        keep = original_codec.startswith("pcm_") and (muxer != "mxf" or original_codec in ("pcm_s16le", "pcm_s24le"))
        codec = original_codec if keep else f"pcm_s{depth}le"
        sample_format = av.codec.Codec(codec, "w").audio_formats[0].name
        bits = {"s16": 16, "s32": 24 if "24" in codec else 32}.get(sample_format, 32)
        return AudioEncoding(codec, sample_format, bits, None)
    if requested in ("flac", "alac"):
        planar = "p" if requested == "alac" else ""
        return AudioEncoding(requested, f"s{16 if depth == 16 else 32}{planar}", depth, None)
    if requested in ("aac", "opus"):
        rate = max(LOSSY_MIN_BITS_PER_SECOND, LOSSY_BITS_PER_SECOND_PER_CHANNEL * original.channels)
        return AudioEncoding(requested, "fltp" if requested == "aac" else "flt", 32, rate)
    raise ValueError(f"audio codec must be one of {', '.join(CODEC_CHOICES)}, got {requested!r}")


def _original_depth(stream: av.audio.stream.AudioStream) -> int:
    """16 where the original track was 16-bit (or less), else 24."""
    name = stream.codec_context.name
    if name.startswith(("pcm_s16", "pcm_u8", "pcm_s8")):
        return 16
    if name in ("alac", "flac") and stream.format.name.startswith("s16"):
        return 16
    return 24


class StreamDroppedWarning(UserWarning):
    """A stream of the source film that the output container cannot hold was left out of the copy."""


# ISO 639-2 has two codes for twenty languages, terminological (deu) and bibliographic (ger); QuickTime's
# language table (FFmpeg's MOV muxer) knows the bibliographic ones and silently drops the others
BIBLIOGRAPHIC_CODES = {"sqi": "alb", "hye": "arm", "eus": "baq", "mya": "bur", "zho": "chi", "ces": "cze",
                       "nld": "dut", "fra": "fre", "kat": "geo", "deu": "ger", "ell": "gre", "isl": "ice",
                       "mkd": "mac", "mri": "mao", "msa": "may", "fas": "per", "ron": "rum", "slk": "slo",
                       "bod": "tib", "cym": "wel"}


@dataclass(frozen=True)
class AddedTrack:
    """The new audio as a further track (a dub's language version) rather than in the original's place:
    its ISO 639-2 language code ("deu") and title, as players list them."""

    language: str
    title: str | None = None


@dataclass(frozen=True)
class RemuxPlan:
    """What replace_audio_track will write, checked before the (long) separation runs."""

    source: Path
    track: int
    target: Path
    encoding: AudioEncoding
    drop_other_audio: bool
    dropped: tuple[int, ...] = ()  # source streams (data tracks) the target's muxer refuses
    added: AddedTrack | None = None  # the new audio after every source stream, the original kept


def source_timecode(container) -> str | None:
    """The film's start timecode (HH:MM:SS:FF): its timecode track's, else a picture's, else the file's."""
    for stream in [*(s for s in container.streams if s.type == "data"), *container.streams.video]:
        if TIMECODE_TAG in stream.metadata:
            return stream.metadata[TIMECODE_TAG]
    return container.metadata.get(TIMECODE_TAG)


def film_timecode(path: Path) -> tuple[str, Fraction] | None:
    """(start timecode, picture rate) of a film with both, else None (unreadable films too)."""
    try:
        with av.open(str(path)) as container:
            timecode = source_timecode(container)
            video = next(iter(container.streams.video), None)
            rate = video.average_rate or video.guessed_rate if video is not None else None
            return (timecode, Fraction(rate)) if timecode and rate else None
    except (av.FFmpegError, OSError):
        return None


def _is_timecode_track(stream) -> bool:
    """A QuickTime/MP4 tmcd track: the muxer re-creates it from the timecode tag, not from packets."""
    return stream.type == "data" and (TIMECODE_TAG in stream.metadata
                                      or stream.metadata.get("handler_name") == "TimeCodeHandler")


def plan_remux(source: AudioInfo, target: Path, requested_codec: str = "auto",
               drop_other_audio: bool = False, added: AddedTrack | None = None) -> RemuxPlan:
    """Choose the encoding and prove the muxer takes every stream, by writing the header to memory.
    `added`: keep the source's audio and add the new audio as a further track with these tags.

    Raises:
        AudioWriteError: the target is no film container, the source is no container, or the
            container cannot hold a stream (named) or the chosen codec.
    """
    if muxer_for(target) is None:
        raise AudioWriteError(target, f"is not a film container ({', '.join(sorted(MUXERS))})")
    if source.audio_track is None:
        raise AudioWriteError(target, f"{source.path} is an audio file with no picture to copy; "
                              "write the remix as .wav or .flac")
    with av.open(str(source.path), metadata_errors="ignore") as container:
        original = container.streams.audio[source.audio_track - 1]
        if added and drop_other_audio:
            raise AudioWriteError(target, "an added track keeps the film's audio; it cannot also drop it")
        plan = RemuxPlan(source.path, source.audio_track, target, choose_encoding(target, original, requested_codec),
                         drop_other_audio, added=added)
        _check_rate_fits(plan, original.rate)
        plan = replace(plan, dropped=_refused_data_tracks(container, original, plan))
        _check_header(container, original, plan)
    return plan


def _refused_data_tracks(container, original, plan: RemuxPlan) -> tuple[int, ...]:
    """Data tracks (other than timecode and chapters) the muxer will not take, each tried alone; a
    warning per track. A film should still remix when its container cannot carry, say, a camera's
    metadata track in another container: picture, sound, subtitles and timecode are the delivery."""
    refused = []
    others = [s.index for s in container.streams if s.type == "data" and not _is_timecode_track(s)
              and not _is_chapter_track(s, container)]
    for index in others:
        reason = _header_error(container, original, replace(plan, dropped=tuple(i for i in others if i != index)))
        if reason:
            warnings.warn(StreamDroppedWarning(f"{plan.target}: stream {index} (data, {codec_name(container.streams[index])}) "
                                               f"left out: the {muxer_for(plan.target)} muxer cannot hold it ({reason})"),
                          stacklevel=2)
            refused.append(index)
    return tuple(refused)


def _is_chapter_track(stream, container) -> bool:
    """QuickTime's chapter text track: a data stream of no codec FFmpeg knows, in a file with chapters;
    the chapters themselves are copied, and the muxer writes its own chapter track from them."""
    return stream.type == "data" and stream.codec_context is None and bool(container.chapters())


def _header_error(container, original, plan: RemuxPlan) -> str | None:
    """Set the output up in memory and write its header (the muxer checks codecs and streams there);
    FFmpeg's reason if it refuses, else None."""
    scratch = av.open(io.BytesIO(), "w", format=muxer_for(plan.target))
    try:
        _add_streams(scratch, container, original, plan)
        scratch.start_encoding()
    except av.FFmpegError as exc:
        return ffmpeg_reason(exc)
    finally:
        try:
            scratch.close()
        except av.FFmpegError:
            pass  # finishing a header-only scratch file may fail (MXF); it is thrown away either way
    return None


def _check_header(container, original, plan: RemuxPlan) -> None:
    reason = _header_error(container, original, plan)
    if reason:
        raise AudioWriteError(plan.target, f"the {muxer_for(plan.target)} muxer refuses {plan.encoding.codec} audio "
                              f"or a copied stream ({reason}); pick another --audio-codec")


def _check_rate_fits(plan: RemuxPlan, sample_rate: int) -> None:
    rates = av.codec.Codec(plan.encoding.codec, "w").audio_rates
    if rates and sample_rate not in rates:
        raise AudioWriteError(plan.target, f"{plan.encoding.codec} cannot carry {sample_rate} Hz audio "
                              f"(it takes {', '.join(map(str, rates))} Hz); write .mkv or .mov instead")
    if muxer_for(plan.target) == "mxf" and sample_rate != 48000:
        raise AudioWriteError(plan.target, f"MXF holds 48 kHz audio only, this track is {sample_rate} Hz")


def replace_audio_track(plan: RemuxPlan, new_audio: AudioInfo,
                        progress: Callable[[float], None] | None = None) -> Path:
    """Write plan.target: plan.source with audio track plan.track replaced by `new_audio` (an audio
    file of the same rate and channels). Atomic: a temporary file is renamed into place.
    progress(fraction) follows the copy through the source's timeline.

    Raises:
        AudioWriteError: FFmpeg fails to write (the temporary file is removed).
        AudioReadError: the source cannot be read again.
    """
    created = make_parents(plan.target)
    tmp = temp_beside(plan.target)
    try:
        with av.open(str(plan.source), metadata_errors="ignore") as container:
            original = container.streams.audio[plan.track - 1]
            with av.open(str(tmp), "w", format=muxer_for(plan.target)) as output:
                copies, audio = _add_streams(output, container, original, plan)
                _write_packets(container, output, copies, _AudioFeed(audio, plan.encoding, new_audio), progress)
        tmp.replace(plan.target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        remove_if_empty(created)
        if isinstance(exc, av.FFmpegError):
            raise AudioWriteError(plan.target, f"FFmpeg failed to write it ({ffmpeg_reason(exc)})") from None
        raise
    return plan.target


def _add_streams(output, container, original, plan: RemuxPlan):
    """Output streams in the source's order: {source index: copy} and the new audio stream. The
    start timecode goes on the file and its pictures, where the muxer makes its timecode track of
    it; chapters are copied."""
    output.metadata.update(container.metadata)
    copies, audio = {}, None
    for stream in container.streams:
        if stream.index == original.index and plan.added is None:
            audio = _add_audio(output, original, plan)
        elif (stream.type == "audio" and plan.drop_other_audio) or stream.index in plan.dropped \
                or _is_timecode_track(stream) or _is_chapter_track(stream, container):
            continue
        else:
            try:
                copies[stream.index] = output.add_stream_from_template(stream)
            except (ValueError, av.FFmpegError) as exc:
                raise AudioWriteError(plan.target, f"cannot copy stream {stream.index} ({stream.type} "
                                      f"{codec_name(stream)}) into {muxer_for(plan.target)}: {exc}") from None
            copies[stream.index].metadata.update(stream.metadata)
            copies[stream.index].disposition = stream.disposition
            if stream.type == "video" and (stream.average_rate or stream.guessed_rate):
                # the muxer's timecode track runs at the picture rate it reads here; without it MOV and
                # MP4 take 1 / time base (30000 for 29.97) and refuse every rate but 24, 25 and 30
                copies[stream.index].codec_context.framerate = stream.average_rate or stream.guessed_rate
    if plan.added:  # after every copied stream: the film's own tracks keep their numbers
        audio = _add_audio(output, original, plan)
    timecode = source_timecode(container)
    if timecode:
        output.metadata[TIMECODE_TAG] = timecode
        for index, copy in copies.items():
            if container.streams[index].type == "video":
                copy.metadata[TIMECODE_TAG] = timecode
    if container.chapters():
        output.set_chapters(container.chapters())
    return copies, audio


def _add_audio(output, original, plan: RemuxPlan):
    encoding = plan.encoding
    try:
        stream = output.add_stream(encoding.codec, rate=original.rate, layout=original.layout)
    except ValueError as exc:  # the muxer has no tag for the codec
        raise AudioWriteError(plan.target, f"{exc}; pick another --audio-codec") from None
    stream.format = encoding.sample_format
    stream.time_base = Fraction(1, original.rate)
    if encoding.bit_rate:
        stream.bit_rate = encoding.bit_rate
    # the original's tags (language, title, handler) describe the new track too; durations do not
    stream.metadata.update({k: v for k, v in original.metadata.items()
                            if k.lower() not in ("duration", "encoder", "number_of_frames", "number_of_bytes")})
    stream.disposition = original.disposition
    if plan.added:  # another version of the programme: its own language and title, not the default track
        language = plan.added.language
        stream.metadata["language"] = BIBLIOGRAPHIC_CODES.get(language, language) \
            if muxer_for(plan.target) == "mov" else language
        if plan.added.title:
            stream.metadata["title"] = plan.added.title
        elif "title" in stream.metadata:
            del stream.metadata["title"]
        stream.disposition = 0
    return stream


class _AudioFeed:
    """Encodes the new audio on demand, up to a given time on the source's timeline."""

    def __init__(self, stream, encoding: AudioEncoding, audio: AudioInfo) -> None:
        self._stream, self._encoding, self._rate = stream, encoding, audio.sample_rate
        self._blocks: Iterator[np.ndarray] = read_blocks(audio)
        self._next_pts = round(audio.start_seconds * audio.sample_rate)
        self._layout = stream.layout
        self._flushed = False

    def packets_until(self, seconds: float | None) -> Iterator[av.Packet]:
        """Packets of the new audio up to `seconds` (None: all of it, then the encoder's tail)."""
        while seconds is None or self._next_pts / self._rate < seconds:
            block = next(self._blocks, None)
            if block is None:
                if not self._flushed:
                    self._flushed = True
                    yield from self._stream.encode(None)  # the encoder's last packets
                return
            frame = float_to_frame(block, self._encoding.sample_format, self._encoding.bits, self._layout,
                                   self._rate, self._next_pts)
            self._next_pts += block.shape[1]
            yield from self._stream.encode(frame)


def _write_packets(container, output, copies: dict, audio: _AudioFeed,
                   progress: Callable[[float], None] | None) -> None:
    sources = [stream for stream in container.streams if stream.index in copies]
    duration = (container.duration or 0) / av.time_base
    try:
        for packet in container.demux(sources) if sources else ():  # demux() of no streams reads all
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            seconds = float(packet.dts * packet.time_base)
            output.mux(list(audio.packets_until(seconds + AUDIO_LEAD_SECONDS)))
            if progress and duration > 0:
                progress(min(1.0, max(0.0, seconds / duration)))
            packet.stream = copies[packet.stream.index]
            output.mux(packet)
    except av.error.InvalidDataError as exc:
        raise AudioReadError(container.name, f"FFmpeg cannot read it again ({ffmpeg_reason(exc)})") from None
    output.mux(list(audio.packets_until(None)))
    if progress:
        progress(1.0)
