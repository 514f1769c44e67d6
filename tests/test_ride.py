"""The dialogue ride: DBR over time against closed forms, the ride's ballistics, its automation round
trip through MIDI, the loudness command's buried stretches in the programme's timecode."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
import soxr
from click.testing import CliRunner

from tuss_fx.cli.commands import main
from tuss_fx.measure.dbr import DEFAULT_TARGET_DBR_LU, DialogueClarity, dialogue_clarity
from tuss_fx.measure.loudness import LoudnessMeter
from tuss_fx.measure.meters import HOP_SECONDS
from tuss_fx.media.bwf import Bext, write_with_chunks
from tuss_fx.media.timecode import ProgrammeClock, parse_timecode
from tuss_fx.mix.automation import GainAutomation, lanes_to_midi
from tuss_fx.mix.presets import PresetError, load_preset, parse_preset
from tuss_fx.mix.ride import GRID_SECONDS, RideSettings, lane_events, ride_curve
from tuss_fx.recordings import RECORDINGS_DIR

RATE = 48000
MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)


def _tone(seconds: float, amplitude: float, phase: float = 0.0, hz: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * hz * t + phase)


def _clarity(dialogue: np.ndarray, background: np.ndarray, threshold: float = DEFAULT_TARGET_DBR_LU):
    meters = [LoudnessMeter(RATE, 1, HOP_SECONDS) for _ in range(3)]
    for meter, signal in zip(meters, (dialogue + background, dialogue, background)):
        meter.push(signal[None])
    return dialogue_clarity(*meters, threshold_lu=threshold)


def test_dbr_is_the_level_ratio_of_same_spectrum_signals():
    """Same tone in both: K-weighting weighs them alike, so DBR = 20 log10 of the amplitude ratio."""
    clarity = _clarity(_tone(3.0, 0.2), _tone(3.0, 0.05, phase=1.0))
    assert clarity.dialogue.all()
    # from the second window on: the first holds the K-weighting filters' start-up
    np.testing.assert_allclose(clarity.dbr_lu[1:], 20 * np.log10(0.2 / 0.05), atol=1e-4)
    assert clarity.median_dbr_lu == pytest.approx(20 * math.log10(4.0), abs=1e-3)
    assert clarity.buried_share == 0.0 and clarity.regions() == []  # 12.04 LU is over the 10 LU threshold
    assert _clarity(_tone(3.0, 0.2), _tone(3.0, 0.05, phase=1.0), threshold=13.0).buried_share == 1.0


def test_buried_regions_are_where_dialogue_sits_under_the_threshold():
    dialogue = np.concatenate([_tone(2.0, 0.0), _tone(2.0, 0.1), _tone(2.0, 0.0), _tone(2.0, 0.1)])
    background = _tone(8.0, 0.1, phase=0.5)
    background[int(5 * RATE):] *= 0.1  # the second line (from 6 s) is 20 dB clear of its background
    clarity = _clarity(dialogue, background)
    regions = clarity.regions()
    assert len(regions) == 1  # the first line, at 0 LU; windows straddling its edges hold part of it
    assert 1.6 <= regions[0].start_seconds <= 2.0 and 4.0 <= regions[0].end_seconds <= 4.4
    # the worst window is the first: 0.1 s of the line in 0.4 s, a quarter of its energy (-6.02 LU)
    assert regions[0].worst_dbr_lu == pytest.approx(10 * math.log10(0.25), abs=0.05)
    spoken = clarity.dialogue.sum()
    assert clarity.buried_share == pytest.approx(clarity.buried.sum() / spoken) and 0.4 < clarity.buried_share < 0.6


def _flat_clarity(dbr: np.ndarray, speaking: np.ndarray) -> DialogueClarity:
    return DialogueClarity(np.asarray(dbr, float), np.asarray(speaking, bool), HOP_SECONDS, DEFAULT_TARGET_DBR_LU)


def test_ride_reaches_the_target_within_its_ballistics():
    windows = 100  # 10.3 s of windows; dialogue from window 30 to 60 at 4 LU: 6 dB short of 10 LU
    speaking = np.zeros(windows, bool)
    speaking[30:61] = True
    settings = RideSettings()
    curve = ride_curve(_flat_clarity(np.full(windows, 4.0), speaking), settings, 10.3)
    ends = (np.arange(windows) + 4) * HOP_SECONDS
    on_grid = np.round(ends / GRID_SECONDS).astype(int)
    assert np.allclose(curve[on_grid[30:61]], -6.0)  # the whole line at the reduction it needs, in time
    assert curve[: on_grid[30] - int(0.4 / GRID_SECONDS) - 10].max() == 0.0  # unity well before the line
    assert curve[on_grid[60] + int((settings.hold_seconds + 6 / settings.release_db_per_second) / GRID_SECONDS)
                 + 2:].min() == 0.0  # and back to unity after hold and release
    slope = np.diff(curve) / GRID_SECONDS
    assert -slope.max() >= -settings.release_db_per_second - 1e-9 and slope.max() <= settings.release_db_per_second + 1e-9
    assert -slope.min() <= settings.attack_db_per_second + 1e-9


def test_ride_is_capped_and_counts_the_dialogue_lift():
    speaking = np.ones(50, bool)
    buried = _flat_clarity(np.full(50, -30.0), speaking)
    assert ride_curve(buried, RideSettings(max_reduction_db=12.0), 5.3).min() == -12.0
    lifted = ride_curve(_flat_clarity(np.full(50, 4.0), speaking), RideSettings(), 5.3, lift_db=4.0)
    assert lifted.min() == pytest.approx(-2.0)  # 4 LU + 4 dB of dialogue gain: 2 dB short
    clear = ride_curve(_flat_clarity(np.full(50, 15.0), speaking), RideSettings(), 5.3)
    assert not clear.any()  # already clear: unity


def test_lanes_draw_the_curve_through_the_automation():
    speaking = np.zeros(60, bool)
    speaking[20:40] = True
    curve = ride_curve(_flat_clarity(np.full(60, 0.0), speaking), RideSettings(), 6.3)
    lanes = GainAutomation({"residual": lane_events(curve, -3.0)})
    gains = lanes.envelope("residual", 0, int(6.3 * RATE), RATE, -3.0)
    grid = np.arange(len(curve)) * int(GRID_SECONDS * RATE)
    inside = grid < len(gains)
    np.testing.assert_allclose(20 * np.log10(gains[grid[inside]]), curve[inside] - 3.0, atol=0.05)


def test_fourteen_bit_lanes_round_trip_through_midi(tmp_path):
    lanes = {"speech": [(0.0, 2.0)], "residual": [(0.0, 0.0), (1.23, -7.31), (1.24, -7.9), (3.0, -19.97)]}
    lanes_to_midi(["speech", "residual"], lanes, 4.0).save(tmp_path / "r.mid")
    back = GainAutomation.from_midi(tmp_path / "r.mid", ["speech", "residual"]).lanes
    for name, events in lanes.items():
        assert [t for t, _ in back[name]] == pytest.approx([t for t, _ in events], abs=1.1e-3)
        assert [g for _, g in back[name]] == pytest.approx([g for _, g in events], abs=0.005)


def test_ride_preset_and_its_validation():
    preset = load_preset("dialogue-ride")
    assert preset.prompts == ("speech",) and preset.ride == RideSettings()
    with pytest.raises(PresetError, match="ride.max_reduction_db"):
        parse_preset({"name": "x", "prompts": ["speech"], "ride": {"max_reduction_db": "deep"}}, "x.toml")
    with pytest.raises(PresetError, match="no speech prompt"):
        parse_preset({"name": "x", "prompts": ["vocals"], "ride": {}}, "x.toml")
    with pytest.raises(PresetError, match="ride.hold_ms: unknown key"):
        parse_preset({"name": "x", "prompts": ["speech"], "ride": {"hold_ms": 3}}, "x.toml")
    with pytest.raises(PresetError, match="must be in"):
        parse_preset({"name": "x", "prompts": ["speech"], "ride": {"max_reduction_db": 0}}, "x.toml")


@pytest.fixture()
def buried_scene(tmp_path):
    """8 s: two lines of a real reading (LJ Speech) under a steady noise bed at 0 dB, 48 kHz stereo."""
    t = np.arange(8 * RATE) / RATE
    voice = np.zeros(t.size)
    reading = _reading(5.0)
    for at, line in ((0.5, reading[: int(2.5 * RATE)]), (4.5, reading[int(2.5 * RATE):])):
        voice[int(at * RATE):int(at * RATE) + line.size] = line
    voice *= 0.08 / np.sqrt(np.mean(reading ** 2))
    bed = np.random.default_rng(5).standard_normal(t.size) * 0.08
    audio = np.stack([voice + bed, voice + 0.9 * bed]).astype(np.float32)
    path = tmp_path / "buried.wav"
    sf.write(path, audio.T, RATE, subtype="FLOAT")
    return path


def _reading(seconds: float) -> np.ndarray:
    """(L,) the first `seconds` of LJ Speech's reading, mono at 48 kHz: real speech for the speech detector."""
    audio, rate = sf.read(MEDIA / "ljspeech-LJ050-0131.ogg", dtype="float64")
    return soxr.resample(audio, rate, RATE)[int(0.3 * RATE):][: int(seconds * RATE)]


