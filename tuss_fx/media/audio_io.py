"""Block reads with input checks, and all-or-nothing writes through temporary files."""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from tuss_fx.errors import AudioReadError, AudioWriteError
from tuss_fx.hold_points import hold_point
from tuss_fx.media.container import CONTAINER_SUFFIXES, is_container, probe_track, read_track_blocks
from tuss_fx.media.layout import channel_layout
from tuss_fx.media.temp_files import remove_stale_temps, replace_file, temp_beside  # noqa: F401 - re-exported for the writers
from tuss_fx.signals import check_stop



class ChunkWriter(Protocol):
    """What makes a finished WAV a Broadcast WAV (tuss_fx.media.bwf.BroadcastOutput)."""

    def write(self, wav: Path, loudness: dict, sample_rate: int, subtype: str, num_channels: int,
              target: Path | None = None) -> None: ...

# output formats: name -> (libsndfile format, subtype). Float WAV keeps the headroom stems need (a
# stem may exceed 0 dBFS); PCM is what deliveries ask for, written with TPDF dither; FLAC has no float
OUTPUT_FORMATS = {"wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "wav32f": ("WAV", "FLOAT"),
                  "flac16": ("FLAC", "PCM_16"), "flac24": ("FLAC", "PCM_24")}
# what a user may ask for: "wav" is the input's PCM depth (16 or 24 bit), float when it was not PCM;
# "flac" is 24-bit FLAC
FORMAT_CHOICES = ("wav", "wav24", "wav32f", "wav16", "flac", "flac24")
PCM_BITS = {"PCM_16": 16, "PCM_24": 24}
BLOCK_FRAMES = 65536
# the file names a folder search takes for audio: what libsndfile (with MP3) reads, and film containers
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".w64", ".rf64", ".caf", ".mp3",
                  *CONTAINER_SUFFIXES}
# below 1 kHz a header is broken, not audio (and resampling it to 48 kHz would take hours);
# above 768 kHz (twice DXD) no converter records
SAMPLE_RATE_RANGE_HZ = (1000, 768_000)


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    num_channels: int
    num_frames: int
    audio_track: int | None = None  # 1-based audio track of a film container; None: a plain audio file
    start_seconds: float = 0.0  # timestamp of the first sample (containers; 0 for audio files)
    pcm_bits: int | None = None  # 16 or 24 for 16/24-bit PCM (or FLAC) input; None for float and lossy
    channel_layout: tuple[str, ...] = ()  # the speaker of each channel (media.layout), e.g. FL FR FC LFE BL BR
    first_frame: int = 0  # an excerpt (AudioInfo.excerpt): the file's frame that reads as frame 0

    @property
    def duration_seconds(self) -> float:
        return self.num_frames / self.sample_rate

    def excerpt(self, first_frame: int, num_frames: int) -> AudioInfo:
        """Frames [first_frame, first_frame + num_frames) of this input, which read_blocks and everything
        that streams an input (a remix, a separation) then take as the whole input.

        Raises:
            ValueError: an empty range, or one that is not inside this input.
        """
        if first_frame < 0 or num_frames <= 0 or first_frame + num_frames > self.num_frames:
            raise ValueError(f"frames {first_frame}..{first_frame + num_frames} are not inside the "
                             f"{self.num_frames} frames of {self.path}")
        return replace(self, first_frame=self.first_frame + first_frame, num_frames=num_frames)


