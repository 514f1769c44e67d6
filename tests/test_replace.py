"""Replace a stem (#49): a recording in the separated stem's place, its level matched to the original line by
line (or once, or not at all), its tone matched by octave EQ, through the stem's chain and gain."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import soundfile as sf
import soxr
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.errors import TussFxError
from tuss_fx.mix.presets import load_preset
from tuss_fx.mix.remix import remix_file
from tuss_fx.mix.replace import Replacement, mono_targets, recording_channels, spread
from tuss_fx.mix.tone_match import (EQ_FRAME_SAMPLES, FirStream, eq_filter, eq_response_db, fit_eq,
                                    octave_levels_db)
from tuss_fx.mix.request import RemixRequest
from tuss_fx.recordings import RECORDINGS_DIR
from tuss_fx.separation.separator import Separator

RATE = 48000
LINES = ((0.5, 2.6), (3.6, 5.6))  # seconds of the reading placed as two lines


def _reading(seconds: float) -> np.ndarray:
    audio, rate = sf.read(RECORDINGS_DIR / "ljspeech-LJ050-0131.ogg", dtype="float32")
    return soxr.resample(audio, rate, RATE)[int(0.3 * RATE):][: int(seconds * RATE)]


@pytest.fixture(scope="module")
def separator():
    return Separator.from_pretrained("default", device="cpu")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """7 s stereo: two lines of a real reading over a real string orchestra 6 dB under them."""
    folder = tmp_path_factory.mktemp("replace")
    reading = _reading(4.1)
    voice = np.zeros(7 * RATE, np.float32)
    first = int(2.1 * RATE)
    voice[int(LINES[0][0] * RATE):int(LINES[0][0] * RATE) + first] = reading[:first]
    voice[int(LINES[1][0] * RATE):int(LINES[1][0] * RATE) + reading.size - first] = reading[first:]
    music, rate = sf.read(RECORDINGS_DIR / "hungarian-dance-5-strings.ogg", dtype="float32", always_2d=True)
    music = soxr.resample(music, rate, RATE)[5 * RATE:12 * RATE].T
    voice *= 0.1 / np.sqrt(np.mean(voice[voice != 0] ** 2))
    music *= 0.05 / np.sqrt(np.mean(music ** 2))
    mix = voice[None] + music
    path = folder / "scene.wav"
    sf.write(path, mix.T, RATE, subtype="FLOAT")
    return path, voice


def _dialogue_of(separator, path, folder):
    """The separated dialogue as the dme preset's stems-dir writes it, and the plain remix."""
    report = remix_file(separator, load_preset("dme"), path, RemixRequest(folder / "plain.wav", "wav32f",
                                                                          folder / "stems", "wav32f"))
    return sf.read(report.stems["speech"], dtype="float32", always_2d=True)[0].T, \
        sf.read(folder / "plain.wav", dtype="float32", always_2d=True)[0].T


def _line_lufs(audio: np.ndarray) -> list[float]:
    import pyloudnorm

    meter = pyloudnorm.Meter(RATE)
    return [meter.integrated_loudness(audio[:, int(a * RATE):int(b * RATE)].T.astype(np.float64)) for a, b in LINES]


def test_the_separated_stem_replaced_by_itself_changes_nothing(separator, scene, tmp_path):
    dialogue, plain = _dialogue_of(separator, scene[0], tmp_path)
    sf.write(tmp_path / "same.wav", dialogue.T, RATE, subtype="FLOAT")
    request = RemixRequest(tmp_path / "replaced.wav", "wav32f", replacements=(Replacement("speech", tmp_path / "same.wav"),),
                           match="off")
    report = remix_file(separator, load_preset("dme"), scene[0], request)
    replaced = sf.read(tmp_path / "replaced.wav", dtype="float32", always_2d=True)[0].T
    np.testing.assert_allclose(replaced, plain, atol=1e-5)
    assert report.replacements[0]["match"] == "off" and report.replacements[0]["stem"] == "speech"