def _run(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def test_written_rides_feed_back_within_a_fifth_of_a_db(buried_scene, tmp_path, parity_dir):
    model = ["--checkpoint", parity_dir, "--dialogue-engine", "deepfilternet", "--format", "wav32f"]
    ridden = _run("remix", buried_scene, "--preset", "dialogue-ride", "-o", tmp_path / "a.wav",
                  "--write-automation", tmp_path / "ride.mid", *model)
    assert ridden.exit_code == 0, ridden.output
    assert "dialogue ride:" in ridden.stderr and str(tmp_path / "ride.mid") in ridden.stdout
    replayed = _run("remix", buried_scene, "--preset", "dialogue-ride", "-o", tmp_path / "b.wav",
                    "--automation", tmp_path / "ride.mid", *model)
    assert replayed.exit_code == 0, replayed.output
    assert "dialogue ride:" not in replayed.stderr  # the automation replaces the ride: none computed
    a, b = (sf.read(tmp_path / name, dtype="float64")[0] for name in ("a.wav", "b.wav"))
    block = RATE // 10
    rms = [np.sqrt(np.mean(x[: len(x) // block * block].reshape(-1, block, 2) ** 2, axis=(1, 2))) for x in (a, b)]
    loud = rms[0] > 1e-3
    assert np.abs(20 * np.log10(rms[1][loud] / rms[0][loud])).max() < 0.2
    lanes = GainAutomation.from_midi(tmp_path / "ride.mid", ["speech", "residual"]).lanes
    assert len(lanes["speech"]) == 2 and min(g for _, g in lanes["residual"]) < -3.0  # a real ride was written


def test_write_automation_works_for_any_preset(buried_scene, tmp_path, parity_dir):
    result = _run("remix", buried_scene, "--preset", "dme", "-o", tmp_path / "o.wav", "--checkpoint", parity_dir,
                  "--segment-seconds", "1", "--write-automation", tmp_path / "dme.mid")
    assert result.exit_code == 0, result.output
    lanes = GainAutomation.from_midi(tmp_path / "dme.mid", ["speech", "sfxbg", "musicbg", "residual"]).lanes
    assert set(lanes) == {"speech", "sfxbg", "musicbg", "residual"}
    assert all(g == pytest.approx(0.0, abs=0.005) for events in lanes.values() for _, g in events)


def test_loudness_prints_buried_stretches_in_the_files_timecode(tmp_path):
    """A real line (2-4 s) under a tone as loud: buried throughout, and reported in the Broadcast WAV's own
    timecode. Where the line is comes from the speech detector, whose 0.3 s hangover counts the windows
    that straddle its start."""
    line = _reading(2.0)
    dialogue = np.concatenate([np.zeros(2 * RATE), 0.1 * line / np.sqrt(np.mean(line ** 2)), np.zeros(2 * RATE)])
    background = _tone(6.0, 0.1 * math.sqrt(2), phase=0.3, hz=300)
    plain = tmp_path / "plain.wav"
    sf.write(plain, (dialogue + background)[:, None], RATE, subtype="PCM_24")
    sf.write(tmp_path / "dx.wav", dialogue[:, None], RATE, subtype="PCM_24")
    one_hour = 3600 * RATE
    write_with_chunks(plain, tmp_path / "bwf.wav", Bext(description="reel 1", time_reference=one_hour), None)
    result = _run("loudness", tmp_path / "bwf.wav", "--dialogue-stem", tmp_path / "dx.wav", "--json")
    assert result.exit_code == 0, result.output
    dbr = json.loads(result.stdout)["dialogue_to_background"]
    assert dbr["threshold_lu"] == DEFAULT_TARGET_DBR_LU and dbr["buried_share"] > 0.9
    region = dbr["worst_regions"][0]
    assert 1.4 <= region["start_seconds"] <= 2.0 and 3.8 <= region["end_seconds"] <= 4.6
    assert region["start"] == f"01:00:0{region['start_seconds']:.3f}"  # one hour in: the bext TimeReference
    zero = _run("loudness", tmp_path / "bwf.wav", "--dialogue-stem", tmp_path / "dx.wav", "--threshold-lu", "0")
    assert "of dialogue time under 0 LU" in zero.stdout  # 0 is a threshold, not "use the default"


@pytest.mark.parametrize("rate, label", [
    (Fraction(24000, 1001), "01:00:00:00"), (Fraction(24), "01:00:00:00"), (Fraction(25), "10:00:00:00"),
    (Fraction(30000, 1001), "00:59:59:28"), (Fraction(30000, 1001), "00:59:59;28"), (Fraction(30), "01:00:00:00"),
    (Fraction(48), "01:00:00:00"), (Fraction(50), "01:00:00:00"), (Fraction(60000, 1001), "00:59:59;56"),
    (Fraction(60000, 1001), "01:00:00:00"), (Fraction(60), "01:00:00:00"),
])
def test_timecode_labels_round_trip_at_every_film_rate(rate, label):
    clock = parse_timecode(label, rate)
    assert clock.label(0.0) == label and clock.drop_frame == (";" in label)
    for frames in (1, 17, 1799, 17982, 100000):  # across minute and ten-minute boundaries
        later = clock.label(frames / float(rate) + 1e-4)
        assert parse_timecode(later, rate).start_seconds == pytest.approx(clock.start_seconds + frames / float(rate),
                                                                          abs=1e-6)


def test_drop_frame_skips_the_first_labels_of_each_minute_but_the_tenth():
    clock = parse_timecode("00:00:59;29", Fraction(30000, 1001))
    assert clock.label(1.001 / 30 * 1.0001) == "00:01:00;02"
    tenth = parse_timecode("00:09:59;29", Fraction(30000, 1001))
    assert tenth.label(1.001 / 30 * 1.0001) == "00:10:00;00"
    assert ProgrammeClock(3723.25).label(0.5) == "01:02:03.750"
    with pytest.raises(ValueError):
        parse_timecode("01:00:00;00", Fraction(25))


def _reference_ride(clarity: DialogueClarity, settings: RideSettings, duration: float) -> np.ndarray:
    """The ride over the whole programme at once, written from its definition: each window asks over
    its span, a trailing max over the hold, a backward pass for the attack, a forward one for the release."""
    from tuss_fx.measure.loudness import BLOCK_SECONDS
    from tuss_fx.mix.ride import asked_reduction, line_windows

    steps = int(math.ceil(duration / GRID_SECONDS)) + 1
    wanted = np.zeros(steps)
    asked = asked_reduction(clarity.dbr_lu, line_windows(clarity.dialogue, clarity.dialogue_lufs), settings)
    for end, reduction in zip(clarity.window_end_seconds, asked):
        first, last = int((end - BLOCK_SECONDS) / GRID_SECONDS), int(math.ceil(end / GRID_SECONDS))
        wanted[max(first, 0): last + 1] = np.maximum(wanted[max(first, 0): last + 1], reduction)
    hold = int(round(settings.hold_seconds / GRID_SECONDS))
    wanted = np.array([wanted[max(0, i - hold): i + 1].max() for i in range(steps)])
    attack, release = settings.attack_db_per_second * GRID_SECONDS, settings.release_db_per_second * GRID_SECONDS
    for i in range(steps - 2, -1, -1):
        wanted[i] = max(wanted[i], wanted[i + 1] - attack)
    for i in range(1, steps):
        wanted[i] = max(wanted[i], wanted[i - 1] - release)
    return -wanted


def _runs(rng, windows: int) -> np.ndarray:
    """(windows,) bool: speech in runs of 1-30 windows, with gaps of 1-15."""
    speaking, at = np.zeros(windows, bool), int(rng.integers(0, 10))
    while at < windows:
        length = int(rng.integers(1, 31))
        speaking[at:at + length] = True
        at += length + int(rng.integers(1, 16))
    return speaking


def test_the_streaming_follower_draws_exactly_the_files_ride():
    from tuss_fx.mix.ride import LineFollower, RideFollower, asked_reduction

    rng = np.random.default_rng(0)
    for _ in range(25):
        windows = int(rng.integers(1, 150))
        clarity = DialogueClarity(rng.uniform(-15, 20, windows), _runs(rng, windows), HOP_SECONDS,
                                  DEFAULT_TARGET_DBR_LU, rng.uniform(-45, -15, windows))
        settings = RideSettings(max_reduction_db=float(rng.uniform(3, 25)), attack_db_per_second=float(rng.uniform(20, 300)),
                                release_db_per_second=float(rng.uniform(5, 80)),
                                hold_seconds=float(rng.choice([0.0, 0.05, 0.2, 0.7])))
        duration = (windows + 4) * HOP_SECONDS + float(rng.uniform(0, 0.09))
        lines, follower, parts, done = LineFollower(), RideFollower(settings, HOP_SECONDS), [], 0
        while done < windows:  # as TUSSRide feeds them: windows in blocks, through the line key, then the ride
            step = int(rng.integers(1, 7))
            chosen = slice(done, done + step)
            dbr, answered = lines.push(clarity.dbr_lu[chosen], clarity.dialogue[chosen], clarity.dialogue_lufs[chosen],
                                       final=done + step >= windows)
            parts.append(follower.push(asked_reduction(dbr, answered, settings)))
            done += step
        streamed = np.concatenate([*parts, follower.finish(duration)])
        np.testing.assert_allclose(streamed, _reference_ride(clarity, settings, duration), atol=1e-12)
        np.testing.assert_allclose(ride_curve(clarity, settings, duration), streamed, atol=1e-12)


def test_a_line_is_a_long_enough_run_of_speech_less_its_quiet_tail():
    from tuss_fx.mix.ride import LINE_WITHIN_LU, MIN_LINE_WINDOWS, line_windows

    speaking = np.zeros(60, bool)
    speaking[5:5 + MIN_LINE_WINDOWS - 1] = True  # a false alarm one window short of a line: nothing
    speaking[30:30 + MIN_LINE_WINDOWS] = True  # a line
    lufs = np.full(60, -30.0)
    fading = slice(30 + MIN_LINE_WINDOWS - 2, 30 + MIN_LINE_WINDOWS)  # its last two windows
    lufs[fading] = -30.0 - LINE_WITHIN_LU - 2.0  # more than 12 LU under the line around them (-31 LUFS)
    found = line_windows(speaking, lufs)
    assert not found[:30].any() and not found[30 + MIN_LINE_WINDOWS:].any()
    assert found[30:fading.start].all() and not found[fading].any()
    lufs[fading] = -30.0 - LINE_WITHIN_LU + 1.0  # within: kept
    assert line_windows(speaking, lufs)[30:30 + MIN_LINE_WINDOWS].all()
    assert (line_windows(speaking, None) == line_windows(speaking, np.full(60, -30.0))).all()


@pytest.fixture()
def dfn_separator(parity_model):
    from tuss_fx.separation.separator import Separator

    return Separator(parity_model, device="cpu", dialogue_engine="deepfilternet")


def test_ride_processor_streams_as_one_call_and_rides_a_buried_line(dfn_separator):
    from tuss_fx.plugin import TUSSExtract, TUSSRide

    t = np.arange(6 * RATE) / RATE
    reading = _reading(3.0)  # a real line from 1.5 s to 4.5 s, at 0 dB under a noise bed
    voice = np.zeros(t.size)
    voice[int(1.5 * RATE):int(1.5 * RATE) + reading.size] = reading * 0.08 / np.sqrt(np.mean(reading ** 2))
    bed = 0.08 * np.random.default_rng(9).standard_normal(t.size)
    mix = np.stack([voice + bed, voice + bed]).astype(np.float32)
    ride = TUSSRide(separator=dfn_separator)
    whole = ride(mix, RATE)
    assert whole.shape == mix.shape and 0.4 * RATE < ride.latency_samples < 5 * RATE
    parts = [ride(mix[:, i:i + 3000], RATE, reset=False) for i in range(0, mix.shape[1], 3000)]
    held = np.arange(1, len(parts) + 1) * 3000 - np.cumsum([part.shape[1] for part in parts])
    assert held.max() <= ride.latency_samples  # what it says it may hold back, it does not exceed
    np.testing.assert_allclose(np.concatenate([*parts, ride.flush()], axis=1), whole, atol=1e-5)
    dialogue = TUSSExtract("speech", separator=dfn_separator)(mix, RATE)
    block = RATE // 10
    ratio = [20 * np.log10(np.sqrt(np.mean((whole - dialogue)[:, i:i + block] ** 2))
                           / np.sqrt(np.mean((mix - dialogue)[:, i:i + block] ** 2))) for i in range(0, t.size, block)]
    assert max(ratio) < 0.01  # the background is never raised
    assert np.median(ratio[20:40]) < -6.0  # and comes well down under the line (2 s - 4 s)
    assert np.median(ratio[:5]) > -1.0  # before the line (and its look-ahead) it is left alone


def test_the_ridden_line_s_dbr_is_the_target_by_an_independent_meter(dfn_separator):
    """The DBR lane the ride reads and reports (measure.dbr) against pyloudnorm's BS.1770 loudness of the
    dialogue and of the ridden background in each 400 ms window, on a real line buried at 0 dB: the same
    within 0.1 LU window by window, and the ride brings the line to its 10 LU target."""
    import pyloudnorm

    from tuss_fx.measure.dbr import DEFAULT_TARGET_DBR_LU, dialogue_clarity
    from tuss_fx.plugin import TUSSExtract, TUSSRide

    t = np.arange(6 * RATE) / RATE
    reading = _reading(3.0)
    voice = np.zeros(t.size)
    voice[int(1.5 * RATE):int(1.5 * RATE) + reading.size] = reading * 0.08 / np.sqrt(np.mean(reading ** 2))
    bed = 0.08 * np.random.default_rng(9).standard_normal(t.size)
    mix = np.stack([voice + bed, voice + 0.9 * bed]).astype(np.float32)
    ridden = TUSSRide(separator=dfn_separator)(mix, RATE)
    dialogue = TUSSExtract("speech", separator=dfn_separator)(mix, RATE)
    meters = [LoudnessMeter(RATE, 2, HOP_SECONDS) for _ in range(3)]
    for meter, signal in zip(meters, (ridden, dialogue, ridden - dialogue)):
        meter.push(signal)
    clarity = dialogue_clarity(*meters)
    reference = pyloudnorm.Meter(RATE, block_size=0.4)

    def lufs(signal, start):  # one 400 ms block: its momentary loudness, the part alone
        first = round(start * RATE)
        return reference.integrated_loudness(signal[:, first:first + round(0.4 * RATE) + 1].T.astype(np.float64))

    spoken = np.flatnonzero(clarity.dialogue)
    assert len(spoken) > 20
    independent = np.array([lufs(dialogue, k * clarity.hop_seconds) - lufs(ridden - dialogue, k * clarity.hop_seconds)
                            for k in spoken])
    np.testing.assert_allclose(clarity.dbr_lu[spoken], independent, atol=0.1)
    before = np.array([lufs(dialogue, k * clarity.hop_seconds) - lufs(mix - dialogue, k * clarity.hop_seconds)
                       for k in spoken])
    assert np.median(before) < 3.0 and np.median(independent) >= DEFAULT_TARGET_DBR_LU - 0.5


def test_ride_processor_leaves_clear_dialogue_alone(dfn_separator):
    """A real reading with nothing behind it: the engine keeps it as dialogue, the ride stays at unity,
    and dialogue + residual is the input."""
    from tuss_fx.media.resample import resample
    from tuss_fx.plugin import TUSSRide

    audio, rate = sf.read(MEDIA / "ljspeech-LJ050-0131.ogg", dtype="float32", always_2d=True)
    voice = resample(audio.mean(axis=1)[None], rate, RATE)[0, : 4 * RATE]
    out = TUSSRide(separator=dfn_separator)(voice[None], RATE)
    np.testing.assert_allclose(out[0], voice, atol=1e-6)  # dialogue + residual at unity: the input
