"""RIFF, RF64 and Broadcast WAV chunks, proven on bad files: truncated, oversized, odd-sized,
duplicated and misordered chunks, bext versions 0-2 with bad fields, iXML that is not XML, ds64
tables that lie. Every file ends in a correct reading (a malformed chunk a warning) or a one-line
error naming it: never a traceback, a hang, or memory that follows a size field.

CASES files are built per property run (derandomized, so CI runs the same ones every time); the
docs/guide/deliverables.md states the count.
"""

from __future__ import annotations

import signal
import struct
import tempfile
from contextlib import contextmanager
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuss_fx.cli.commands import main
from tuss_fx.errors import TussFxError
from tuss_fx.media.audio_io import probe, read_blocks
from tuss_fx.media.bwf import BEXT_FIXED_BYTES, Bext, MalformedChunkWarning, broadcast_output, read_chunks
from tuss_fx.media.layout import channel_layout

CASES = 1200  # per file-level property; two of them run: 2,400 generated files
CLI_CASES = 150  # through `tuss-fx loudness`, which prints the one line a user sees
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Python-side memory (numpy included) a 2 KB to 60 KB file may take to read: sizes in headers
# claim up to 4 GiB, so memory that followed them would be far over this
MEMORY_LIMIT_BYTES = 32 << 20
FRAMES, CHANNELS, RATE = 600, 2, 48000
CASE_SECONDS = 20  # one case takes milliseconds; only a hang reaches this


def _fmt(channels: int = CHANNELS, rate: int = RATE, bits: int = 16, extensible: bool = False) -> bytes:
    block = channels * bits // 8
    base = struct.pack("<HHIIHH", 0xFFFE if extensible else 1, channels, rate, rate * block, block, bits)
    if extensible:  # cbSize, valid bits, channel mask, PCM sub-format GUID
        base += struct.pack("<HHI", 22, bits, 0x3) + bytes.fromhex("0100000000001000800000aa00389b71")
    return base


def _samples(frames: int = FRAMES) -> bytes:
    t = np.arange(frames * CHANNELS)
    return (np.sin(t * 0.01) * 8000).astype("<i2").tobytes()


def _bext(version: int, description: bytes, time_reference: int, loudness: tuple[int, ...], history: bytes) -> bytes:
    fixed = struct.pack("<256s32s32s10s8sIIH64shhhhh180s", description[:256], b"fuzz", b"ref", b"2026-13-45",
                        b"99:99:99", time_reference & 0xFFFFFFFF, time_reference >> 32, version, bytes(64), *loudness,
                        bytes(180))
    assert len(fixed) == BEXT_FIXED_BYTES
    return fixed + history


def _chunk(chunk_id: bytes, payload: bytes, declared: int | None = None) -> bytes:
    size = len(payload) if declared is None else declared
    return chunk_id + struct.pack("<I", size & 0xFFFFFFFF) + payload + (b"\0" if len(payload) & 1 else b"")


# one chunk, as a strategy: (id, payload, declared size or None for the true one)
_SIZES = st.one_of(st.none(), st.sampled_from([0, 1, 3, 0xFFFFFFFF, 0x7FFFFFFF, 1 << 30]), st.integers(0, 70000))
_BEXT = st.builds(_bext, st.integers(0, 2), st.binary(max_size=300), st.integers(0, (1 << 64) - 1),
                  st.tuples(*[st.integers(-32768, 32767)] * 5), st.binary(max_size=200))
_PAYLOADS = {
    b"fmt ": st.one_of(st.builds(_fmt, st.integers(0, 70), st.integers(0, 400000), st.sampled_from([8, 16, 24, 32, 7]),
                                 st.booleans()), st.binary(max_size=60)),
    b"data": st.one_of(st.builds(_samples, st.integers(0, FRAMES)), st.binary(max_size=4000)),
    b"bext": st.one_of(_BEXT, st.binary(max_size=700)),
    b"iXML": st.one_of(st.binary(max_size=300), st.just(b"<BWFXML><NOTE>unclosed"), st.just(b"\xff\xfe<x/>")),
    b"ds64": st.binary(min_size=0, max_size=40),
    b"JUNK": st.binary(max_size=100),
    b"LIST": st.binary(max_size=100),
}
CHUNKS = st.one_of(*[st.tuples(st.just(cid), payload, _SIZES) for cid, payload in _PAYLOADS.items()],
                   st.tuples(st.binary(min_size=4, max_size=4), st.binary(max_size=50), _SIZES))


