"""Film containers out: picture and subtitles copied packet for packet, the chosen audio track
replaced by exactly what the WAV path produces (within the codec's step), timing kept."""

import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.errors import AudioWriteError
from tuss_fx.media.audio_io import BLOCK_FRAMES, probe, read_audio
from tuss_fx.media.remux import film_timecode, plan_remux
from tuss_fx.mix.film import remix_film
from tuss_fx.mix.presets import load_preset
from tuss_fx.separation.separator import Separator

from tests.film_clips import CLIP_CODECS, RATE, cues, packets, soundtrack, write_clip

# the replaced track keeps the clip's codec (auto): float PCM exact; 24-bit PCM and ALAC within half a step
REMIX_TOLERANCE = {".mkv": 0.0, ".mov": 2.0**-24, ".mp4": 2.0**-24, ".mxf": 2.0**-24}


@pytest.fixture()
def run(parity_dir):
    def invoke(*args):
        return CliRunner().invoke(main, [*map(str, args), "--checkpoint", str(parity_dir), "--segment-seconds", "1"])

    return invoke


def _wav_of_track(film, target):
    audio, rate = read_audio(film)
    sf.write(target, audio.T, rate, subtype="FLOAT")
    return target


@pytest.mark.parametrize("suffix", sorted(CLIP_CODECS))
def test_remix_of_a_film_copies_picture_and_equals_the_wav_path(run, tmp_path, suffix):
    film = tmp_path / f"reel{suffix}"
    start = 0.0 if suffix == ".mxf" else 0.2  # FFmpeg's MXF muxer starts every track with the body
    write_clip(film, [soundtrack(2.0)], RATE, CLIP_CODECS[suffix], audio_start_seconds=start)
    out = tmp_path / f"reel.boosted{suffix}"
    result = run("remix", film, "--preset", "dialogue-boost", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"audio track 1 replaced: {CLIP_CODECS[suffix]}" in result.stderr and "lossless" in result.stderr

    reference = tmp_path / "reference.wav"
    assert run("remix", _wav_of_track(film, tmp_path / "track.wav"), "--preset", "dialogue-boost",
               "-o", reference).exit_code == 0
    assert packets(out, "video") == packets(film, "video")  # bytes, pts, dts and durations
    assert cues(out) == cues(film) and (cues(film) or suffix == ".mxf")
    before, after = probe(film), probe(out)
    assert (after.num_frames, after.num_channels, after.sample_rate) == (before.num_frames, 2, RATE)
    assert after.start_seconds == pytest.approx(before.start_seconds, abs=0.5 / RATE) == pytest.approx(start, abs=1e-4)
    expected, _ = read_audio(reference)
    remixed, _ = read_audio(out)
    assert np.abs(remixed - expected).max() <= REMIX_TOLERANCE[suffix] * 1.0001
    assert not np.allclose(remixed, read_audio(film)[0], atol=1e-3)  # the track really was replaced


def test_other_audio_tracks_are_kept_or_dropped(run, tmp_path):
    film = tmp_path / "reel.mov"
    write_clip(film, [soundtrack(1.5, seed=1), soundtrack(1.5, 6, seed=2)], RATE, "pcm_s24le")
    kept, dropped = tmp_path / "kept.mov", tmp_path / "dropped.mov"
    assert run("remix", film, "--audio-track", "2", "-o", kept).exit_code == 0
    with av.open(str(kept)) as container:
        assert [(s.codec_context.name, s.channels) for s in container.streams.audio] == [("pcm_s24le", 2),
                                                                                       ("pcm_s24le", 6)]
    assert packets(kept, "audio", 1) == packets(film, "audio", 1)  # track 1 copied untouched
    assert packets(kept, "audio", 2) != packets(film, "audio", 2)
    assert run("remix", film, "--audio-track", "2", "--drop-other-audio", "-o", dropped).exit_code == 0
    with av.open(str(dropped)) as container:
        assert [s.channels for s in container.streams.audio] == [6]
    assert packets(dropped, "video") == packets(film, "video")


def test_default_output_is_the_same_container_beside_the_input(run, tmp_path):
    film = tmp_path / "reel.mkv"
    write_clip(film, [soundtrack(1.0)], RATE, "pcm_f32le")
    result = run("remix", film, "--preset", "dme")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == str(tmp_path / "reel.dme.mkv")


def test_audio_codec_choice_and_lossy_fallback(run, tmp_path):
    film = tmp_path / "reel.mov"
    write_clip(film, [soundtrack(1.0)], RATE, "pcm_s24le")
    aac = tmp_path / "reel.mp4"
    result = run("remix", film, "--audio-codec", "aac", "-o", aac)
    assert result.exit_code == 0, result.output
    assert "aac 256 kb/s (lossy" in result.stderr
    with av.open(str(aac)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.streams.audio[0].bit_rate >= 250_000
    assert packets(aac, "video") == packets(film, "video")


@pytest.mark.parametrize("case, problem", [
    ("wav in", "is an audio file with no picture to copy; write the remix as .wav or .flac"),
    ("webm at 44.1 kHz", "opus cannot carry 44100 Hz audio"),
    ("flac in mov", "the mov muxer refuses flac audio or a copied stream"),
    ("mpeg4 picture into webm", "out.webm: cannot copy stream 0 (video mpeg4) into webm: 'webm' format does not "
                                "support 'mpeg4' codec"),
])
def test_impossible_film_outputs_fail_before_separating(run, tmp_path, case, problem):
    if case == "wav in":
        source, target = tmp_path / "in.wav", tmp_path / "out.mov"
        sf.write(source, soundtrack(0.5).T, RATE)
        args = []
    else:
        source = tmp_path / "in.mkv"
        rate = 44100 if "44.1" in case else RATE
        write_clip(source, [soundtrack(0.5)], rate, "pcm_f32le", subtitle=None)
        target = tmp_path / ("out.webm" if "webm" in case else "out.mov")
        args = ["--audio-codec", "flac"] if "flac" in case else []
    result = run("remix", source, "-o", target, "--stems-dir", tmp_path / "stems", *args)
    assert result.exit_code == 1 and problem in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]  # no output, no stems, no temp


def test_a_failed_remux_leaves_nothing(separator, tmp_path, monkeypatch):
    """FFmpeg failing half-way through the copy (a disk filling up) removes the partial film."""
    from tuss_fx.media import remux

    film = tmp_path / "reel.mov"
    write_clip(film, [soundtrack(1.0)], RATE, "pcm_s24le")
    real_mux = av.container.OutputContainer.mux
    calls = []

    def failing_mux(self, packets):
        calls.append(1)
        if len(calls) > 3:
            raise av.error.OSError(28, "No space left on device")
        return real_mux(self, packets)

    monkeypatch.setattr(av.container.OutputContainer, "mux", failing_mux)
    plan = plan_remux(probe(film), tmp_path / "out" / "reel.mov")
    with pytest.raises(AudioWriteError, match="FFmpeg failed to write it .*No space left on device"):
        remux.replace_audio_track(plan, probe(film))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reel.mov"]  # the out/ folder it made is gone too


def test_progress_runs_through_separation_and_copy_to_the_end(separator, tmp_path):
    from tuss_fx.mix.film import remix_film
    from tuss_fx.mix.presets import load_preset

    film = tmp_path / "reel.mov"
    write_clip(film, [soundtrack(2.0)], RATE, "pcm_s24le")
    separator.segment_seconds = 1.0
    calls = []
    remix_film(separator, load_preset("dme"), film, tmp_path / "out.mov", lambda *call: calls.append(call))
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] and {t for _, t in calls} == {calls[-1][1]}
    assert any(d > 2 * RATE for d in done[:-1])  # the copy into the film reported on its own, before the end