def probe(path: str | Path, audio_track: int | None = None) -> AudioInfo:
    """Open an input and check it can be separated.

    Film containers (CONTAINER_SUFFIXES) are read through FFmpeg: `audio_track` picks a track,
    numbered from 1 (default the first). Plain audio files have one track.

    Raises:
        AudioReadError: missing, empty, not audio, truncated (RIFF size past the end), no samples,
            a sample rate outside SAMPLE_RATE_RANGE_HZ, or no such audio track.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioReadError(path, "file is empty")
    if is_container(path):
        track = probe_track(path, audio_track or 1)
        _check_rate(path, track.sample_rate)
        return AudioInfo(path, track.sample_rate, track.num_channels, track.num_frames, track.number,
                         track.start_seconds, track.pcm_bits, channel_layout(path, track.num_channels, track.layout))
    if audio_track not in (None, 1):
        raise AudioReadError(path, f"is an audio file with one track; there is no audio track {audio_track}")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioReadError(path, f"not a readable audio file ({_reason(exc)})") from None
    if info.frames <= 0:
        raise AudioReadError(path, "holds no audio samples (zero length)")
    _check_rate(path, info.samplerate)
    _check_riff(path)
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames),
                     pcm_bits={"PCM_U8": 16, "PCM_S8": 16, **PCM_BITS}.get(info.subtype),
                     channel_layout=channel_layout(path, int(info.channels)))


def _check_rate(path: Path, sample_rate: int) -> None:
    low, high = SAMPLE_RATE_RANGE_HZ
    if not low <= sample_rate <= high:
        raise AudioReadError(path, f"sample rate {sample_rate} Hz is outside the {low}-{high} Hz tuss-fx reads")


def read_blocks(info: AudioInfo, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Yield (C, n) float32 blocks of the whole file (of an excerpt: its frames), checking every
    sample is finite.

    Raises:
        AudioReadError: a decoding error (truncated or corrupt data) or NaN/inf samples.
    """
    if info.audio_track is not None:
        blocks = _first_frames(read_track_blocks(info.path, info.audio_track, block_frames, info.first_frame),
                               info.num_frames)
    else:
        blocks = (block.T for block in sf.blocks(str(info.path), blocksize=block_frames, always_2d=True,
                                                 dtype="float32", start=info.first_frame,
                                                 frames=info.num_frames))
    done = 0
    try:
        for block in blocks:
            check_finite(block, info.path, offset=done)
            done += block.shape[1]
            yield block
    except sf.LibsndfileError as exc:
        raise AudioReadError(info.path, f"truncated or corrupt after {done} frames ({_reason(exc)})") from None
    if done != info.num_frames:
        raise AudioReadError(info.path, f"truncated: header says {info.num_frames} frames, read {done}")


def _first_frames(blocks: Iterator[np.ndarray], num_frames: int) -> Iterator[np.ndarray]:
    """The first num_frames frames of decoded (C, n) blocks; decoding stops there."""
    position = 0
    for block in blocks:
        take = min(num_frames - position, block.shape[1])
        position += block.shape[1]
        if take > 0:
            yield block[:, :take]
        if position >= num_frames:
            return


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Whole file as (C, L) float32 and its sample rate (for short files, tests and presets)."""
    info = probe(path)
    return np.concatenate(list(read_blocks(info)), axis=1), info.sample_rate


def check_finite(audio: np.ndarray, where: str | Path, offset: int = 0) -> None:
    """Raise AudioReadError at the first NaN/inf sample (frame index counted from `offset`)."""
    bad = ~np.isfinite(audio)
    if bad.any():
        frame = offset + int(np.argwhere(bad)[0][-1])
        raise AudioReadError(where, f"non-finite sample (NaN or inf) at frame {frame}")


def make_parents(path: Path) -> list[Path]:
    """Create path's missing parent folders; returns those created, outermost first."""
    missing = []
    folder = path.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
    return missing[::-1]