@pytest.mark.parametrize(("match", "mono"), [("lines", False), ("programme", False), ("lines", True)])
def test_a_dub_recorded_at_other_levels_is_placed_at_the_original_s(separator, scene, tmp_path, match, mono):
    """The separated dialogue itself, each line moved by its own gain (lines) or all by one (programme):
    matched, each line lands back at the original's loudness, and the remix is the plain one. A mono dub
    (the scene's dialogue is the same in both channels) is placed in both at the same loudness."""
    dialogue, plain = _dialogue_of(separator, scene[0], tmp_path)
    moves_db = (-7.0, 5.0) if match == "lines" else (-9.0, -9.0)
    dub = dialogue.mean(axis=0, keepdims=True) if mono else dialogue.copy()
    for (a, b), move in zip(LINES, moves_db):
        edge = (int((a - 0.3) * RATE), int((b + 0.4) * RATE))
        dub[:, edge[0]:edge[1]] *= 10 ** (move / 20)
    sf.write(tmp_path / "dub.wav", dub.T, RATE, subtype="FLOAT")
    off = remix_file(separator, load_preset("dme"), scene[0], RemixRequest(
        tmp_path / "off.wav", "wav32f", replacements=(Replacement("speech", tmp_path / "dub.wav"),), match="off"))
    report = remix_file(separator, load_preset("dme"), scene[0], RemixRequest(
        tmp_path / "matched.wav", "wav32f", replacements=(Replacement("speech", tmp_path / "dub.wav"),), match=match))
    assert off.replacements[0]["lines"] == []
    placed = sf.read(tmp_path / "matched.wav", dtype="float32", always_2d=True)[0].T - (plain - dialogue)
    unmatched = sf.read(tmp_path / "off.wav", dtype="float32", always_2d=True)[0].T - (plain - dialogue)
    original = _line_lufs(dialogue)
    assert np.abs(np.array(_line_lufs(unmatched)) - original).min() > 4.0  # where it starts from
    np.testing.assert_allclose(_line_lufs(placed), original, atol=0.5)
    gains = [line["gain_db"] for line in report.replacements[0]["lines"]]
    assert len(gains) >= 2 and max(gains) - min(gains) > (10.0 if match == "lines" else -0.01)


def test_the_tone_match_recovers_a_known_eq():
    """Noise through a known tilt (pedalboard's shelving filters, an independent EQ), and the same noise: the
    fitted filter's octave response is the tilt's (its mean removed, the level being the gain match's)
    within 0.5 dB in every octave band."""
    noise = np.random.default_rng(3).standard_normal((1, 40 * EQ_FRAME_SAMPLES)).astype(np.float32)
    tilt = pedalboard.Pedalboard([pedalboard.LowShelfFilter(cutoff_frequency_hz=300, gain_db=5.0),
                                  pedalboard.HighShelfFilter(cutoff_frequency_hz=3000, gain_db=-6.0)])
    shaped = tilt(noise, RATE)

    def power(signal):
        frames = signal[0, EQ_FRAME_SAMPLES:].reshape(-1, EQ_FRAME_SAMPLES) * np.hanning(EQ_FRAME_SAMPLES)
        return (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)

    fitted = fit_eq(octave_levels_db(power(shaped), RATE), octave_levels_db(power(noise), RATE), RATE)
    target = octave_levels_db(power(shaped), RATE) - octave_levels_db(power(noise), RATE)
    np.testing.assert_allclose(eq_response_db(fitted, RATE), target - target.mean(), atol=0.5)
    assert target.max() - target.min() > 9.0  # a real tilt to find