@st.composite
def wav_files(draw) -> bytes:
    """A RIFF or RF64 WAVE file: a valid core (fmt, data) mixed with drawn chunks in a drawn order,
    with lying sizes, duplicates, a RIFF size that lies, a ds64 that lies, and truncation."""
    chunks = [(b"fmt ", _fmt(), None), (b"data", _samples(), None)]
    if draw(st.booleans()):
        chunks.insert(1, (b"bext", draw(_BEXT), None))
    chunks += draw(st.lists(CHUNKS, max_size=6))
    order = draw(st.permutations(range(len(chunks)))) if draw(st.booleans()) else range(len(chunks))
    body = b"".join(_chunk(*chunks[i]) for i in order)
    rf64 = draw(st.booleans()) and draw(st.booleans())
    if rf64:  # RF64: the RIFF size is -1 and a ds64 chunk first holds the real sizes, which may lie
        ds64 = struct.pack("<QQQI", draw(st.integers(0, 1 << 40)), draw(st.integers(0, 1 << 40)),
                           draw(st.integers(0, 1 << 40)), 0)
        body = _chunk(b"ds64", ds64) + body
    riff_size = draw(st.one_of(st.just(len(body) + 4), st.integers(0, 0xFFFFFFFF)))
    data = (b"RF64" + struct.pack("<I", 0xFFFFFFFF) if rf64 else b"RIFF" + struct.pack("<I", riff_size)) \
        + b"WAVE" + body
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return data if cut is None else data[:cut]


@contextmanager
def _time_limit(seconds: int):
    """A case that hangs fails after `seconds` instead of stalling the suite (SIGALRM, main thread)."""
    def expire(signum, frame):
        raise TimeoutError(f"a {seconds} s case limit: reading the file hung")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _read_as_a_user_would(path: Path) -> None:
    """Everything tuss-fx does with a WAV before separating it, as a remix runs it: probe, layout,
    bext and iXML, every block. A bad file is a one-line TussFxError naming it; a malformed chunk a
    MalformedChunkWarning; nothing else may escape."""
    try:
        info = probe(path)
    except TussFxError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert len(channel_layout(path, info.num_channels)) == info.num_channels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = read_chunks(path)
        broadcast_output(info, "fuzz")
    assert all(issubclass(w.category, MalformedChunkWarning) and "\n" not in str(w.message) for w in caught)
    if chunks.bext is not None:
        Bext.unpack(chunks.bext.pack())  # what we read, we can write back
    try:
        audio = np.concatenate([np.zeros((info.num_channels, 0), np.float32), *read_blocks(info)], axis=1)
        assert audio.shape[1] == info.num_frames
    except TussFxError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    if info.pcm_bits == 16 and audio.size:  # the samples are the file's own bytes, in order, from its data chunk
        payload = np.round(audio.T * 32768.0).astype("<i2").tobytes()
        data = path.read_bytes()
        start = _declared_data_offset(data)
        assert data[start:start + len(payload)] == payload, "the samples read are not the data chunk's, from its start"


def _declared_data_offset(data: bytes) -> int | None:
    """Where the first data chunk's payload starts, walking the chunks by their declared sizes (the test's own
    walk of the RIFF layout, not the reader's)."""
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        if chunk_id == b"data":
            return position + 8
        position += 8 + size + (size & 1)
    return None


@pytest.mark.parametrize("suffix", [".wav", ".bwf.wav"])
@FUZZ
@given(data=wav_files())
def test_bad_chunks_read_correctly_or_fail_in_one_line(tmp_path, suffix, data):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / f"fuzz{suffix}"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with _time_limit(CASE_SECONDS):
            _read_as_a_user_would(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT_BYTES, f"{peak} bytes of Python memory for a {len(data)}-byte file"


@settings(max_examples=CLI_CASES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=wav_files())
def test_bad_chunks_through_the_command_line(tmp_path, data):
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "fuzz.wav"
    path.write_bytes(data)
    with _time_limit(CASE_SECONDS):
        result = CliRunner().invoke(main, ["loudness", str(path), "--no-dialogue"])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 1:
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and str(path) in lines[0]


def test_files_written_by_other_tools_read_whole(tmp_path):
    """libsndfile's WAV, WAVEX and RF64 writers and FFmpeg's Broadcast WAV (with its own bext)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from make_film_clip import write_broadcast_wav

    audio = (np.sin(np.arange(4800) * 0.02)[None].repeat(2, 0) * 0.3).astype(np.float32)
    written = []
    for name, fmt, subtype in (("plain.wav", "WAV", "PCM_24"), ("ext.wav", "WAVEX", "FLOAT"),
                               ("big.wav", "RF64", "PCM_16")):
        sf.write(tmp_path / name, audio.T, RATE, format=fmt, subtype=subtype)
        written.append(tmp_path / name)
    write_broadcast_wav(tmp_path / "ffmpeg.wav", audio, RATE, "01:00:00:00")
    written.append(tmp_path / "ffmpeg.wav")
    chunks = {}
    for path in written:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            info = probe(path)
            chunks[path.name] = read_chunks(path)
        assert info.num_frames == 4800 and info.channel_layout == ("FL", "FR")
        np.testing.assert_allclose(np.concatenate(list(read_blocks(info)), axis=1), audio, atol=1 / 2 ** 15)
    bext = chunks["ffmpeg.wav"].bext
    assert bext is not None and bext.time_reference == 3600 * RATE  # FFmpeg wrote 01:00:00:00 at 48 kHz
