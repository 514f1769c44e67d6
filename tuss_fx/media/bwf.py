"""Broadcast WAV (EBU Tech 3285 v2): read the `bext` and `iXML` chunks of an input, write them into
an output with its own origination, coding history and loudness fields.

A small RIFF reader/writer rather than a library: the maintained packages either only read
(wavinfo) or rewrite the audio themselves, and our audio is written by libsndfile already. Writing
copies the finished file once, putting `bext` and `iXML` before `data` where every DAW looks.
Tested against FFmpeg's BWF reader and writer (tests/test_bwf.py).
"""

from __future__ import annotations

import datetime
import os
import struct
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from tuss_fx.media.temp_files import temp_beside

BEXT_FIXED_BYTES = 602  # everything before CodingHistory
BEXT_VERSION = 2  # v2 adds the loudness fields
UNSET_LOUDNESS = 0x7FFF  # Tech 3285 v2: a loudness field not measured
_BEXT_LAYOUT = struct.Struct("<256s32s32s10s8sIIH64shhhhh180s")
COPY_BYTES = 1 << 22


class MalformedChunkWarning(UserWarning):
    """A bext or iXML chunk that could not be read; the audio goes through without it."""


@dataclass(frozen=True)
class Bext:
    """The fields of a bext chunk; loudness in LUFS / LU / dBTP (None: not measured)."""

    description: str = ""
    originator: str = ""
    originator_reference: str = ""
    origination_date: str = ""  # yyyy-mm-dd
    origination_time: str = ""  # hh:mm:ss
    time_reference: int = 0  # samples since midnight of the first sample
    version: int = BEXT_VERSION
    umid: bytes = b""
    loudness_value: float | None = None
    loudness_range: float | None = None
    max_true_peak_level: float | None = None
    max_momentary_loudness: float | None = None
    max_short_term_loudness: float | None = None
    coding_history: str = ""

    def pack(self) -> bytes:
        """The chunk's payload (without the RIFF chunk header)."""
        low, high = self.time_reference & 0xFFFFFFFF, self.time_reference >> 32
        loudness = [_centi(v) for v in (self.loudness_value, self.loudness_range, self.max_true_peak_level,
                                       self.max_momentary_loudness, self.max_short_term_loudness)]
        fixed = _BEXT_LAYOUT.pack(_ascii(self.description, 256), _ascii(self.originator, 32),
                                  _ascii(self.originator_reference, 32), _ascii(self.origination_date, 10),
                                  _ascii(self.origination_time, 8), low, high, self.version,
                                  self.umid[:64].ljust(64, b"\0"), *loudness, bytes(180))
        return fixed + self.coding_history.encode("ascii", "replace")

    @classmethod
    def unpack(cls, payload: bytes) -> "Bext":
        """Raises ValueError for a payload shorter than the fixed part."""
        if len(payload) < BEXT_FIXED_BYTES:
            raise ValueError(f"bext chunk of {len(payload)} bytes, shorter than its {BEXT_FIXED_BYTES} fixed bytes")
        (description, originator, reference, date, time, low, high, version, umid,
         *loudness, _reserved) = _BEXT_LAYOUT.unpack(payload[:BEXT_FIXED_BYTES])
        values = [None if version < 2 else _uncenti(v) for v in loudness]
        return cls(_text(description), _text(originator), _text(reference), _text(date), _text(time),
                   low | (high << 32), version, umid.rstrip(b"\0"), *values,
                   coding_history=_text(payload[BEXT_FIXED_BYTES:]))


@dataclass(frozen=True)
class BroadcastChunks:
    """What a WAV input carries for a Broadcast WAV output: its bext and raw iXML (either may be None)."""

    bext: Bext | None = None
    ixml: bytes | None = None

    @property
    def present(self) -> bool:
        return self.bext is not None or self.ixml is not None


@dataclass(frozen=True)
class BroadcastOutput:
    """How the WAV outputs of one job become Broadcast WAVs: the input's chunks, its rate, and what
    tuss-fx did (the T= text of the coding history line each output adds)."""

    chunks: BroadcastChunks
    source_rate: int
    process: str  # e.g. "tuss-fx 0.1.0 remix dialogue-boost (speech: deepfilternet)"

    def write(self, wav: Path, loudness: dict, sample_rate: int, subtype: str, num_channels: int,
              target: Path | None = None) -> None:
        """Rewrite the finished `wav` (the temporary file of `target`) in place with its bext (and
        iXML), measured `loudness` in it."""
        bits = {"PCM_16": 16, "PCM_24": 24}.get(subtype, 32)
        mode = {1: "mono", 2: "stereo"}.get(num_channels, f"{num_channels}-channel")
        line = f"A=PCM,F={sample_rate},W={bits},M={mode},T={self.process}"
        bext = output_bext(self.chunks.bext, self.source_rate, sample_rate, line, loudness)
        staged = temp_beside(wav)
        try:
            write_with_chunks(wav, staged, bext, self.chunks.ixml)
            staged.replace(wav)
        except NotRiffWave:  # an RF64 file past 4 GB: its ds64 layout is not ours to rewrite
            warnings.warn(MalformedChunkWarning(f"{target or wav}: not a RIFF WAVE file (RF64?); written "
                                                "without bext and iXML"), stacklevel=2)
        finally:
            staged.unlink(missing_ok=True)


def broadcast_output(info, process: str) -> BroadcastOutput | None:
    """The Broadcast WAV plan for the WAV outputs of an input (an AudioInfo): None unless the input is
    a WAV file carrying bext or iXML. `process` says what tuss-fx did, for the coding history."""
    if info.audio_track is not None or info.path.suffix.lower() != ".wav":
        return None
    chunks = read_chunks(info.path)
    return BroadcastOutput(chunks, info.sample_rate, f"{tool_version()} {process}") if chunks.present else None


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tuss-fx {version('tuss-fx')}"
    except PackageNotFoundError:
        return "tuss-fx"