def _timecode_track(path):
    """(timecode tag, first sample's frame count) of a QuickTime/MP4 timecode track; (file tag, None) for MXF."""
    with av.open(str(path)) as container:
        tracks = [s for s in container.streams if s.type == "data" and "timecode" in s.metadata]
        if not tracks:
            return container.metadata.get("timecode"), None
        sample = next(bytes(p) for p in container.demux(tracks[0]) if p.size)
        return tracks[0].metadata["timecode"], int.from_bytes(sample[:4], "big")


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mxf"])
def test_timecode_is_carried_into_the_copy(run, tmp_path, suffix):
    """As Premiere, Resolve, Avid and Final Cut export: a start timecode of 01:00:00:00 at 25 fps."""
    film = tmp_path / f"tc{suffix}"
    write_clip(film, [soundtrack(1.0)], RATE, CLIP_CODECS[suffix], timecode="01:00:00:00")
    assert _timecode_track(film)[0] == "01:00:00:00"
    out = tmp_path / f"tc.out{suffix}"
    result = run("remix", film, "--preset", "dialogue-boost", "-o", out)
    assert result.exit_code == 0, result.output
    assert _timecode_track(out) == _timecode_track(film)
    if suffix != ".mxf":  # the timecode sample counts frames at the picture's rate: 1 h at 25 fps
        assert _timecode_track(out)[1] == 90000
    assert "warning" not in result.stderr


