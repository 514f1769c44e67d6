"""Bad input, proven: random truncations, byte corruptions and header fields of real WAV, FLAC and Ogg
files, and of MOV and MKV films, end in a one-line TussFxError or a correct output: never a
traceback, a hang or a partial file."""

import io
import struct
import tempfile
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

from tests.conftest import noise
from tests.film_clips import write_clip

# examples per property; derandomized, so CI runs the same cases every time
EXAMPLES = 40
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FORMATS = {"wav": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}


def _encoded(ext: str, num_channels: int = 2, num_frames: int = 4800, sample_rate: int = 48000) -> bytes:
    buffer = io.BytesIO()
    container, subtype = FORMATS[ext]
    sf.write(buffer, noise(num_channels, num_frames).T, sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _film(ext: str) -> bytes:
    """A 0.1 s film: a few picture frames, a subtitle cue and 4800 frames of stereo audio."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"film.{ext}"
        write_clip(path, [noise(2, 4800)], 48000, "pcm_s24le" if ext == "mov" else "pcm_f32le")
        return path.read_bytes()


VALID = {**{ext: _encoded(ext) for ext in FORMATS}, **{ext: _film(ext) for ext in ("mov", "mkv")}}


def _fresh(tmp_path: Path) -> Path:
    """A folder of its own per example (hypothesis reuses the test's tmp_path)."""
    return Path(tempfile.mkdtemp(dir=tmp_path))


def _check_input(path: Path, tmp_path: Path, parity_dir: Path) -> None:
    """probe + read_blocks, then `separate` and `remix`: each a correct output or a one-line error."""
    try:
        info = probe(path)
        sum(block.shape[1] for block in read_blocks(info))
    except TussFxError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        info = None
    for command, outputs in (
        (["separate", str(path), "-o", str(tmp_path / "stems"), "-p", "speech", "-p", "musicbg"],
         [tmp_path / "stems" / path.stem / "speech.wav", tmp_path / "stems" / path.stem / "musicbg.wav"]),
        (["remix", str(path), "-o", str(tmp_path / "mix.wav"), "--preset", "dme"], [tmp_path / "mix.wav"]),
    ):
        result = CliRunner().invoke(main, [*command, "--checkpoint", str(parity_dir), "--overwrite", "-q"])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        if result.exit_code == 0:
            assert info is not None, "a run succeeded on an input that probe refused"
            for output in outputs:
                written = sf.info(output)
                assert (written.frames, written.samplerate, written.channels) == (
                    info.num_frames, info.sample_rate, info.num_channels)
                output.unlink()
        else:
            assert result.exit_code == 1 and result.stderr.startswith("error: ")
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != path.name], "output left behind"


@FUZZ
@given(ext=st.sampled_from(sorted(VALID)), cut=st.floats(0, 1, exclude_max=True))
def test_truncated_files(tmp_path, parity_dir, ext, cut):
    data = VALID[ext]
    path = _fresh(tmp_path) / f"cut.{ext}"
    path.write_bytes(data[: int(cut * len(data))])
    _check_input(path, path.parent, parity_dir)


@FUZZ
@given(ext=st.sampled_from(sorted(VALID)), edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                                        st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_bytes(tmp_path, parity_dir, ext, edits):
    data = bytearray(VALID[ext])
    for position, value in edits:
        data[int(position * len(data))] = value
    path = _fresh(tmp_path) / f"bytes.{ext}"
    path.write_bytes(bytes(data))
    _check_input(path, path.parent, parity_dir)


@FUZZ
@given(sample_rate=st.integers(1, 384_000), num_channels=st.integers(0, 64),
       data_bytes=st.one_of(st.just(None), st.integers(0, 2**32 - 1)))
def test_wav_header_fields(tmp_path, parity_dir, sample_rate, num_channels, data_bytes):
    """A 16-bit PCM WAV whose fmt fields (rate, channels) and data size are set to anything."""
    samples = (noise(1, 2400).ravel() * 32767).astype("<i2").tobytes()
    block_align = max(num_channels, 1) * 2
    fmt = struct.pack("<HHIIHH", 1, num_channels, sample_rate, sample_rate * block_align % 2**32, block_align, 16)
    size = len(samples) if data_bytes is None else data_bytes
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + samples
    path = _fresh(tmp_path) / "header.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    _check_input(path, path.parent, parity_dir)


@pytest.mark.parametrize("ext", sorted(VALID))
def test_the_untouched_files_separate(tmp_path, parity_dir, ext):
    """The property tests' starting points are valid: a correct output, not only errors, is reachable."""
    path = tmp_path / f"valid.{ext}"
    path.write_bytes(VALID[ext])
    assert probe(path).num_frames == 4800
    result = CliRunner().invoke(main, ["separate", str(path), "-o", str(tmp_path / "s"), "--checkpoint",
                                       str(parity_dir), "-q"])
    assert result.exit_code == 0, result.output
    assert np.isfinite(sf.read(tmp_path / "s" / "valid" / "speech.wav")[0]).all()