def test_the_tone_match_turns_no_phase_and_streams_as_one_convolution():
    """A sine through the filter comes out at the filter's gain there, in phase (linear phase, its delay
    taken back); streamed in uneven blocks it is numpy's convolution of the whole, sample for sample."""
    eq = {125.0: 3.0, 250.0: -2.0, 500.0: 6.0, 1000.0: -4.0, 2000.0: 1.0, 4000.0: -6.0, 8000.0: 2.0}
    taps = eq_filter(eq, RATE)
    at = np.arange(3 * RATE) / RATE
    for hz in (500.0, 2000.0):
        sine = np.sin(2 * np.pi * hz * at).astype(np.float32)[None]
        stream = FirStream(taps, 1)
        out = np.concatenate([stream.push(sine[:, :7000]), stream.push(sine[:, 7000:]), stream.finish()], axis=1)
        assert out.shape == sine.shape
        gain = abs(np.sum(taps * np.exp(-2j * np.pi * hz * np.arange(len(taps)) / RATE)))  # |H| at hz
        assert abs(20 * np.log10(gain) - eq[hz]) < 0.3  # the octave's gain, at its centre
        middle = slice(RATE, 2 * RATE)  # away from the ends, where the filter sees silence
        np.testing.assert_allclose(out[0, middle], gain * sine[0, middle], atol=1e-3 * gain)
    noise = np.random.default_rng(1).standard_normal((2, 30000)).astype(np.float32)
    stream, parts, done = FirStream(taps, 2), [], 0
    for size in (1, 4999, 123, 20000, 4877):
        parts.append(stream.push(noise[:, done:done + size]))
        done += size
    streamed = np.concatenate([*parts, stream.finish()], axis=1)
    delay = (len(taps) - 1) // 2
    whole = np.stack([np.convolve(channel, taps)[delay:delay + noise.shape[1]] for channel in noise.astype(np.float64)])
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_the_tone_match_is_limited():
    flat = octave_levels_db(np.ones(EQ_FRAME_SAMPLES // 2 + 1), RATE)
    tilted = octave_levels_db(np.linspace(100, 0.01, EQ_FRAME_SAMPLES // 2 + 1), RATE)
    assert all(abs(gain) <= 13.5 for gain in fit_eq(flat, tilted, RATE).values())
    assert fit_eq(flat, octave_levels_db(np.zeros(EQ_FRAME_SAMPLES // 2 + 1), RATE), RATE) == {}


def test_a_mono_recording_goes_to_the_centre_of_5_1_and_the_front_pair_of_stereo():
    assert recording_channels(1, 6) == 1 and recording_channels(6, 6) == 6 and recording_channels(2, 1) == 1
    assert mono_targets(("FL", "FR", "FC", "LFE", "BL", "BR"), 6) == [2]
    assert mono_targets(("FL", "FR"), 2) == [0, 1] and mono_targets(("FL", "FR", "BL", "BR"), 4) == [0, 1]
    assert mono_targets((), 3) == [0, 1, 2]  # no layout known: everywhere
    mono = np.arange(1, 7, dtype=np.float32)[None]
    placed = spread(mono, [2], 6)
    np.testing.assert_array_equal(placed[2], mono[0])
    assert not placed[[0, 1, 3, 4, 5]].any()
    stereo = np.stack([mono[0], -mono[0]])
    np.testing.assert_array_equal(spread(stereo, [0, 1], 2), stereo)


def test_a_recording_at_another_rate_and_layout_is_converted_and_a_short_one_padded(separator, scene, tmp_path):
    dialogue, plain = _dialogue_of(separator, scene[0], tmp_path)
    mono_44k = soxr.resample(dialogue.mean(axis=0), RATE, 44100)[: int(5.9 * 44100)]  # mono, 44.1 kHz, shorter
    sf.write(tmp_path / "dub44.wav", mono_44k, 44100, subtype="FLOAT")
    request = RemixRequest(tmp_path / "out.wav", "wav32f", replacements=(Replacement("speech", tmp_path / "dub44.wav"),),
                           match="off")
    remix_file(separator, load_preset("dme"), scene[0], request)
    out = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)[0].T
    expected = plain - dialogue + dialogue.mean(axis=0)[None]
    expected[:, int(5.9 * RATE) + 100:] = (plain - dialogue)[:, int(5.9 * RATE) + 100:]  # padded with silence
    # two VHQ resamplings (to 44.1 kHz and back) apart: 1e-2 at a line's sharpest onset, -60 dB overall
    np.testing.assert_allclose(out[:, : int(5.8 * RATE)], expected[:, : int(5.8 * RATE)], atol=1e-2)
    error = out[:, : int(5.8 * RATE)] - expected[:, : int(5.8 * RATE)]
    assert 10 * np.log10(np.sum(error ** 2) / np.sum(expected[:, : int(5.8 * RATE)] ** 2)) < -60
    np.testing.assert_allclose(out[:, int(5.9 * RATE) + 100:], expected[:, int(5.9 * RATE) + 100:], atol=1e-5)


def test_a_recording_is_placed_by_the_timecode_both_carry(separator, scene, tmp_path):
    """A Broadcast WAV programme at 01:00:00 and an ADR take whose TimeReference says 01:00:02: the take lands
    2 s in (before it, the programme's background alone); a take running past the programme's end is refused."""
    from tuss_fx.media.bwf import Bext, write_with_chunks

    dialogue, plain = _dialogue_of(separator, scene[0], tmp_path)
    hour = 3600 * RATE
    write_with_chunks(scene[0], tmp_path / "programme.wav", Bext(description="reel 1", time_reference=hour), None)
    sf.write(tmp_path / "take.raw.wav", dialogue[:, 2 * RATE:].T, RATE, subtype="FLOAT")
    write_with_chunks(tmp_path / "take.raw.wav", tmp_path / "take.wav",
                      Bext(description="ADR", time_reference=hour + 2 * RATE), None)
    request = RemixRequest(tmp_path / "adr.wav", "wav32f", replacements=(Replacement("speech", tmp_path / "take.wav"),),
                           match="off")
    report = remix_file(separator, load_preset("dme"), tmp_path / "programme.wav", request)
    assert report.replacements[0]["placed_at_seconds"] == 2.0
    out = sf.read(tmp_path / "adr.wav", dtype="float32", always_2d=True)[0].T
    # two separations of the same samples (the Broadcast WAV and the plain file) agree to 1e-4, not bit for bit
    np.testing.assert_allclose(out[:, 2 * RATE:], plain[:, 2 * RATE:], atol=1e-4)
    background = sf.read(tmp_path / "stems" / "background.wav", dtype="float32", always_2d=True)[0].T
    np.testing.assert_allclose(out[:, :2 * RATE], background[:, :2 * RATE], atol=1e-4)
    assert np.abs(dialogue[:, 2 * RATE:]).max() > 0.05  # the take is not silence
    late = tmp_path / "late.wav"
    write_with_chunks(tmp_path / "take.raw.wav", late, Bext(description="ADR", time_reference=hour + 3 * RATE), None)
    with pytest.raises(TussFxError, match=r"placed by timecode \+3.000 s into it, longer than the programme's"):
        remix_file(separator, load_preset("dme"), tmp_path / "programme.wav", RemixRequest(
            tmp_path / "late-out.wav", replacements=(Replacement("speech", late),)))


def test_bad_replacements_are_one_line_before_any_work(scene, tmp_path):
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros((8 * RATE, 2), np.float32), RATE)
    six = tmp_path / "six.wav"
    sf.write(six, np.zeros((RATE, 6), np.float32), RATE)
    cases = [(["--replace", f"sfx={long}"], "sfx: is not a stem of the plan that runs; its stems: speech"),
             (["--replace", f"speech={long}"], "longer than the programme's 336000"),
             (["--replace", f"speech={six}"], "has 6 channels; the programme has 2"),
             (["--replace", f"speech={tmp_path / 'absent.wav'}"], "absent.wav: no such file"),
             (["--replace", "speech"], "is not STEM=FILE")]
    for args, message in cases:
        result = CliRunner().invoke(main, ["remix", str(scene[0]), "--preset", "dme", "-o", str(tmp_path / "o.wav"),
                                           *args])
        assert result.exit_code in (1, 2) and message in result.output, result.output
        assert not (tmp_path / "o.wav").exists() and not list(tmp_path.glob(".o.wav*"))


def test_the_command_says_what_it_matched(scene, tmp_path):
    sf.write(tmp_path / "dub.wav", 0.3 * scene[1], RATE, subtype="FLOAT")
    result = CliRunner().invoke(main, ["remix", str(scene[0]), "--preset", "dme", "-o", str(tmp_path / "o.wav"),
                                       "--replace", f"speech={tmp_path / 'dub.wav'}", "--match-eq"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("replaced speech with"))
    assert re.search(r"match lines, \d+ lines at [+-]\d", line) and "EQ 125 Hz" in line
    assert not [path for path in tmp_path.iterdir() if ".replace" in path.name]  # scratch files removed


def test_stem_equals_file_is_parsed_once_at_the_first_equals_sign():
    assert Replacement.parse("speech=takes/a=b.wav") == Replacement("speech", Path("takes/a=b.wav"))
    for bad in ("speech", "=x.wav", "speech="):
        with pytest.raises(ValueError, match="is not STEM=FILE"):
            Replacement.parse(bad)


def test_a_batch_replaces_each_input_s_stem_from_a_folder_of_dubs(separator, scene, tmp_path):
    """A season's dubs: batch --replace speech=FOLDER takes each input's recording by name; the output is the
    same as remix --replace of that file, the manifest records the recording and its digest, and an input
    whose recording is missing fails in one line while the others are done."""
    import json

    season, dubs = tmp_path / "season", tmp_path / "dubs"
    season.mkdir()
    dubs.mkdir()
    for name in ("e01", "e02"):
        (season / f"{name}.wav").write_bytes(scene[0].read_bytes())
    sf.write(dubs / "e01.flac", 0.5 * scene[1], RATE)
    result = CliRunner().invoke(main, ["batch", str(season), "-o", str(tmp_path / "out"), "--preset", "dme",
                                       "--replace", f"speech={dubs}", "--format", "wav32f", "-q"])
    assert result.exit_code == 1 and "1 of 2 files failed" in result.stderr
    assert "e02.wav: needs one recording named e02.* in" in result.stderr
    entries = {Path(entry["input"]).name: entry for entry in
               map(json.loads, (tmp_path / "out" / "manifest.jsonl").read_text().splitlines())}
    assert entries["e01.wav"]["status"] == "done" and entries["e02.wav"]["status"] == "failed"
    assert entries["e01.wav"]["replacements"]["speech"]["path"] == str(dubs / "e01.flac")
    assert len(entries["e01.wav"]["replacements"]["speech"]["sha256"]) == 64
    single = CliRunner().invoke(main, ["remix", str(season / "e01.wav"), "--preset", "dme", "--format", "wav32f",
                                       "--replace", f"speech={dubs / 'e01.flac'}", "-o", str(tmp_path / "one.wav"),
                                       "-q"])
    assert single.exit_code == 0, single.output
    np.testing.assert_allclose(sf.read(tmp_path / "out" / "e01.wav")[0], sf.read(tmp_path / "one.wav")[0], atol=1e-4)


def test_the_report_holds_each_line_s_gain_and_draws_its_lane(separator, scene, tmp_path):
    sf.write(tmp_path / "dub.wav", 0.3 * scene[1], RATE, subtype="FLOAT")
    report = remix_file(separator, load_preset("dme"), scene[0], RemixRequest(
        tmp_path / "out.wav", report=tmp_path / "out.report.png",
        replacements=(Replacement("speech", tmp_path / "dub.wav"),), match_eq=True))
    import json

    numbers = json.loads((tmp_path / "out.report.json").read_text())
    assert numbers["replacements"] == [json.loads(json.dumps(report.replacements[0]))]
    pieces = [(line["start_seconds"], line["end_seconds"]) for line in numbers["replacements"][0]["lines"]]
    for start, end in LINES:  # every line of the scene is matched, in one piece or in a few the dub's pauses part
        covered = np.zeros(int(end * 10) - int(start * 10) - 4, bool)
        for first, last in pieces:
            at = np.arange(covered.size) / 10 + start + 0.2
            covered |= (at >= first) & (at <= last)
        assert covered.all(), (start, end, pieces)
    assert all(any(a - 0.5 <= first and last <= b + 0.5 for a, b in LINES) for first, last in pieces)  # none elsewhere
    assert numbers["replacements"][0]["eq_db"]
    # the report's input is the programme as it came, not with the recording in its place
    import pyloudnorm

    original = pyloudnorm.Meter(RATE).integrated_loudness(sf.read(scene[0], dtype="float64")[0])
    assert report.input_lufs == pytest.approx(original, abs=0.01)
    assert numbers["signals"]["input"]["integrated_lufs"] == pytest.approx(original, abs=0.01)
    assert (tmp_path / "out.report.png").stat().st_size > 10_000


def test_a_mono_dub_of_a_5_1_film_is_placed_in_the_centre_as_loud_as_the_line_it_replaces(separator, scene, tmp_path):
    """5.1 (L R C LFE Ls Rs): the dialogue in the centre, the strings in L/R. A mono dub replaces `speech`:
    the replaced remix minus the M&E is the dub in C and nothing elsewhere (--match off), and with --match
    lines each line of it reads as loud as the separated centre dialogue did."""
    _, voice = scene
    music, rate = sf.read(RECORDINGS_DIR / "hungarian-dance-5-strings.ogg", dtype="float32", always_2d=True)
    music = 0.05 * soxr.resample(music, rate, RATE)[5 * RATE:12 * RATE].T / 0.1
    film = np.zeros((6, voice.size), np.float32)
    film[2], film[0], film[1] = voice, music[0] * 0.5, music[1] * 0.5
    path = tmp_path / "film51.wav"
    sf.write(path, film.T, RATE, subtype="FLOAT")
    dub = tmp_path / "dub.wav"
    sf.write(dub, 0.3 * voice, RATE, subtype="FLOAT")  # the same words, 10 dB quieter
    me = tmp_path / "me.wav"
    remix_file(separator, load_preset("music-and-effects"), path, RemixRequest(me, "wav32f"))
    me_audio = sf.read(me, dtype="float32", always_2d=True)[0].T
    placed = {}
    for match in ("off", "lines"):
        out = tmp_path / f"{match}.wav"
        report = remix_file(separator, load_preset("dme"), path, RemixRequest(
            out, "wav32f", replacements=(Replacement("speech", dub),), match=match))
        assert report.replacements[0]["channels"] == ["FC"]
        placed[match] = sf.read(out, dtype="float32", always_2d=True)[0].T - me_audio
    np.testing.assert_allclose(placed["off"][2], 0.3 * voice, atol=1e-5)
    assert np.abs(placed["off"][[0, 1, 3, 4, 5]]).max() < 1e-5 and np.abs(placed["lines"][[0, 1, 3, 4, 5]]).max() < 1e-5
    separated = film - me_audio  # the original dialogue as separated
    lines, original = _line_lufs(placed["lines"][[2]]), _line_lufs(separated[[2]])
    assert all(abs(a - b) < 1.0 for a, b in zip(lines, original)), (lines, original)


def test_a_dip_of_a_quiet_word_parts_no_line_and_a_short_last_stretch_is_a_line():
    """The original's line windows as the matching takes them: two windows left out of a line (a quiet
    word) are bridged, three are a pause; a stretch of a few windows at the end is matched, not dropped."""
    from tuss_fx.mix.replace import LINE_DIP_WINDOWS, _bridged, _runs

    windows = np.array([c == "1" for c in "..1111111111.11111..11...11111111...111"])
    bridged = _bridged(windows, LINE_DIP_WINDOWS)
    assert _runs(bridged, 1) == [(2, 22), (25, 33), (36, 39)]
    assert not _bridged(np.array([True, False, False, False, True]), LINE_DIP_WINDOWS)[1:4].any()
    assert not _bridged(np.array([False, True]), LINE_DIP_WINDOWS)[0]  # an edge is not a dip
