"""tuss-fx conform: editors' exports (the adapters' own sample AAFs, FCP XML and EDL, with media
synthesized at the names and lengths they reference) and timelines built here, end to end."""

from __future__ import annotations

import json
import os
import socket
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from tests.conftest import require
from tests.timeline_media import RATE, build_timeline, ramp_wav, synthesize_media
from tuss_fx.batch.jobs import BatchJob
from tuss_fx.cli import main
from tuss_fx.media.audio_io import probe, read_audio, read_blocks
from tuss_fx.media.bwf import read_chunks
from tuss_fx.timeline.conform import ConformJob, run_conform
from tuss_fx.timeline.edit import TimelineError, clock, exact_rate, read_timeline, seconds
from tuss_fx.timeline.plan import conform_timeline, plan_conform

otio = require("opentimelineio", "OpenTimelineIO (the timeline extra, in dev) reads the timelines")
SAMPLES = Path(__file__).parent / "timelines"
# the dialogue plan (DFN3, then mix - dialogue) is the quicker engine over minutes of media; at unity
# the stems sum back to the mix under either plan
NULL_PRESET = 'name = "null"\nprompts = ["speech"]\nplan = "dialogue"\n[master]\nceiling_db = 0.0\n'
DITHER_24 = 3 * 2.0 ** -23  # TPDF dither of 24-bit PCM: at most 2 LSB, plus rounding


@pytest.fixture()
def null_preset(tmp_path) -> Path:
    path = tmp_path / "null.toml"
    path.write_text(NULL_PRESET)
    return path


def _conform(timeline: Path, parity_dir, *extra) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["conform", str(timeline), "--checkpoint", str(parity_dir), "-q", *extra])
    return result.exit_code, result.stdout, result.stderr


def _positions(timeline) -> list[tuple]:
    """Every audio clip's track, name, record range and source range, exactly as the timeline holds them."""
    return [(number, clip.name, clip.range_in_parent(), clip.source_range)
            for number, track in enumerate(timeline.audio_tracks()) for clip in track.find_clips()]


def _source_excerpt(path: Path, start: int, frames: int) -> np.ndarray:
    return np.concatenate(list(read_blocks(probe(path).excerpt(start, frames))), axis=1)


def test_ntsc_rates_are_exact_and_drop_frame_timecode_lands_on_the_wall_clock():
    assert exact_rate(29.97) == Fraction(30000, 1001) and exact_rate(23.976) == Fraction(24000, 1001)
    assert exact_rate(59.94) == Fraction(60000, 1001) and exact_rate(25.0) == 25
    # 05:00:00;00 drop-frame is frame 539460; at 30000/1001 that is 17999.982 s, 18 ms before 5 h of wall clock
    assert seconds(otio.opentime.RationalTime(539460, 29.97)) == Fraction(539460 * 1001, 30000)
    assert otio.opentime.RationalTime(539460, 29.97).to_seconds() != float(Fraction(539460 * 1001, 30000))


def test_multitrack_aaf_conforms_each_source_range_once_and_relinks_every_clip(tmp_path, parity_dir, null_preset):
    """The gate on Avid's multitrack.aaf: 16 clips on 2 tracks, 5 sources; every clip re-linked, record and
    source positions identical, each range processed once, null preset = source to 24-bit dither."""
    original = read_timeline(SAMPLES / "multitrack.aaf")
    media = synthesize_media(original, tmp_path / "moved")
    out = tmp_path / "out"
    code, stdout, stderr = _conform(SAMPLES / "multitrack.aaf", parity_dir, "--preset", str(null_preset),
                                    "--media-root", str(tmp_path / "moved"), "-o", str(out))
    assert code == 0, stderr
    assert "16 clips on 2 tracks" in stderr and "5 source ranges of 5 sources" in stderr
    assert "5 ranges processed, 0 skipped" in stderr
    assert stdout.split() == [str(out / "multitrack.aaf"), str(out / "multitrack.otio")]
    for written in (out / "multitrack.aaf", out / "multitrack.otio"):
        conformed = read_timeline(written)
        assert _positions(conformed) == _positions(original)
        assert conformed.global_start_time == original.global_start_time
        for clip in (clip for track in conformed.audio_tracks() for clip in track.find_clips()):
            assert Path(clip.media_reference.target_url).parent.name == "media", clip.media_reference.target_url
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(entry["status"] for entry in manifest) == ["done"] * 5
    for entry in manifest:
        wav = Path(entry["outputs"]["audio"]["path"])
        source = Path(entry["source"])
        assert source in media.values()
        written, rate = read_audio(wav)
        assert probe(wav).pcm_bits == 24 and rate == RATE
        expected = _source_excerpt(source, entry["first_frame"], entry["frames"])
        assert written.shape == expected.shape and np.abs(written - expected).max() <= DITHER_24
        bext = read_chunks(wav).bext
        assert bext.description == source.name  # Avid names the clips after their files
        assert bext.time_reference == round((3600 if source.stem != "KOLL-HD" else 0) * RATE) + entry["first_frame"]


