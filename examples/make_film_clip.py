"""Make a short film-like clip: a generated picture (colour fields with a moving bar), a subtitle cue
and a soundtrack of real speech under real music (the recordings that ship in tuss_fx/recordings), in MOV, MP4, MKV or MXF.

    python examples/make_film_clip.py clip.mov [--seconds 8] [--timecode 01:00:00:00]

With --timecode the clip carries a start timecode as editing systems export it: a QuickTime/MP4
timecode track (tmcd), or the MXF file's timecode. A .wav output is the soundtrack alone as a
24-bit Broadcast WAV (bext written by FFmpeg), its TimeReference at --timecode.

The tests build their clips with `write_clip`, so what the manual shows is what they check.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
FRAME_RATE = 25
# MXF's muxer takes broadcast pictures only (MPEG-2 at PAL size here); the others take anything small
PICTURES = {"mxf": ("mpeg2video", 720, 576)}
SMALL_PICTURE = ("mpeg4", 160, 90)
# the subtitle stream each container takes, with the header its encoder needs
SUBTITLE_CODECS = {"mov": "mov_text", "mp4": "mov_text", "matroska": "ass"}
ASS_HEADER = b"[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n"
MUXERS = {".mov": "mov", ".mp4": "mp4", ".mkv": "matroska", ".mxf": "mxf"}


def write_clip(path: Path, soundtracks: list[np.ndarray], sample_rate: int, audio_codec: str = "pcm_s24le",
               audio_start_seconds: float = 0.0, subtitle: str | None = "Where is everybody?",
               timecode: str | None = None, chapters: list[tuple[float, float, str]] = (),
               frame_rate: Fraction | int = FRAME_RATE) -> None:
    """Write `path` with a picture as long as the first soundtrack, one audio track per (C, L)
    float soundtrack (all in `audio_codec`, the first starting at audio_start_seconds) and a
    subtitle cue at 0.5-1.5 s (MXF holds no subtitles); optionally a start timecode (HH:MM:SS:FF, or
    HH:MM:SS;FF drop-frame at 29.97 and 59.94) and chapters as (start s, end s, title); pictures at
    frame_rate (e.g. Fraction(24000, 1001) for 23.976)."""
    muxer = MUXERS[path.suffix.lower()]
    seconds = soundtracks[0].shape[1] / sample_rate
    codec, width, height = PICTURES.get(muxer, SMALL_PICTURE)
    with av.open(str(path), "w", format=muxer) as output:
        video = output.add_stream(codec, rate=Fraction(frame_rate))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if timecode:  # the muxers write their timecode track (or MXF timecode) from this tag
            output.metadata["timecode"] = video.metadata["timecode"] = timecode
        if chapters:
            output.set_chapters([{"id": number + 1, "start": round(start * 1000), "end": round(end * 1000),
                                  "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                                 for number, (start, end, title) in enumerate(chapters)])
        audio = [output.add_stream(audio_codec, rate=sample_rate, layout=_layout(track.shape[0]))
                 for track in soundtracks]
        for stream in audio:
            stream.time_base = Fraction(1, sample_rate)  # before the header: the muxer may pick its own
        if subtitle and muxer in SUBTITLE_CODECS:
            _write_subtitle(output, muxer, subtitle)
        for index in range(round(seconds * Fraction(frame_rate))):
            frame = av.VideoFrame.from_ndarray(_picture(index, width, height), format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        for number, (stream, track) in enumerate(zip(audio, soundtracks)):
            _write_audio(output, stream, track, sample_rate, audio_start_seconds if number == 0 else 0.0)


def _layout(num_channels: int) -> str:
    return {1: "mono", 2: "stereo", 6: "5.1"}.get(num_channels, f"{num_channels}c")


def _picture(index: int, width: int, height: int) -> np.ndarray:
    """Colour fields that change every frame, and a bar moving across them."""
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = ((index * 7) % 256, (index * 13 + 80) % 256, (index * 3 + 160) % 256)
    bar = (index * 4) % width
    picture[:, bar : bar + 8] = 255
    return picture


def _write_subtitle(output, muxer: str, text: str) -> None:
    stream = output.add_stream(SUBTITLE_CODECS[muxer])
    stream.codec_context.subtitle_header = ASS_HEADER
    stream.time_base = Fraction(1, 1000)
    payload = text.encode() if muxer == "matroska" else len(text).to_bytes(2, "big") + text.encode()
    packet = av.Packet(payload)
    packet.stream, packet.pts, packet.dts, packet.duration = stream, 500, 500, 1000
    output.mux(packet)


def _write_audio(output, stream, track: np.ndarray, sample_rate: int, start_seconds: float) -> None:
    from tuss_fx.media.container import float_to_frame

    sample_format = stream.codec_context.format.name
    bits = 24 if stream.codec_context.name in ("pcm_s24le", "alac") else 16 if "16" in sample_format else 32
    start = round(start_seconds * sample_rate)
    for offset in range(0, track.shape[1], 4096):
        frame = float_to_frame(track[:, offset : offset + 4096], sample_format, bits, stream.layout, sample_rate,
                               start + offset)
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def film_soundtrack(seconds: float, sample_rate: int = 48000) -> np.ndarray:
    """(2, L) real speech (LibriSpeech) 6 dB over real music (Kevin MacLeod), shipped with tuss-fx."""
    from tuss_fx.media.audio_io import read_audio
    from tuss_fx.media.resample import resample

    length = round(seconds * sample_rate)
    tracks = []
    for name, gain in (("librispeech-198-209-0000.ogg", 1.0), ("kevin-macleod-sugar-plum-fairy.ogg", 0.5)):
        audio, rate = read_audio(MEDIA / name)
        audio = resample(audio, rate, sample_rate)
        audio = np.broadcast_to(audio, (2, audio.shape[1])) if audio.shape[0] == 1 else audio[:2]
        tracks.append(gain * np.pad(audio, ((0, 0), (0, max(0, length - audio.shape[1]))))[:, :length])
    mix = tracks[0] + tracks[1]
    return (0.5 * mix / np.abs(mix).max()).astype(np.float32)


def write_broadcast_wav(path: Path, soundtrack: np.ndarray, sample_rate: int, timecode: str) -> None:
    """A 24-bit Broadcast WAV as a DAW delivers one: bext with description, originator and a
    TimeReference at `timecode` (HH:MM:SS:FF at FRAME_RATE), written by FFmpeg's WAV muxer."""
    hours, minutes, seconds, frames = (int(part) for part in timecode.split(":"))
    samples = round((hours * 3600 + minutes * 60 + seconds + frames / FRAME_RATE) * sample_rate)
    levels = np.round(np.clip(soundtrack, -1, 1 - 2**-23) * 2**23).astype(np.int32) << 8
    with av.open(str(path), "w", format="wav", options={"write_bext": "1"}) as output:
        output.metadata.update({"description": f"{path.stem} dialogue premix", "originator": "make_film_clip",
                                "time_reference": str(samples),
                                "coding_history": f"A=PCM,F={sample_rate},W=24,M=stereo,T=make_film_clip"})
        stream = output.add_stream("pcm_s24le", rate=sample_rate, layout=_layout(soundtrack.shape[0]))
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(levels.T).reshape(1, -1), format="s32",
                                           layout=stream.layout)
        frame.sample_rate, frame.pts = sample_rate, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="clip to write (.mov, .mp4, .mkv or .mxf; .wav for a Broadcast WAV)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--timecode", default=None, help="start timecode HH:MM:SS:FF, e.g. 01:00:00:00 (HH:MM:SS;FF "
                                                         "for drop-frame)")
    parser.add_argument("--frame-rate", default=str(FRAME_RATE), help="picture rate: 24, 25, 30000/1001 (29.97), "
                                                                      "24000/1001 (23.976), ...")
    args = parser.parse_args()
    if args.output.suffix.lower() == ".wav":
        write_broadcast_wav(args.output, film_soundtrack(args.seconds), 48000, args.timecode or "00:00:00:00")
    else:
        codec = "alac" if args.output.suffix.lower() == ".mp4" else "pcm_s24le"
        write_clip(args.output, [film_soundtrack(args.seconds)], 48000, codec, timecode=args.timecode,
                   frame_rate=Fraction(args.frame_rate))
    print(args.output)


if __name__ == "__main__":
    main()
