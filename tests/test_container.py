"""Reading the audio tracks of film containers: exact samples, tracks, layouts, one-line errors."""

import numpy as np
import pytest
import soundfile as sf

from tuss_fx.errors import AudioReadError
from tuss_fx.media.audio_io import probe, read_audio, read_blocks

from tests.film_clips import CLIP_CODECS, RATE, soundtrack, write_clip

# what each codec keeps of a float sample: float PCM all of it; 24-bit PCM and ALAC half a step of 2^-23
CODEC_TOLERANCE = {"pcm_f32le": 0.0, "pcm_s24le": 2.0**-24, "alac": 2.0**-24}


@pytest.mark.parametrize("suffix", sorted(CLIP_CODECS))
def test_track_reads_back_the_samples_written(tmp_path, suffix):
    audio = soundtrack()
    path = tmp_path / f"clip{suffix}"
    write_clip(path, [audio], RATE, CLIP_CODECS[suffix])
    info = probe(path)
    assert (info.sample_rate, info.num_channels, info.num_frames, info.audio_track) == (RATE, 2, audio.shape[1], 1)
    back = np.concatenate(list(read_blocks(info, block_frames=10000)), axis=1)
    assert back.dtype == np.float32 and back.shape == audio.shape
    assert np.abs(back - audio).max() <= CODEC_TOLERANCE[CLIP_CODECS[suffix]] * 1.0001


def test_tracks_are_numbered_from_one_and_keep_their_layout(tmp_path):
    dialogue, surround = soundtrack(1.0, 2, seed=1), soundtrack(1.0, 6, seed=2)
    path = tmp_path / "two tracks.mkv"
    write_clip(path, [dialogue, surround], RATE, "pcm_f32le")
    first, second = probe(path), probe(path, audio_track=2)
    assert (first.num_channels, second.num_channels, second.audio_track) == (2, 6, 2)
    np.testing.assert_array_equal(read_audio(path)[0], dialogue)
    np.testing.assert_array_equal(np.concatenate(list(read_blocks(second)), axis=1), surround)  # 5.1 in its order


def test_audio_start_timestamp_is_read(tmp_path):
    path = tmp_path / "late.mov"
    write_clip(path, [soundtrack(1.0)], RATE, "pcm_s24le", audio_start_seconds=0.5)
    assert probe(path).start_seconds == pytest.approx(0.5, abs=1 / RATE)


@pytest.mark.parametrize("case, problem", [
    ("no audio", "has no audio track (video mpeg4"),
    ("track 3", "has no audio track 3: it has 1 (numbered from 1: 1 = pcm_s24le stereo)"),
    ("not a film", "FFmpeg cannot open it (Invalid data found when processing input)"),
    ("track 2 of a wav", "is an audio file with one track; there is no audio track 2"),
])
def test_bad_containers_are_one_line_errors(tmp_path, case, problem):
    path = tmp_path / ("clip.wav" if "wav" in case else "clip.mov")
    if case == "no audio":
        write_clip(path, [soundtrack(0.5)], RATE, "pcm_s24le")
        _strip_audio(path, tmp_path / "silent.mov")
        path = tmp_path / "silent.mov"
    elif case == "track 3":
        write_clip(path, [soundtrack(0.5)], RATE, "pcm_s24le")
    elif case == "not a film":
        path.write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(200))
    else:
        sf.write(path, soundtrack(0.5).T, RATE)
    with pytest.raises(AudioReadError) as error:
        probe(path, 3 if case == "track 3" else 2 if "wav" in case else None)
    assert str(error.value).startswith(f"{path}: {problem}")
    assert "\n" not in str(error.value)


def _strip_audio(source, target):
    import av

    with av.open(str(source)) as container, av.open(str(target), "w", format="mov") as output:
        video = output.add_stream_from_template(container.streams.video[0])
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                packet.stream = video
                output.mux(packet)


def test_separate_cli_takes_a_film_and_its_track(tmp_path, parity_dir):
    from click.testing import CliRunner

    from tuss_fx.cli.commands import main

    path = tmp_path / "reel.mkv"
    write_clip(path, [soundtrack(1.0, 2, seed=1), soundtrack(1.2, 1, seed=2)], RATE, "pcm_f32le")
    result = CliRunner().invoke(main, ["separate", str(path), "--audio-track", "2", "-o", str(tmp_path / "out"),
                                       "--checkpoint", str(parity_dir)])
    assert result.exit_code == 0, result.output
    speech, rate = sf.read(tmp_path / "out" / "reel" / "speech.wav", always_2d=True)
    assert rate == RATE and speech.shape == (round(1.2 * RATE), 1)  # the second (mono, 1.2 s) track's stems