def test_drop_frame_aaf_six_tracks_of_one_source_are_one_range(tmp_path, parity_dir, null_preset):
    """2997fps-DFTC.aaf: six audio tracks at 29.97 drop-frame from 05:00:00;00, all playing one .mov.
    The AAF adapter cannot write this file's video track back (not even unchanged: its descriptor has
    no ImageAspectRatio), so the conformed timeline is the OTIO file, and the run says why."""
    original = read_timeline(SAMPLES / "2997fps-DFTC.aaf")
    synthesize_media(original, tmp_path / "media")
    out = tmp_path / "out"
    code, stdout, stderr = _conform(SAMPLES / "2997fps-DFTC.aaf", parity_dir, "--preset", str(null_preset),
                                    "--media-root", str(tmp_path / "media"), "-o", str(out))
    assert code == 0, stderr
    assert "6 clips on 6 tracks" in stderr and "1 source ranges of 1 sources" in stderr
    assert "1 ranges processed" in stderr
    assert stdout.split() == [str(out / "2997fps-DFTC.otio")]
    assert "warning: the AAF adapter cannot write this timeline (KeyError: 'ImageAspectRatio')" in stderr
    assert not (out / "2997fps-DFTC.aaf").exists()
    conformed = read_timeline(out / "2997fps-DFTC.otio")
    assert _positions(conformed) == _positions(original)
    assert conformed.global_start_time == original.global_start_time
    start = conformed.global_start_time
    assert clock(start.rate).label(float(seconds(start))) == "05:00:00;00"
    assert len({clip.media_reference.target_url for track in conformed.audio_tracks()
                for clip in track.find_clips()}) == 1


def test_sample_accurate_source_timecode_at_29_97_drop_frame(tmp_path, parity_dir, null_preset):
    """Clips cut into a Broadcast WAV that starts at 01:00:00;00 DF: each range's first sample is the
    source's sample at its timecode, and its TimeReference says so, to the sample."""
    rate = 48000
    start_frame = 107892  # 01:00:00;00 drop-frame
    media_start = Fraction(start_frame * 1001, 30000)
    source = tmp_path / "media" / "take1.wav"
    source.parent.mkdir()
    samples = ramp_wav(source, 120.0, rate)
    uses = [("line 1", source, start_frame, 3596, start_frame + 1800, 300, 0),  # 01:01:00;02, 2 s handles
            ("line 2", source, start_frame, 3596, start_frame + 1950, 200, 10),  # overlaps line 1's: merged
            ("line 3", source, start_frame, 3596, start_frame + 3000, 90, 10)]  # a range of its own
    timeline = build_timeline(otio, 29.97, {"DIA 1": uses})
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    out = tmp_path / "out"
    code, _, stderr = _conform(path, parity_dir, "--preset", str(null_preset), "--format", "wav32f", "-o", str(out))
    assert code == 0, stderr
    assert "3 clips on 1 tracks" in stderr and "2 source ranges" in stderr
    unit = Fraction(30000, 1001)
    for entry in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()):
        wav = Path(entry["outputs"]["audio"]["path"])
        first = entry["first_frame"]
        written, _ = read_audio(wav)
        # float rounding of dialogue + background: under half the ramp's step (8.7e-8), so a sample off shows
        np.testing.assert_allclose(written[0], samples[first:first + entry["frames"]], rtol=0, atol=4e-8)
        assert read_chunks(wav).bext.time_reference == round(media_start * rate) + first
    low = round((Fraction(1800 - 60, 1) / unit) * rate)  # 2 s handles = 59.94 frames, widened to 60
    assert sorted(json.loads(line)["first_frame"] for line in (out / "manifest.jsonl").read_text().splitlines()) \
        == [low, round(Fraction(3000 - 60) / unit * rate)]
    conformed = read_timeline(out / "edit.otio")
    assert _positions(conformed) == _positions(timeline)