def remove_if_empty(folders: list[Path]) -> None:
    """Remove folders a failed run created, innermost first, where nothing else was put in them."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): its parents are not empty either


def concrete_format(requested: str, input_bits: int | None = None) -> str:
    """An OUTPUT_FORMATS name for a FORMAT_CHOICES one: "wav" follows the input's PCM depth (float
    when it was not PCM), "flac" is 24-bit.

    Raises:
        ValueError: a format outside FORMAT_CHOICES and OUTPUT_FORMATS.
    """
    if requested in OUTPUT_FORMATS:
        return requested
    if requested == "wav":
        return f"wav{input_bits}" if input_bits in (16, 24) else "wav32f"
    if requested == "flac":
        return "flac24"
    raise ValueError(f"format must be one of {', '.join(FORMAT_CHOICES)}, got {requested!r}")


def file_extension(file_format: str) -> str:
    """The suffix (without the dot) of files in a format: wav or flac."""
    return "flac" if file_format.startswith("flac") else "wav"


class ClippedWarning(UserWarning):
    """Samples past full scale were clipped writing integer PCM."""


class AtomicWriter:
    """Writes (C, n) blocks to a temporary file beside `path`; `commit` renames it into place.

    Nothing appears at `path` unless commit() runs, so a failure never leaves a partial output.
    Integer PCM formats get TPDF dither (two uniform variates of one LSB, triangular over +-1 LSB)
    and are rounded by us, not truncated; samples past full scale are clipped, and counted in a
    warning at commit. With `broadcast` the output is a Broadcast WAV: its loudness is measured as
    it is written and the bext (and iXML) chunks go in at commit (tuss_fx.media.bwf).
    """

    def __init__(self, path: Path, sample_rate: int, num_channels: int, file_format: str,
                 broadcast: "ChunkWriter | None" = None, durable: bool = True) -> None:
        """durable=False: a scratch file, read back and removed, never an output: closed without the fsync
        libsndfile makes of a file it opened itself (on a two-hour film's stems, gigabytes forced to disk)."""
        self.path = path
        container, subtype = OUTPUT_FORMATS[concrete_format(file_format)]
        self._bits = PCM_BITS.get(subtype)
        self._dither = np.random.default_rng(0)  # fixed: the same input gives the same file
        self._clipped = 0
        self._broadcast = broadcast if container == "WAV" else None
        self._meter = None
        if self._broadcast is not None:
            from tuss_fx.measure.meters import ProgrammeMeter

            self._meter = ProgrammeMeter(sample_rate, num_channels)
        self._format = (sample_rate, container, subtype, num_channels)
        try:
            self._created = make_parents(path)  # removed again if the write is aborted and they stay empty
            self._tmp = temp_beside(path)
        except OSError as exc:
            raise AudioWriteError(path, f"cannot write here ({exc.strerror or exc})") from None
        # through a Python file object libsndfile writes the same bytes and leaves the syncing to the system
        self._handle = None if durable else open(self._tmp, "w+b")  # noqa: SIM115 - closed in close()/abort()
        self._file = sf.SoundFile(self._handle or self._tmp, "w", samplerate=sample_rate, channels=num_channels,
                                  format=container, subtype=subtype)
        self._started = False  # a first block written: where a test's hold point can stop the run

    def write(self, block: np.ndarray) -> None:
        """block: (C, n) float32. Every block is a point where a requested stop (signals.check_stop) lands."""
        check_stop()
        if self._meter is not None:
            self._meter.push(block)
        try:
            self._file.write(np.ascontiguousarray(self._quantised(block).T))
        except (sf.LibsndfileError, OSError) as exc:
            self.abort()
            raise AudioWriteError(self.path, f"write failed ({_reason(exc)})") from None
        if not self._started:
            self._started = True
            self._file.flush()
            hold_point(self.path, self._tmp)

    def _quantised(self, block: np.ndarray) -> np.ndarray:
        """Float for float formats; else TPDF-dithered integers, left-aligned in int32 for 24 bit."""
        if self._bits is None:
            return block
        scale = 2.0 ** (self._bits - 1)
        noise = self._dither.random(block.shape) - self._dither.random(block.shape)  # TPDF, +-1 LSB
        levels = np.round(block.astype(np.float64) * scale + noise)
        over = (levels > scale - 1) | (levels < -scale)
        self._clipped += int(np.count_nonzero(over & (np.abs(block) >= 1.0)))
        levels = np.clip(levels, -scale, scale - 1)
        return levels.astype(np.int16) if self._bits == 16 else levels.astype(np.int32) << 8

    @property
    def temp_path(self) -> Path:
        """Where the data is until commit(); readable after close()."""
        return self._tmp

    def close(self) -> None:
        """Finish the temporary file without putting it in place (to read it back)."""
        self._file.close()
        if self._handle:
            self._handle.close()

    def commit(self) -> None:
        self.close()
        if self._clipped:
            warnings.warn(ClippedWarning(f"{self.path}: {self._clipped} samples past full scale clipped in "
                                         f"{self._bits}-bit PCM (wav32f keeps them)"), stacklevel=2)
        if self._broadcast is not None:
            self._meter.finish()
            sample_rate, _, subtype, num_channels = self._format
            self._broadcast.write(self._tmp, self._meter.summary(), sample_rate, subtype, num_channels, self.path)
        replace_file(self._tmp, self.path)

    def abort(self) -> None:
        if not self._file.closed:
            self.close()
        self._tmp.unlink(missing_ok=True)
        remove_if_empty(self._created)


class WriterGroup:
    """Several outputs that appear together or not at all (the stems of one track)."""

    def __init__(self, paths: dict[str, Path], sample_rate: int, num_channels: int, file_format: str,
                 broadcast: "ChunkWriter | None" = None) -> None:
        self.writers: dict[str, AtomicWriter] = {}
        try:
            for name, path in paths.items():
                self.writers[name] = AtomicWriter(path, sample_rate, num_channels, file_format, broadcast)
        except Exception:
            self.abort()
            raise

    def __enter__(self) -> dict[str, AtomicWriter]:
        return self.writers

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for writer in self.writers.values():
                writer.commit()
        else:
            self.abort()

    def abort(self) -> None:
        # newest first: the writer that created a shared folder removes it once the others are gone
        for writer in reversed(self.writers.values()):
            writer.abort()


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, file_format: str = "wav") -> None:
    """Write a whole (C, L) array atomically."""
    writer = AtomicWriter(path, sample_rate, audio.shape[0], file_format)
    writer.write(audio)
    writer.commit()


