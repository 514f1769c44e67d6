import numpy as np
import pytest
import soundfile as sf

from tuss_fx.errors import AudioReadError
from tuss_fx.media.audio_io import AtomicWriter, WriterGroup, probe, read_audio, read_blocks

from tests.conftest import noise


def _wav(path, frames=4800, channels=2, subtype="FLOAT", rate=48000):
    sf.write(path, noise(channels, frames).T, rate, subtype=subtype)
    return path


def test_read_back_what_was_written(tmp_path):
    path = _wav(tmp_path / "a.wav")
    audio, rate = read_audio(path)
    assert rate == 48000 and audio.shape == (2, 4800)
    np.testing.assert_array_equal(audio, noise(2, 4800))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (p.write_text("this is text, not audio"), p)[1], "not a readable audio file"),
        (lambda p: (p.write_bytes(_wav(p).read_bytes()[:9000]), p)[1], "truncated"),
        (lambda p: (sf.write(p, np.zeros((0, 1)), 48000), p)[1], "zero length"),
    ],
)
def test_bad_inputs(tmp_path, make, message):
    path = make(tmp_path / "bad.wav")
    with pytest.raises(AudioReadError, match=message):
        read_audio(path)


def test_truncated_flac(tmp_path):
    path = tmp_path / "cut.flac"
    sf.write(path, noise(1, 48000).T, 48000)
    path.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(AudioReadError, match="truncated"):
        read_audio(path)


def test_nan_samples(tmp_path):
    audio = noise(1, 1000)
    audio[0, 700] = np.inf
    sf.write(tmp_path / "nan.wav", audio.T, 48000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="frame 700"):
        read_audio(tmp_path / "nan.wav")


def test_failed_group_leaves_no_file(tmp_path):
    paths = {"a": tmp_path / "t" / "a.wav", "b": tmp_path / "t" / "b.wav"}
    with pytest.raises(RuntimeError):
        with WriterGroup(paths, 48000, 1, "wav") as writers:
            writers["a"].write(noise(1, 100))
            raise RuntimeError("model failed")
    assert list(tmp_path.iterdir()) == []  # no file, and the folder the group made is gone too


def test_atomic_writer_commits(tmp_path):
    writer = AtomicWriter(tmp_path / "x.flac", 44100, 2, "flac")
    writer.write(noise(2, 100))
    assert not (tmp_path / "x.flac").exists()
    writer.commit()
    assert probe(tmp_path / "x.flac").num_frames == 100


@pytest.mark.parametrize("sample_rate", [1, 999, 800_000])
def test_a_sample_rate_no_audio_has_is_refused(tmp_path, sample_rate):
    """A 1 Hz header would otherwise mean hours of resampling to 48 kHz for a few kilobytes."""
    sf.write(tmp_path / "odd.wav", noise(1, 1000).T, sample_rate)
    with pytest.raises(AudioReadError, match=f"odd.wav: sample rate {sample_rate} Hz is outside"):
        probe(tmp_path / "odd.wav")


def test_an_excerpt_reads_its_frames_of_a_file_and_of_a_film(tmp_path):
    """AudioInfo.excerpt: what a conform streams of a source. WAV: libsndfile seeks. Films whose codec
    decodes packet by packet (PCM in MOV and MXF, float PCM in MKV, ALAC in MP4) seek and place the
    frames by timestamp; the samples must be exactly those a decode from the start gives."""
    from tests.film_clips import CLIP_CODECS, soundtrack, write_clip
    from tests.film_clips import RATE as FILM_RATE

    track = soundtrack(12.0, 2)
    sf.write(tmp_path / "a.wav", track.T, FILM_RATE, subtype="FLOAT")
    paths = [tmp_path / "a.wav"]
    for suffix, codec in CLIP_CODECS.items():
        write_clip(tmp_path / f"a{suffix}", [track], FILM_RATE, codec, subtitle=None)
        paths.append(tmp_path / f"a{suffix}")
    for path in paths:
        info = probe(path)
        whole = np.concatenate(list(read_blocks(info)), axis=1)
        for first, count in ((0, 1000), (1023, 4097), (30001, 12345), (9 * FILM_RATE + 7, 3 * FILM_RATE - 7)):
            excerpt = info.excerpt(first, count)
            read = np.concatenate(list(read_blocks(excerpt, block_frames=4096)), axis=1)
            np.testing.assert_array_equal(read, whole[:, first:first + count], err_msg=f"{path.name} at {first}")
        assert info.excerpt(30001, 100).excerpt(5, 10).first_frame == 30006
    with pytest.raises(ValueError, match="not inside"):
        probe(tmp_path / "a.wav").excerpt(12 * FILM_RATE - 5, 10)


@pytest.mark.parametrize("file_format", ["wav32f", "wav24", "flac"])
def test_a_scratch_writer_writes_the_same_file_as_a_durable_one(tmp_path, file_format):
    """durable=False (scratch files: read back, then removed) writes through a file object, closed without
    libsndfile's fsync: byte for byte the file a durable writer makes, readable after close, gone on abort."""
    block = (0.3 * np.random.default_rng(4).standard_normal((3, 30_000))).astype(np.float32)
    paths = []
    for durable in (True, False):
        writer = AtomicWriter(tmp_path / f"{durable}.{'flac' if file_format == 'flac' else 'wav'}", 48000, 3,
                              file_format, durable=durable)
        for start in range(0, block.shape[1], 7_000):
            writer.write(block[:, start:start + 7_000])
        writer.close()
        paths.append(writer.temp_path)
        assert probe(writer.temp_path).num_frames == block.shape[1]
    assert paths[0].read_bytes() == paths[1].read_bytes()
    scratch = AtomicWriter(tmp_path / "gone.wav", 48000, 3, "wav32f", durable=False)
    scratch.write(block)
    scratch.abort()
    assert not scratch.temp_path.exists() and not (tmp_path / "gone.wav").exists()