def test_null_conform_changes_nothing_but_the_references(tmp_path, parity_dir, null_preset):
    """Names, markers, gaps, metadata, positions and the track not chosen are the input's."""
    media = tmp_path / "media"
    media.mkdir()
    ramp_wav(media / "a.wav", 20.0, RATE)
    ramp_wav(media / "m.wav", 20.0, RATE)
    timeline = build_timeline(otio, 24, {"DIA 1": [("a1", media / "a.wav", 0, 480, 48, 96, 24)],
                                         "MX": [("m1", media / "m.wav", 0, 480, 0, 200, 0)]})
    timeline.tracks[0].metadata["mixer"] = {"note": "keep me"}
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    code, _, stderr = _conform(path, parity_dir, "--preset", str(null_preset), "--tracks", "dia*",
                               "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    conformed = read_timeline(tmp_path / "out" / "edit.otio")
    chosen = conformed.tracks[0].find_clips()[0]
    assert Path(chosen.media_reference.target_url).name == "a_00000000.wav"
    chosen.media_reference = timeline.tracks[0].find_clips()[0].media_reference.clone()
    assert otio.adapters.write_to_string(conformed) == otio.adapters.write_to_string(timeline)


def test_split_makes_one_track_per_stem_that_sums_to_the_source(tmp_path, parity_dir):
    media = tmp_path / "media"
    media.mkdir()
    samples = ramp_wav(media / "a.wav", 12.0, RATE)
    timeline = build_timeline(otio, 24, {"DIA 1": [("a1", media / "a.wav", 0, 288, 60, 100, 0)],
                                         "MX": [("m1", media / "a.wav", 0, 288, 0, 50, 0)]})
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    code, _, stderr = _conform(path, parity_dir, "--split", "speech,background", "--tracks", "DIA 1",
                               "--format", "wav32f", "-o", str(tmp_path / "out"))
    assert code == 0, stderr
    conformed = read_timeline(tmp_path / "out" / "edit.otio")
    assert [track.name for track in conformed.tracks] == ["DIA 1 speech", "DIA 1 background", "MX"]
    stems = [read_audio(otio.url_utils.filepath_from_url(track.find_clips()[0].media_reference.target_url))[0]
             for track in conformed.tracks[:2]]
    entry = json.loads((tmp_path / "out" / "manifest.jsonl").read_text())
    expected = samples[entry["first_frame"]:entry["first_frame"] + entry["frames"]]
    np.testing.assert_allclose(stems[0][0] + stems[1][0], expected, atol=1e-6)
    assert conformed.tracks[2].find_clips()[0].media_reference.target_url == \
        timeline.tracks[1].find_clips()[0].media_reference.target_url


def test_missing_media_is_one_line_naming_the_clip_before_anything_runs(tmp_path, parity_dir, null_preset):
    code, stdout, stderr = _conform(SAMPLES / "multitrack.aaf", parity_dir, "--preset", str(null_preset),
                                    "-o", str(tmp_path / "out"))
    assert code == 1 and stdout == ""
    assert stderr.count("\n") == 1 and "clip 'tech.fux (loop)-HD.mp4' on A1 'Sequence' at 01:00:00:00" in stderr
    assert "/Users/joshm/Desktop/DemoClips/tech.fux (loop)-HD.mp4" in stderr and "--media-root" in stderr
    assert not (tmp_path / "out").exists()


def test_killed_mid_job_a_rerun_skips_finished_ranges_and_ends_the_same(tmp_path, parity_dir, null_preset):
    media = tmp_path / "media"
    media.mkdir()
    for name in ("a", "b", "c"):
        ramp_wav(media / f"{name}.wav", 8.0, RATE)
    timeline = build_timeline(otio, 24, {"DIA": [(name, media / f"{name}.wav", 0, 192, 48, 48, 0) for name in "abc"]})
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    planned = plan_conform(path)

    def job(out: Path) -> ConformJob:
        return ConformJob(BatchJob("remix", out, str(null_preset), checkpoint=str(parity_dir), device="cpu"),
                          planned.ranges, "built", file_format="wav32f")

    class Killed(Exception):
        pass

    done = []

    def kill_in_second_range(frames: int) -> None:
        if len(done) == 1 and frames:
            raise Killed

    with pytest.raises(Killed):
        run_conform(job(tmp_path / "out"), progress=kill_in_second_range, on_entry=done.append)
    assert sorted(p.name for p in (tmp_path / "out" / "media").iterdir()) == ["a_00000000.wav"]  # no half file
    processed = []
    summary, written = conform_timeline(planned, job(tmp_path / "out"), on_entry=processed.append)
    assert (summary.processed, summary.skipped) == (2, 1)
    assert [entry["input"] for entry in processed if entry["status"] == "done"] == ["b_00000000", "c_00000000"]
    clean, _ = conform_timeline(planned, job(tmp_path / "clean"))
    for name in ("a", "b", "c"):
        np.testing.assert_array_equal(read_audio(tmp_path / "out" / "media" / f"{name}_00000000.wav")[0],
                                      read_audio(tmp_path / "clean" / "media" / f"{name}_00000000.wav")[0])
    assert (tmp_path / "out" / "edit.otio").read_text() == (tmp_path / "clean" / "edit.otio").read_text() \
        .replace(str(tmp_path / "clean"), str(tmp_path / "out"))


def test_fcp_xml_from_premiere_conforms_with_media_found_by_name(tmp_path, parity_dir, null_preset):
    original = read_timeline(SAMPLES / "premiere_example.xml")
    synthesize_media(original, tmp_path / "media")
    out = tmp_path / "out"
    code, stdout, stderr = _conform(SAMPLES / "premiere_example.xml", parity_dir, "--preset", str(null_preset),
                                    "--media-root", str(tmp_path / "media"), "-o", str(out))
    assert code == 0, stderr
    conformed = read_timeline(Path(stdout.split()[0]))
    assert Path(stdout.split()[0]).suffix == ".xml"
    assert _positions(conformed) == _positions(original)
    assert all(Path(otio.url_utils.filepath_from_url(clip.media_reference.target_url)).parent == out / "media"
               for track in conformed.audio_tracks() for clip in track.find_clips())


def test_edl_clips_are_found_by_name_and_two_tracks_share_one_range(tmp_path):
    """multi_audio.edl: two audio tracks play 56:55 of clip AX, which an EDL names but does not locate;
    the medium (a Broadcast WAV at 00:00:00:00, 1 kHz to stay small) is found by name under the root."""
    with pytest.raises(TimelineError, match=r"clip 'AX' on A1 .* --media-root"):
        plan_conform(SAMPLES / "multi_audio.edl")
    (tmp_path / "media").mkdir()
    ramp_wav(tmp_path / "media" / "AX.wav", 3416.0, 1000, time_reference=0)
    planned = plan_conform(SAMPLES / "multi_audio.edl", media_roots=[tmp_path / "media"])
    assert len(planned.uses) == 2 and len(planned.ranges) == 1
    assert planned.ranges[0].first_frame == 0 and planned.ranges[0].clips == (0, 1)


def test_an_otioz_bundle_comes_back_as_a_bundle_of_the_new_media(tmp_path, parity_dir, null_preset):
    ramp_wav(tmp_path / "a.wav", 6.0, RATE)
    timeline = build_timeline(otio, 24, {"DIA": [("a1", tmp_path / "a.wav", 0, 144, 24, 48, 0)]})
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otioz"))
    code, stdout, stderr = _conform(tmp_path / "edit.otioz", parity_dir, "--preset", str(null_preset))
    assert code == 0 and "warning" not in stderr, stderr
    bundle = tmp_path / "edit.conformed" / "edit.otioz"
    assert stdout.split()[0] == str(bundle)
    import zipfile

    assert "media/a_00000000.wav" in zipfile.ZipFile(bundle).namelist()


# (media seconds, media frames, source in, frames) at 24 fps: 10 s ranges, and 1 s ones (the work 10x faster)
RANGE_SIZES = {"10 s ranges": (15.0, 360, 48, 240), "1 s ranges": (1.5, 36, 5, 24)}


@pytest.mark.parametrize("sizes", RANGE_SIZES.values(), ids=RANGE_SIZES.keys())
def test_sigkilled_mid_job_the_rerun_skips_what_finished_and_clears_the_dead_run_s_files(tmp_path, parity_dir,
                                                                                        null_preset, sizes):
    """A real kill -9 of `tuss-fx conform` while its third range is being written (a hold point,
    tuss_fx.hold_points, stops it there whatever the machine's speed): no clean-up runs, so the range in
    flight leaves its temporary file; the rerun removes it, skips the two finished ranges, processes only
    the rest, and every medium is its source range (null preset, float)."""
    import subprocess
    import sys
    import time

    seconds, media_frames, source_in, frames = sizes
    media = tmp_path / "media"
    media.mkdir()
    sources = {name: ramp_wav(media / f"{name}.wav", seconds, RATE) for name in "abcd"}
    timeline = build_timeline(otio, 24, {"DIA": [(name, media / f"{name}.wav", 0, media_frames, source_in, frames, 0)
                                                 for name in "abcd"]})
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    command = [str(Path(sys.executable).parent / "tuss-fx"), "conform", str(path), "--preset", str(null_preset),
               "--checkpoint", str(parity_dir), "--format", "wav32f", "-q"]
    holds = tmp_path / "holds"
    holds.mkdir()
    (holds / "third.hold").write_text("c_00000000.wav")
    running = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TUSS_FX_HOLD": str(holds)})
    deadline = time.monotonic() + 240
    while not (holds / "third.held").exists() and time.monotonic() < deadline:
        assert running.poll() is None, "conform ended before its hold point"
        time.sleep(0.02)
    in_flight = Path((holds / "third.held").read_text())
    assert in_flight.exists() and in_flight.parent.name == "media"  # the third range's temporary, mid-write
    running.kill()
    running.wait()
    assert in_flight.exists()  # kill -9: nothing cleaned up
    manifest = tmp_path / "edit.conformed" / "manifest.jsonl"
    assert manifest.read_text().count("\n") == 2  # a and b finished, c held, d not begun
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 ranges processed, 2 skipped (done before)" in rerun.stderr
    assert not in_flight.exists()  # the killed run's temporary file is gone
    assert sorted(p.name for p in (tmp_path / "edit.conformed" / "media").iterdir()) == \
        [f"{name}_00000000.wav" for name in "abcd"]
    for name in "abcd":
        written, _ = read_audio(tmp_path / "edit.conformed" / "media" / f"{name}_00000000.wav")
        np.testing.assert_allclose(written[0], sources[name][:written.shape[1]], rtol=0, atol=4e-8)


def test_film_sources_play_the_audio_track_asked_for(tmp_path, parity_dir, null_preset):
    from tests.film_clips import soundtrack, write_clip

    tracks = [soundtrack(3.0, 1, seed=1), soundtrack(3.0, 2, seed=2)]
    write_clip(tmp_path / "take.mov", tracks, 48000, "pcm_s24le", subtitle=None)
    timeline = build_timeline(otio, 24, {"DIA": [("take", tmp_path / "take.mov", 0, 72, 24, 24, 0)]})
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    code, _, stderr = _conform(tmp_path / "edit.otio", parity_dir, "--preset", str(null_preset), "--audio-track", "2",
                               "--format", "wav32f")
    assert code == 0, stderr
    written, _ = read_audio(tmp_path / "edit.conformed" / "media" / "take_00000000.wav")
    np.testing.assert_allclose(written, tracks[1][:, :written.shape[1]], rtol=0, atol=1e-6)  # 24-bit source


EDL = """TITLE: dialogue
FCM: NON-DROP FRAME

001  TAKE1    A     C        01:00:02:00 01:00:04:00 01:00:00:00 01:00:02:00
* FROM CLIP NAME: take1
002  TAKE1    A2    C        01:00:06:00 01:00:07:00 01:00:03:00 01:00:04:00
* FROM CLIP NAME: take1
"""


def test_an_edl_conforms_on_its_media_s_own_timecode_and_says_why_no_edl_comes_back(tmp_path, parity_dir,
                                                                                      null_preset):
    """An EDL names clips and source timecode, nothing more: the medium is found by name and placed by
    its Broadcast WAV TimeReference (01:00:00:00); the two events' uses merge into one range, which
    starts on the source's own timecode; an EDL cannot hold the new paths, so the OTIO carries them."""
    (tmp_path / "media").mkdir()
    samples = ramp_wav(tmp_path / "media" / "take1.wav", 20.0, RATE, time_reference=3600 * RATE)
    (tmp_path / "dialogue.edl").write_text(EDL)
    code, stdout, stderr = _conform(tmp_path / "dialogue.edl", parity_dir, "--preset", str(null_preset),
                                    "--media-root", str(tmp_path / "media"), "--format", "wav32f")
    assert code == 0, stderr
    assert "2 clips on 2 tracks" in stderr and "1 source ranges of 1 sources" in stderr
    out = tmp_path / "dialogue.conformed"
    assert stdout.split() == [str(out / "dialogue.otio")]
    # the CMX 3600 writer takes one video track and no audio-only edit: the OTIO file is the conform
    assert "warning: the cmx_3600 adapter cannot write this timeline" in stderr and "dialogue.otio carries it" in stderr
    wav = out / "media" / "take1_01000000.wav"
    written, _ = read_audio(wav)
    assert written.shape[1] == 9 * RATE  # 01:00:00:00 (02:00 less 2 s) to 01:00:09:00 (07:00 + 2 s)
    np.testing.assert_allclose(written[0], samples[:9 * RATE], rtol=0, atol=4e-8)
    assert read_chunks(wav).bext.time_reference == 3600 * RATE


def test_bad_timelines_and_requests_fail_in_one_line_before_any_work(tmp_path, parity_dir, null_preset):
    (tmp_path / "broken.aaf").write_bytes(b"not a compound file")
    (tmp_path / "cut.txt").write_text("EDIT")
    cases = {
        str(tmp_path / "none.aaf"): ("--preset", str(null_preset)),
        str(tmp_path / "broken.aaf"): ("--preset", str(null_preset)),
        str(tmp_path / "cut.txt"): ("--preset", str(null_preset)),
        str(SAMPLES / "multitrack.aaf"): ("--preset", str(null_preset), "--tracks", "DIA*"),
    }
    expected = ["no such timeline file", "cannot be read as AAF", "not a timeline tuss-fx reads",
                "--tracks 'DIA*' matches no audio track; audio tracks: A1 'Sequence', A2 'Sequence'"]
    for (timeline, extra), problem in zip(cases.items(), expected):
        code, stdout, stderr = _conform(Path(timeline), parity_dir, *extra, "-o", str(tmp_path / "out"))
        assert code == 1 and stdout == "" and stderr.count("\n") == 1 and problem in stderr, stderr
    code, _, stderr = _conform(SAMPLES / "multitrack.aaf", parity_dir, "--preset", str(null_preset),
                               "--split", "speech,background")
    assert code == 2 and "give one of --preset or --split" in stderr
    (tmp_path / "take.wav").write_text("an AAF essence, a text file: anything but audio")
    timeline = build_timeline(otio, 24, {"DIA": [("take", tmp_path / "take.wav", 0, 96, 24, 24, 0)]})
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    code, _, stderr = _conform(tmp_path / "edit.otio", parity_dir, "--preset", str(null_preset), "-o",
                               str(tmp_path / "out"))
    assert code == 1 and stderr.count("\n") == 1
    assert f"clip 'take' on A1 'DIA' at 01:00:00:00: its media {tmp_path / 'take.wav'}: not a readable audio" in stderr
    assert not (tmp_path / "out").exists()


def test_ranges_widen_on_the_frame_grid_clamp_merge_touching_uses_and_keep_disagreeing_starts_apart(tmp_path):
    from tuss_fx.media.audio_io import AudioInfo
    from tuss_fx.timeline.edit import ClipUse
    from tuss_fx.timeline.ranges import plan_ranges

    source = tmp_path / "take.wav"
    source.write_bytes(b"")  # range_identity is not asked for here; only the path counts
    info = AudioInfo(source, 1000, 1, 20_000)  # 20 s at 1 kHz, starting at 01:00:00:00 per the timeline
    hour = Fraction(3600)

    def use(index, start, end, media_start=hour):
        return ClipUse("A1 'D'", index, f"c{index}", "", "url", start, end, 24.0, media_start, None)

    uses = [use(0, hour + Fraction(1, 3), hour + 3),  # 2 s before 00:00:00:08 lies before the medium: clamped
            use(1, hour + 7, hour + 8),  # its handles touch use 0's (5 s): merged
            use(2, hour + Fraction(19, 1) + Fraction(1, 100), hour + 20),  # handles past the end: clamped
            use(3, Fraction(5), Fraction(6), media_start=Fraction(0))]  # the same file said to start at 0
    ranges = plan_ranges(uses, {"url": source}, {source: info}, {}, handle_seconds=2.0)
    assert [(item.first_frame, item.num_frames, item.clips) for item in ranges] == [
        (3000, 5000, (3,)),  # 00:00:03:00-00:00:08:00 on the other start
        (0, 10_000, (0, 1)), (17_000, 3000, (2,))]  # from 01:00:17:00: 19.01 s - 2 s, floored to a frame
    assert [item.key for item in ranges] == ["take_00000300", "take_01000000", "take_01001700"]
    with pytest.raises(TimelineError, match=r"plays 01:00:30:00-01:00:31:00 of take.wav, which holds "
                                            r"01:00:00:00-01:00:20:00"):
        plan_ranges([use(0, hour + 30, hour + 31)], {"url": source}, {source: info}, {})


def test_two_local_workers_share_the_ranges(tmp_path, parity_dir, null_preset):
    for name in "ab":
        ramp_wav(tmp_path / f"{name}.wav", 4.0, RATE)
    timeline = build_timeline(otio, 24, {"DIA": [(name, tmp_path / f"{name}.wav", 0, 96, 24, 24, 0) for name in "ab"]})
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    code, _, stderr = _conform(tmp_path / "edit.otio", parity_dir, "--preset", str(null_preset), "--workers", "2")
    assert code == 0, stderr
    assert "2 ranges processed, 0 skipped" in stderr
    manifest = [json.loads(line) for line in (tmp_path / "edit.conformed" / "manifest.jsonl").read_text().splitlines()]
    # the ranges ran in worker processes; which worker takes which range is a race (one may load its model
    # first and take both), so the count of workers seen is not asserted
    assert sorted(entry["input"] for entry in manifest) == ["a_00000000", "b_00000000"]
    assert all(entry["status"] == "done" for entry in manifest)
    assert f"{socket.gethostname()}:{os.getpid()}" not in {entry["worker"] for entry in manifest}


ONE_STEM_PRESET = 'name = "one"\nprompts = ["speech"]\nplan = "stems"\n[master]\nceiling_db = 0.0\n'


def test_replace_gives_each_range_the_recording_over_its_own_span(tmp_path, parity_dir):
    """The dub is made for the whole source: each range takes its samples over that range, in place of the
    separated dialogue (the split's speech), the rest (the split's background) untouched."""
    media, dubs = tmp_path / "media", tmp_path / "dubs"
    media.mkdir()
    dubs.mkdir()
    ramp_wav(media / "a.wav", 12.0, RATE)
    at = np.arange(10 * RATE) / RATE  # shorter than the source: silence after its end
    dub = (0.05 * np.sin(2 * np.pi * 330 * at) * (1 + at)).astype(np.float32)
    sf.write(dubs / "a.wav", dub, RATE, subtype="FLOAT")
    timeline = build_timeline(otio, 24, {"DIA": [("a1", media / "a.wav", 0, 288, 48, 48, 0),
                                                 ("a2", media / "a.wav", 0, 288, 192, 48, 0)]})
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    preset = tmp_path / "one.toml"
    preset.write_text(ONE_STEM_PRESET)
    common = ["--handles", "0.5", "--format", "wav32f"]
    code, _, stderr = _conform(path, parity_dir, "--split", "speech,background", *common, "-o", str(tmp_path / "split"))
    assert code == 0, stderr
    code, _, stderr = _conform(path, parity_dir, "--preset", str(preset), "--replace", f"speech={dubs}",
                               "--match", "off", *common, "-o", str(tmp_path / "dubbed"))
    assert code == 0, stderr
    entries = [json.loads(line) for line in (tmp_path / "dubbed" / "manifest.jsonl").read_text().splitlines()]
    assert len(entries) == 2 and all(entry["recordings"]["speech"][0] == str(dubs / "a.wav") for entry in entries)
    padded = np.pad(dub, (0, 2 * RATE))
    for entry in entries:
        key, first, frames = entry["input"], entry["first_frame"], entry["frames"]
        background = read_audio(tmp_path / "split" / "media" / f"{key}.background.wav")[0][0]
        replaced = read_audio(tmp_path / "dubbed" / "media" / f"{key}.wav")[0][0]
        np.testing.assert_allclose(replaced, background + padded[first:first + frames], atol=2e-6)
    assert entries[1]["first_frame"] > 6 * RATE  # the second range reads the dub 6 s and more in


def test_replace_refuses_a_source_without_its_recording_or_with_one_too_long_before_any_work(tmp_path, parity_dir,
                                                                                              null_preset):
    media, dubs = tmp_path / "media", tmp_path / "dubs"
    media.mkdir()
    dubs.mkdir()
    ramp_wav(media / "a.wav", 4.0, RATE)
    timeline = build_timeline(otio, 24, {"DIA": [("a1", media / "a.wav", 0, 96, 24, 24, 0)]})
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    code, _, stderr = _conform(path, parity_dir, "--preset", str(null_preset), "--replace", f"speech={dubs}",
                               "-o", str(tmp_path / "out"))
    assert code == 1 and stderr.count("\n") == 2  # the plan's line, then the error
    assert "a.wav" in stderr.splitlines()[-1] and "needs one recording named a.*" in stderr
    assert not (tmp_path / "out" / "manifest.jsonl").exists()
    sf.write(dubs / "a.wav", np.zeros(5 * RATE, np.float32), RATE, subtype="FLOAT")
    code, _, stderr = _conform(path, parity_dir, "--preset", str(null_preset), "--replace", f"speech={dubs}",
                               "-o", str(tmp_path / "out"))
    assert code == 1 and "longer than the programme's" in stderr.splitlines()[-1]
    assert not (tmp_path / "out" / "manifest.jsonl").exists()
    code, _, stderr = _conform(path, parity_dir, "--split", "speech,background", "--replace", f"speech={dubs}",
                               "-o", str(tmp_path / "out"))
    assert code == 2 and "--split writes the stems as they are" in stderr
