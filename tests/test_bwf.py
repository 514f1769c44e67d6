"""Broadcast WAV in and out: bext and iXML read, carried, re-timed and filled; PCM depths with TPDF dither."""

from __future__ import annotations

import datetime
import struct
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tests.conftest import noise
from tests.film_clips import make_film_clip
from tuss_fx.cli.commands import main
from tuss_fx.media.audio_io import AtomicWriter, concrete_format, probe
from tuss_fx.media.bwf import Bext, MalformedChunkWarning, output_bext, read_chunks, write_with_chunks

RATE = 48000
ONE_HOUR = 3600 * RATE  # TimeReference of 01:00:00:00: samples since midnight
write_broadcast_wav = make_film_clip.write_broadcast_wav
IXML = b'<?xml version="1.0"?><BWFXML><PROJECT>Reel 3</PROJECT><SCENE>12A</SCENE></BWFXML>'


def ffmpeg_bwf(path: Path, audio: np.ndarray) -> None:
    """A 24-bit Broadcast WAV at 01:00:00:00 written by FFmpeg's WAV muxer (another tool's bext, through
    the manual's example script), then an iXML chunk added."""
    write_broadcast_wav(path, audio, RATE, "01:00:00:00")
    bext = read_chunks(path).bext
    staged = path.with_suffix(".ixml.wav")
    write_with_chunks(path, staged, bext, IXML)
    staged.replace(path)


def test_bext_written_by_ffmpeg_is_read(tmp_path):
    source = tmp_path / "reel.wav"
    ffmpeg_bwf(source, noise(2, RATE))
    chunks = read_chunks(source)
    assert chunks.bext.description == "reel dialogue premix" and chunks.bext.originator == "make_film_clip"
    assert chunks.bext.time_reference == ONE_HOUR and chunks.bext.version == 1
    assert chunks.bext.coding_history == "A=PCM,F=48000,W=24,M=stereo,T=make_film_clip"
    assert chunks.ixml == IXML
    assert sf.read(source)[0].shape == (RATE, 2)  # the audio is still a plain WAV to every reader


def test_our_bext_reads_back_in_ffmpeg_and_round_trips(tmp_path):
    plain = tmp_path / "plain.wav"
    sf.write(plain, noise(2, 4800).T, RATE, subtype="PCM_24")
    bext = Bext(description="Reel 3", originator="tuss-fx", time_reference=2**33 + 5, loudness_value=-23.04,
                loudness_range=6.5, max_true_peak_level=-1.17, max_momentary_loudness=-14.2,
                max_short_term_loudness=-18.0, coding_history="A=PCM,F=48000,W=24,M=stereo,T=tuss-fx\r\n")
    target = tmp_path / "bwf.wav"
    write_with_chunks(plain, target, bext, IXML)
    with av.open(str(target)) as container:  # FFmpeg's BWF reader
        assert container.metadata["time_reference"] == str(2**33 + 5)
        assert container.metadata["encoded_by"] == "tuss-fx" and container.metadata["comment"] == "Reel 3"
    back = read_chunks(target)
    assert back.ixml == IXML
    assert back.bext.loudness_value == -23.04 and back.bext.max_true_peak_level == -1.17
    assert back.bext.time_reference == 2**33 + 5 and back.bext.version == 2
    np.testing.assert_array_equal(sf.read(target, dtype="int32")[0], sf.read(plain, dtype="int32")[0])
    with open(target, "rb") as handle:
        data = handle.read()
    assert data.index(b"bext") < data.index(b"data") and struct.unpack("<I", data[4:8])[0] == len(data) - 8


def test_output_bext_keeps_identity_and_timecode_and_fills_loudness():
    source = Bext(description="Reel 3", originator="Pro Tools", time_reference=ONE_HOUR,
                  coding_history="A=PCM,F=48000,W=24,M=stereo,T=Pro Tools\r\n")
    loudness = {"integrated_lufs": -24.0, "loudness_range_lu": 7.25, "true_peak_dbtp": -2.1,
                "max_momentary_lufs": -15.0, "max_short_term_lufs": -19.5}
    made = output_bext(source, 48000, 44100, "A=PCM,F=44100,W=24,M=stereo,T=tuss-fx remix",
                       loudness, datetime.datetime(2026, 12, 1, 9, 30, 5))
    assert made.time_reference == 3600 * 44100  # the same instant at the output's rate
    assert (made.description, made.originator) == ("Reel 3", "Pro Tools")
    assert (made.origination_date, made.origination_time) == ("2026-12-01", "09:30:05")
    assert made.coding_history.splitlines() == ["A=PCM,F=48000,W=24,M=stereo,T=Pro Tools",
                                                "A=PCM,F=44100,W=24,M=stereo,T=tuss-fx remix"]
    assert (made.loudness_value, made.loudness_range, made.max_true_peak_level) == (-24.0, 7.25, -2.1)
    # the chunk stores hundredths; an unmeasured field is 0x7fff
    packed = Bext.unpack(made.pack())
    assert packed.max_short_term_loudness == -19.5
    assert Bext.unpack(Bext().pack()).loudness_value is None