FILM_RATES = [(Fraction(24000, 1001), "01:00:00:00"), (Fraction(24), "01:00:00:00"), (Fraction(25), "10:00:00:12"),
              (Fraction(30000, 1001), "00:59:59:28"), (Fraction(30000, 1001), "00:59:59;28"),
              (Fraction(30), "01:00:00:00"), (Fraction(48), "01:00:00:00"), (Fraction(50), "01:00:00:00"),
              (Fraction(60000, 1001), "01:00:00:00"), (Fraction(60000, 1001), "00:59:59;56"),
              (Fraction(60), "01:00:00:00")]


@pytest.fixture(scope="module")
def dialogue_separator(parity_model):
    """The dialogue plan without TUSS: DFN3 serves speech, so each film remixes in a fraction of a second."""
    return Separator(parity_model, device="cpu", dialogue_engine="deepfilternet")


@pytest.mark.parametrize("suffix", [".mov", ".mp4", ".mxf"])
@pytest.mark.parametrize("frame_rate, timecode", FILM_RATES, ids=[f"{float(r):.3f}-{t}" for r, t in FILM_RATES])
def test_timecode_survives_a_remix_at_every_film_rate(dialogue_separator, tmp_path, suffix, frame_rate, timecode):
    """23.976, 29.97 and 59.94 (drop-frame and not) failed in MOV and MP4 before: the muxer's timecode
    track read the picture rate from the time base. The copy's timecode equals the source's: label
    (drop-frame flag in its separator), picture rate, and the frame count of the timecode sample."""
    film, out = tmp_path / f"tc{suffix}", tmp_path / f"tc.out{suffix}"
    write_clip(film, [soundtrack(0.5)], RATE, CLIP_CODECS[suffix], subtitle=None, timecode=timecode,
               frame_rate=frame_rate)
    assert film_timecode(film) == (timecode, frame_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a timecode every container carries: no warning
        remix_film(dialogue_separator, load_preset("dme"), film, out)
    assert film_timecode(out) == (timecode, frame_rate)
    assert _timecode_track(out) == _timecode_track(film)


def test_chapters_are_copied(run, tmp_path):
    film = tmp_path / "chapters.mov"
    chapters = [(0.0, 0.6, "Cold open"), (0.6, 1.0, "Titles")]
    write_clip(film, [soundtrack(1.0)], RATE, "pcm_s24le", timecode="10:00:00:12", chapters=chapters)
    out = tmp_path / "chapters.out.mov"
    result = run("remix", film, "--preset", "dme", "-o", out)
    assert result.exit_code == 0, result.output
    with av.open(str(film)) as before, av.open(str(out)) as after:
        assert [(c["start"], c["end"], c["metadata"]["title"]) for c in after.chapters()] == \
            [(c["start"], c["end"], c["metadata"]["title"]) for c in before.chapters()]
    assert _timecode_track(out)[0] == "10:00:00:12"
    assert "warning" not in result.stderr  # QuickTime's chapter text track is the chapters, not a lost track


def test_a_data_track_the_target_cannot_hold_is_dropped_with_a_warning(run, tmp_path):
    from fractions import Fraction

    film = tmp_path / "camera.mp4"
    write_clip(film, [soundtrack(1.0)], RATE, "alac", subtitle=None)
    with_data = tmp_path / "camera-meta.mp4"
    with av.open(str(film)) as source, av.open(str(with_data), "w", format="mp4") as output:
        copies = {s.index: output.add_stream_from_template(s) for s in source.streams}
        meta = output.add_data_stream("bin_data")
        meta.time_base = Fraction(1, 1000)
        packet = av.Packet(b"camera-metadata")
        packet.stream, packet.pts, packet.dts, packet.duration = meta, 0, 0, 1000
        output.mux(packet)
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                output.mux(packet)
    kept = run("remix", with_data, "--preset", "dme", "-o", tmp_path / "kept.mp4")
    assert kept.exit_code == 0 and "warning" not in kept.stderr
    assert [s.type for s in av.open(str(tmp_path / "kept.mp4")).streams].count("data") == 1
    dropped = run("remix", with_data, "--preset", "dme", "-o", tmp_path / "out.mkv")
    assert dropped.exit_code == 0, dropped.output
    assert "warning: " in dropped.stderr and "stream 2 (data" in dropped.stderr and "matroska muxer cannot hold it" \
        in dropped.stderr
    # the picture still goes through, packet for packet (Matroska keeps its own millisecond timestamps)
    assert [p[0] for p in packets(tmp_path / "out.mkv", "video")] == [p[0] for p in packets(with_data, "video")]


def test_the_remux_holds_no_more_audio_at_ten_minutes_than_at_one(tmp_path, monkeypatch):
    """The copy into the film keeps its memory flat: the new audio is encoded only AUDIO_LEAD_SECONDS
    ahead of the packets being copied (the muxer's queue holds that, not the film), at 1 minute and at
    10. Measured on the feed itself: how far its encoded audio ran ahead of the copy at each packet."""
    from tuss_fx.media import remux

    leads: list[float] = []
    original = remux._AudioFeed.packets_until

    def watched(feed, seconds):
        yield from original(feed, seconds)
        if seconds is not None:
            leads.append(feed._next_pts / feed._rate - (seconds - remux.AUDIO_LEAD_SECONDS))

    monkeypatch.setattr(remux._AudioFeed, "packets_until", watched)
    rate, most = 8000, {}
    for minutes in (1, 10):
        film = tmp_path / f"reel{minutes}.mov"
        write_clip(film, [soundtrack(minutes * 60.0, num_channels=1)[:, ::6].copy()], rate, "pcm_s16le",
                   subtitle=None)
        leads.clear()
        plan = plan_remux(probe(film), tmp_path / f"out{minutes}.mov")
        remux.replace_audio_track(plan, probe(film))
        most[minutes] = max(leads)
        assert probe(tmp_path / f"out{minutes}.mov").num_frames == minutes * 60 * rate
    block_seconds = BLOCK_FRAMES / rate  # the feed reads whole blocks: at most one past the lead
    assert max(most.values()) <= remux.AUDIO_LEAD_SECONDS + block_seconds
    assert most[10] <= most[1] + block_seconds  # no growth with the length


@pytest.mark.parametrize("suffix, tagged", [(".mkv", "deu"), (".mp4", "deu"), (".mov", "ger")])
def test_a_dub_is_added_as_a_language_track_with_the_film_untouched(run, tmp_path, suffix, tagged):
    """--add-track: the film's own audio and picture copied packet for packet (bytes, pts, dts), the remix after
    them as a second audio track tagged German with its title and not the default track; timecode kept.
    QuickTime (MOV) takes ISO 639-2's bibliographic code, ger; MKV and MP4 the terminological, deu."""
    film = tmp_path / f"reel{suffix}"
    codec = {".mkv": "pcm_f32le", ".mp4": "alac", ".mov": "pcm_s24le"}[suffix]
    write_clip(film, [soundtrack(1.0)], RATE, codec, timecode="01:00:00:00")
    sf.write(tmp_path / "dub.wav", 0.5 * soundtrack(1.0).T, RATE, subtype="FLOAT")
    out = tmp_path / f"reel.deu{suffix}"
    result = run("remix", film, "--preset", "dme", "--replace", f"speech={tmp_path / 'dub.wav'}", "--add-track",
                 "--language", "deu", "--track-title", "Deutsch", "-o", out)
    assert result.exit_code == 0, result.output
    assert "added as a deu track" in result.stderr
    with av.open(str(out)) as container:
        audio = container.streams.audio
        assert len(audio) == 2
        assert audio[1].metadata.get("language") == tagged
        assert "Deutsch" in (audio[1].metadata.get("title"), audio[1].metadata.get("name"))
        assert not audio[1].disposition & av.stream.Disposition.default
    assert packets(out, "video") == packets(film, "video")  # the picture, byte for byte
    assert packets(out, "audio", 1) == packets(film, "audio", 1)  # the original language, untouched
    assert film_timecode(out) == film_timecode(film)


@pytest.mark.parametrize("args, problem", [
    (["--add-track"], "--language required"),
    (["--language", "deu"], "go together"),
    (["--add-track", "--language", "German"], "not an ISO 639-2 code"),
    (["--add-track", "--language", "deu", "--drop-other-audio"], "cannot also drop it"),
])
def test_an_added_track_needs_a_language_and_keeps_the_film_s_audio(run, tmp_path, args, problem):
    film = tmp_path / "reel.mov"
    write_clip(film, [soundtrack(0.5)], RATE, "pcm_s24le")
    result = run("remix", film, "--preset", "dme", "-o", tmp_path / "out.mov", *args)
    assert result.exit_code in (1, 2) and problem in result.output, result.output
    assert not (tmp_path / "out.mov").exists()