def read_chunks(path: Path) -> BroadcastChunks:
    """bext and iXML of a WAV (RIFF/RF64) file; none for other files. A malformed chunk is a warning."""
    bext = ixml = None
    with open(path, "rb") as handle:
        try:
            chunks = _chunks(handle)
        except NotRiffWave:
            return BroadcastChunks()  # FLAC, RF64, AIFF...: no Broadcast WAV chunks to carry
        except ValueError as exc:
            warnings.warn(MalformedChunkWarning(f"{path}: {exc}; no Broadcast WAV metadata read from it"),
                          stacklevel=2)
            return BroadcastChunks()
        for chunk_id, offset, size in chunks:
            if chunk_id not in (b"bext", b"iXML"):
                continue
            handle.seek(offset)
            payload = handle.read(size)
            if chunk_id == b"iXML":
                ixml = payload.rstrip(b"\0")
                continue
            try:
                bext = Bext.unpack(payload)
            except ValueError as exc:
                warnings.warn(MalformedChunkWarning(f"{path}: {exc}; its bext is ignored"), stacklevel=2)
    return BroadcastChunks(bext, ixml)


def output_bext(source: Bext | None, source_rate: int, output_rate: int, coding_line: str,
                loudness: dict, now: datetime.datetime | None = None) -> Bext:
    """The bext of a file tuss-fx writes from `source`: its description, originator and timecode
    (TimeReference scaled to the output rate), this file's origination date and time, the source's
    coding history plus `coding_line`, and the loudness of what was written (a ProgrammeMeter
    summary)."""
    now = now or datetime.datetime.now()
    source = source or Bext(originator="tuss-fx")
    history = source.coding_history.rstrip("\r\n\0")
    history = (history + "\r\n" if history else "") + coding_line + "\r\n"
    return replace(source, origination_date=now.strftime("%Y-%m-%d"), origination_time=now.strftime("%H:%M:%S"),
                   time_reference=round(source.time_reference * output_rate / source_rate), version=BEXT_VERSION,
                   loudness_value=loudness.get("integrated_lufs"), loudness_range=loudness.get("loudness_range_lu"),
                   max_true_peak_level=loudness.get("true_peak_dbtp"),
                   max_momentary_loudness=loudness.get("max_momentary_lufs"),
                   max_short_term_loudness=loudness.get("max_short_term_lufs"), coding_history=history)


def write_with_chunks(source: Path, target: Path, bext: Bext, ixml: bytes | None) -> None:
    """Copy the WAV `source` to `target` with `bext` (and `iXML`) before its data chunk, replacing any
    it had. Other chunks are copied as they are.

    Raises:
        NotRiffWave: `source` is no RIFF WAVE file (RF64 outputs are written without these chunks).
    """
    extra = [(b"bext", bext.pack())] + ([(b"iXML", ixml)] if ixml else [])
    with open(source, "rb") as inp:
        chunks = _chunks(inp)
        with open(target, "wb") as out:
            out.write(b"RIFF\0\0\0\0WAVE")
            for chunk_id, offset, size in chunks:
                if chunk_id in (b"bext", b"iXML"):
                    continue
                if chunk_id == b"data":
                    for extra_id, payload in extra:
                        _write_chunk(out, extra_id, payload)
                    extra = []  # once, before the (first) data chunk
                out.write(chunk_id + struct.pack("<I", size))
                inp.seek(offset)
                _copy(inp, out, size + (size & 1))
            riff_size = out.tell() - 8
            out.seek(4)
            out.write(struct.pack("<I", riff_size))


class NotRiffWave(ValueError):
    """A file that is no RIFF WAVE (FLAC, RF64, ...): it has no chunks for us to read or rewrite."""


def _chunks(handle) -> list[tuple[bytes, int, int]]:
    """(id, payload offset, payload size) of each chunk of the RIFF WAVE file open in `handle`.

    Raises:
        NotRiffWave: not a RIFF WAVE file. ValueError: a chunk runs past the end of the file.
    """
    handle.seek(0)
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise NotRiffWave("not a RIFF WAVE file")
    end = min(struct.unpack("<I", header[4:8])[0] + 8, os.fstat(handle.fileno()).st_size)
    chunks, position = [], 12
    while position + 8 <= end:
        handle.seek(position)
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        if position + 8 + size > end:
            raise ValueError(f"chunk {chunk_id!r} at byte {position} runs past the end of the file")
        chunks.append((chunk_id, position + 8, size))
        position += 8 + size + (size & 1)
    return chunks


def _write_chunk(out, chunk_id: bytes, payload: bytes) -> None:
    out.write(chunk_id + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b""))


def _copy(inp, out, count: int) -> None:
    while count > 0:
        block = inp.read(min(COPY_BYTES, count))
        if not block:
            break
        out.write(block)
        count -= len(block)


def _ascii(text: str, size: int) -> bytes:
    return text.encode("ascii", "replace")[:size].ljust(size, b"\0")


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def _centi(value: float | None) -> int:
    """A loudness value in hundredths, as the chunk stores it; unset (or -inf) as 0x7FFF."""
    if value is None or value != value or abs(value) == float("inf"):
        return UNSET_LOUDNESS
    return max(-32768, min(32767, round(value * 100)))


def _uncenti(value: int) -> float | None:
    return None if value == UNSET_LOUDNESS else value / 100