def test_a_malformed_chunk_is_a_warning_and_the_audio_goes_through(tmp_path, parity_dir):
    source = tmp_path / "broken.wav"
    sf.write(source, noise(2, 24000).T, RATE, subtype="PCM_24")
    data = bytearray(source.read_bytes())
    data += b"bext" + struct.pack("<I", 40) + bytes(40)  # far shorter than a bext's fixed part
    data[4:8] = struct.pack("<I", len(data) - 8)
    source.write_bytes(bytes(data))
    with pytest.warns(MalformedChunkWarning, match="shorter than its 602 fixed bytes"):
        assert read_chunks(source).bext is None
    result = CliRunner().invoke(main, ["separate", str(source), "-o", str(tmp_path / "out"), "--checkpoint",
                                       str(parity_dir), "-p", "speech"])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.stderr and "bext" in result.stderr
    assert probe(tmp_path / "out" / "broken" / "speech.wav").num_frames == 24000


def test_the_bwf_remix_and_its_stems_are_24_bit_broadcast_wavs(tmp_path, parity_dir):
    """The issue's gate: a 24-bit BWF at 01:00:00:00 remixes to 24-bit PCM BWFs with the same timecode."""
    source = tmp_path / "reel3.wav"
    ffmpeg_bwf(source, noise(2, 3 * RATE, scale=0.1))
    out, stems = tmp_path / "reel3.boost.wav", tmp_path / "stems"
    result = CliRunner().invoke(main, ["remix", str(source), "-o", str(out), "--stems-dir", str(stems),
                                       "--checkpoint", str(parity_dir), "--preset", "dialogue-boost"])
    assert result.exit_code == 0, result.output
    for path in [out, *sorted(stems.glob("*.wav"))]:
        assert sf.info(path).subtype == "PCM_24", path
        chunks = read_chunks(path)
        assert chunks.bext.time_reference == ONE_HOUR and chunks.bext.description == "reel3 dialogue premix"
        assert chunks.ixml == IXML
        history = chunks.bext.coding_history.splitlines()
        assert history[0] == "A=PCM,F=48000,W=24,M=stereo,T=make_film_clip" and "remix dialogue-boost" in history[1]
        assert all(value is not None for value in (chunks.bext.loudness_value, chunks.bext.loudness_range,
                                                   chunks.bext.max_true_peak_level, chunks.bext.max_momentary_loudness,
                                                   chunks.bext.max_short_term_loudness)), path
    # the remix was normalised to the preset's -24 LUFS; its bext says what was written
    assert read_chunks(out).bext.loudness_value == pytest.approx(-24.0, abs=0.1)


def test_format_choice_and_the_input_depth_default(tmp_path, parity_dir):
    source16 = tmp_path / "a16.wav"
    sf.write(source16, noise(1, 24000).T, RATE, subtype="PCM_16")
    runner = CliRunner()
    for fmt, subtype, ext in (("wav", "PCM_16", "wav"), ("wav32f", "FLOAT", "wav"), ("wav24", "PCM_24", "wav"),
                              ("flac24", "PCM_24", "flac")):
        result = runner.invoke(main, ["separate", str(source16), "-o", str(tmp_path / fmt), "--format", fmt,
                                      "--checkpoint", str(parity_dir), "-p", "speech"])
        assert result.exit_code == 0, result.output
        assert sf.info(tmp_path / fmt / "a16" / f"speech.{ext}").subtype == subtype
    assert concrete_format("wav", None) == "wav32f" and concrete_format("flac") == "flac24"
    # a plain (non-BWF) input gives plain WAVs
    assert read_chunks(tmp_path / "wav" / "a16" / "speech.wav").bext is None


def test_tpdf_dither_linearises_the_last_bit(tmp_path):
    """A DC level of 0.3 LSB: plain rounding writes zeros; TPDF dither writes 0.3 LSB on average, with
    the noise power of TPDF (1/6 LSB^2) plus rounding (1/12 LSB^2) = 1/4 LSB^2."""
    lsb = 2.0**-23
    level = np.full((1, 480000), 0.3 * lsb, np.float32)
    path = tmp_path / "dc.wav"
    writer = AtomicWriter(path, RATE, 1, "wav24")
    writer.write(level)
    writer.commit()
    written = sf.read(path, dtype="int32")[0] / 256.0  # in LSB
    assert written.mean() == pytest.approx(0.3, abs=0.01)
    assert np.mean((written - 0.3) ** 2) == pytest.approx(0.25, rel=0.05)
    assert set(np.unique(written)) <= {-1.0, 0.0, 1.0}  # never more than one step of noise


def test_overs_in_pcm_are_clipped_with_a_warning(tmp_path):
    path = tmp_path / "over.wav"
    writer = AtomicWriter(path, RATE, 1, "wav24")
    writer.write(np.array([[0.5, 1.5, -2.0, 0.25]], np.float32))
    with pytest.warns(UserWarning, match="2 samples past full scale clipped in 24-bit PCM"):
        writer.commit()
    written = sf.read(path, dtype="float64")[0]
    assert written[1] == pytest.approx(1 - 2**-23) and written[2] == -1.0


def test_an_rf64_output_is_kept_without_chunks_and_a_warning(tmp_path):
    from tuss_fx.media.bwf import BroadcastChunks, BroadcastOutput

    wav = tmp_path / "long.wav"
    sf.write(wav, noise(2, 4800).T, RATE, format="RF64", subtype="PCM_24")
    before = wav.read_bytes()
    plan = BroadcastOutput(BroadcastChunks(Bext(description="Reel 3")), RATE, "tuss-fx test")
    with pytest.warns(MalformedChunkWarning, match="not a RIFF WAVE file"):
        plan.write(wav, {}, RATE, "PCM_24", 2)
    assert wav.read_bytes() == before and not list(tmp_path.glob("*.part"))