def format_for(path: Path) -> str:
    """The output format a path asks for by its suffix: FLAC for .flac, WAV otherwise (a FORMAT_CHOICES
    name: concrete_format gives the depth)."""
    return "flac" if path.suffix.lower() == ".flac" else "wav"


def check_targets(paths: list[Path], overwrite: bool, how_to_overwrite: str = "--overwrite") -> None:
    """Raise AudioWriteError for the first existing output when overwriting was not asked for;
    the message names `how_to_overwrite` (the CLI flag, or the Python argument)."""
    for path in paths:
        if path.exists() and not overwrite:
            raise AudioWriteError(path, f"exists already (pass {how_to_overwrite} to replace it)")


def feed_file(digest, path: Path) -> None:
    """Update a hashlib digest with a file's bytes, read in 1 MiB chunks (files may be hours of audio)."""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def _check_riff(path: Path) -> None:
    """What libsndfile lets pass in a WAV: a cut-off file (it silently shortens it; the RIFF header still
    says how long it was), and several data chunks (it reads one of them, not always the first: which holds
    the programme is anyone's guess, so none is)."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
            return
        actual = path.stat().st_size
        declared = struct.unpack("<I", header[4:8])[0] + 8
        if header[:4] == b"RIFF" and declared > actual and declared != 0xFFFFFFFF + 8:  # 0xFFFFFFFF: streamed
            raise AudioReadError(path, f"truncated: header declares {declared} bytes, file has {actual}")
        data_chunks, position = 0, 12
        while position + 8 <= actual:  # the chunks by their declared sizes
            handle.seek(position)
            chunk_id, size = struct.unpack("<4sI", handle.read(8))
            data_chunks += chunk_id == b"data"
            position += 8 + size + (size & 1)
    if data_chunks > 1:
        raise AudioReadError(path, f"holds {data_chunks} data chunks; which one is the audio is ambiguous")


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0].split(": ", 1)[-1] if str(exc) else type(exc).__name__
