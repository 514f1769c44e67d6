"""Speech presence (tuss_fx.measure.speech): the window rule in closed form, Silero VAD on real speech and
real music, the stem rule that keeps an engine's leak out, streaming equal to whole, torch left as found."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from tuss_fx.measure.speech import FRAME_SECONDS, UNVOICED_FROM_HZ, SpeechPresence, speech_windows
from tuss_fx.recordings import RECORDINGS_DIR

RATE = 48000
MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)


def _read(name: str, seconds: float, start: float = 0.0) -> np.ndarray:
    audio, rate = sf.read(MEDIA / name, dtype="float32", always_2d=True)
    mono = soxr.resample(audio.mean(axis=1), rate, RATE)[int(start * RATE):]
    return np.resize(mono, int(seconds * RATE)).astype(np.float32)


@pytest.fixture(scope="module")
def reading():
    return _read("ljspeech-LJ050-0131.ogg", 6.0, 0.3)


@pytest.fixture(scope="module")
def strings():
    return _read("hungarian-dance-5-strings.ogg", 12.0, 5.0)


def _voiced_only(signal: np.ndarray) -> np.ndarray:
    """signal with nothing from 3/4 of UNVOICED_FROM_HZ up: no consonant the detector would count."""
    spectrum = np.fft.rfft(signal)
    spectrum[np.fft.rfftfreq(signal.size, 1 / RATE) > 0.75 * UNVOICED_FROM_HZ] = 0.0
    return np.fft.irfft(spectrum, signal.size).astype(np.float32)


def _detect(programme: np.ndarray, stem: np.ndarray | None = None, block: int = 4800) -> SpeechPresence:
    detector = SpeechPresence(RATE, 1)
    for start in range(0, programme.size, block):
        detector.push(programme[None, start:start + block], None if stem is None else stem[None, start:start + block])
    detector.finish()
    return detector


def test_windows_hold_speech_where_half_their_frames_do_after_the_hangover():
    frames = np.zeros(100, bool)
    frames[40:50] = True  # 1.28 s .. 1.60 s
    bare = speech_windows(frames, 20, 0.1, hangover_seconds=0.0)
    # window k spans frames floor(k·0.1/0.032) .. ceil((k·0.1 + 0.4)/0.032) - 1 and needs 6.25 speech frames
    # (half a window): k = 11 (frames 34-46) holds 7, k = 10 (31-43) only 4; k = 14 (43-56) 7, k = 15 4
    assert np.flatnonzero(bare).tolist() == [11, 12, 13, 14]
    extended = speech_windows(frames, 25, 0.1, hangover_seconds=0.3)  # 0.3 s is 9 frames: speech 31-58
    assert np.flatnonzero(extended).tolist() == list(range(8, 17))  # k = 8 (25-37) holds 7, k = 17 (53-65) 6
    assert not speech_windows(np.zeros(0, bool), 5, 0.1).any()  # frames not known yet: no speech


def test_a_reading_is_speech_and_a_string_section_is_not(reading, strings):
    programme = np.concatenate([np.zeros(3 * RATE, np.float32), reading, np.zeros(3 * RATE, np.float32)])
    windows = _detect(programme).windows(116, 0.1)
    line = np.zeros(116, bool)
    line[round(3.3 / 0.1):round(8.7 / 0.1)] = True  # well inside the reading
    assert windows[line].mean() > 0.95 and not windows[:20].any() and not windows[-20:].any()
    assert _detect(strings).windows(116, 0.1).mean() < 0.05  # music alone, as the programme


def test_the_stems_speech_counts_only_where_the_stem_holds_a_real_part_of_the_programme(reading, strings):
    """A line under loud strings that the mix's detector misses is found in the stem; the same line at
    -30 dB in the stem (a leak, as an engine leaves in music) is not."""
    music = strings[: reading.size] * 4.0
    programme = reading + music
    found = _detect(programme, reading).windows(50, 0.1)
    missed = _detect(programme).windows(50, 0.1)
    leaked = _detect(music, reading * 10 ** (-30 / 20)).windows(50, 0.1)
    assert found[10:45].mean() > 0.8 and found.mean() > missed.mean() + 0.3  # the reading pauses once
    assert leaked.mean() < 0.05


@pytest.mark.parametrize("with_stem", [False, True])
def test_new_windows_asked_block_by_block_equal_the_whole_programmes(reading, strings, with_stem):
    """Without a stem the mix's detector decides; with one the reading is buried under the strings, so the
    stem's speech decides, and its first 3 s (no consonants) count only once the consonants after them
    are known (UNVOICED_REACH_SECONDS later)."""
    buried = reading + strings[: reading.size] * 4.0 if with_stem else reading
    programme = np.concatenate([buried, strings[: 3 * RATE]]) * 0.5
    stem = np.concatenate([_voiced_only(reading[: 3 * RATE]), reading[3 * RATE:], strings[: 3 * RATE] * 0.1])
    stem = (stem * 0.5).astype(np.float32)
    detector = SpeechPresence(RATE, 1)
    asked, settled = [], 0
    for start in range(0, programme.size, 3000):
        detector.push(programme[None, start:start + 3000], stem[None, start:start + 3000] if with_stem else None)
        now = detector.settled_windows(0.1)
        asked.append(detector.windows(now - settled, 0.1, first_window=settled))
        settled = now
    detector.finish()
    whole = detector.windows(settled, 0.1)
    np.testing.assert_array_equal(np.concatenate(asked), whole)
    frames = detector.num_frames
    np.testing.assert_array_equal(detector.programme_windows(0.1)[:settled], whole)  # finishes again: no-op
    assert detector.num_frames == frames
    assert whole.any() and not whole.all()
    assert detector.num_frames == pytest.approx(programme.size / RATE / FRAME_SECONDS, abs=2)


def test_loading_the_detector_leaves_torchs_threads_as_they_were():
    """silero_vad's import sets 1 thread for the whole process, once: in this test process another test may
    have imported it already, so the check runs in a fresh one where the detector's load is the first."""
    probe = ("import sys, torch\n"
             "torch.set_num_threads(3)\n"
             "assert 'silero_vad' not in sys.modules\n"
             "from tuss_fx.measure.speech import SpeechPresence\n"
             "SpeechPresence(48000, 2)\n"
             "assert 'silero_vad' in sys.modules, 'the detector did not load silero'\n"
             "print(torch.get_num_threads())\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "3"


def test_the_batched_network_gives_the_torchscript_models_probabilities(reading, strings):
    """The detector runs Silero's network with every frame of a block encoded at once and the LSTM over the
    block in one call; Silero's own runtime feeds the TorchScript model frame by frame. Same numbers."""
    from silero_vad import load_silero_vad

    threads = torch.get_num_threads()
    scripted = load_silero_vad()
    torch.set_num_threads(threads)
    programme = (reading + strings[: reading.size]) * 0.5
    detector = _detect(programme, reading, block=7000)  # blocks that split frames anywhere
    at_16k = np.stack([soxr.resample(signal, RATE, 16000, quality="HQ") for signal in (programme, reading)])
    at_16k = at_16k[:, : at_16k.shape[1] // 512 * 512].astype(np.float32)
    expected = scripted.audio_forward(torch.from_numpy(at_16k), 16000).numpy()
    found = detector.probabilities[:, : expected.shape[1]]
    np.testing.assert_allclose(found[:, 5:-5], expected[:, 5:-5], atol=1e-3)  # the resamplers' edges aside
    assert expected.max() > 0.9 and expected.min() < 0.1


def test_speech_counts_in_runs_of_a_line_s_length():
    """long_runs: a burst one window short of MIN_RUN_WINDOWS is dropped, a run of it kept, at either edge too;
    the detector's windows apply it (min_run=1 gives every window)."""
    from tuss_fx.measure.speech import MIN_RUN_WINDOWS, long_runs

    windows = np.zeros(60, bool)
    windows[:MIN_RUN_WINDOWS] = True  # a line from the first window
    windows[20:20 + MIN_RUN_WINDOWS - 1] = True  # a burst: not dialogue
    windows[60 - MIN_RUN_WINDOWS:] = True  # a line to the last
    kept = long_runs(windows, MIN_RUN_WINDOWS)
    assert kept[:MIN_RUN_WINDOWS].all() and kept[60 - MIN_RUN_WINDOWS:].all()
    assert not kept[MIN_RUN_WINDOWS:60 - MIN_RUN_WINDOWS].any()
    assert (long_runs(windows, 1) == windows).all() and not long_runs(windows[:5], MIN_RUN_WINDOWS).any()


def test_the_stem_overrules_the_mix_where_it_hears_no_voice_and_holds_little(reading):
    """The mix's detector remembers a line after it ends; where the engine's stem says no voice and holds
    under a tenth of the frame, the mix's speech does not count. A stem that holds a real part of the frame
    does not overrule, and stem_silent_probability=0 turns the rule off."""
    programme = np.concatenate([np.zeros(RATE, np.float32), reading, np.zeros(RATE, np.float32)])
    hiss = np.random.default_rng(7).standard_normal(programme.size).astype(np.float32)
    hiss *= np.sqrt(np.mean(reading ** 2)) / np.sqrt(np.mean(hiss ** 2))
    line = np.zeros(80, bool)
    line[round(1.3 / 0.1):round(6.7 / 0.1)] = True  # well inside the reading
    assert _detect(programme).windows(80, 0.1)[line].mean() > 0.95  # no stem: the mix decides
    quiet = _detect(programme, hiss * 10 ** (-40 / 20))
    assert quiet.windows(80, 0.1)[line].mean() < 0.05
    assert quiet.windows(80, 0.1, stem_silent_probability=0.0)[line].mean() > 0.95
    assert _detect(programme, hiss).windows(80, 0.1)[line].mean() > 0.95  # as loud as the mix: not overruled
    assert _detect(programme, programme).windows(80, 0.1)[line].mean() > 0.95


def test_the_stems_speech_alone_needs_the_consonants_of_speech_near_it(reading, strings):
    """Under strings the mix's detector misses the line and the stem's finds it; a stem with nothing in the
    consonants' band (what an engine leaks of a legato string phrase looks like) does not count alone,
    unless the rule is off."""
    music = strings[: reading.size] * 4.0
    programme = reading + music
    voiced_only = _voiced_only(reading)
    found = _detect(programme, reading).windows(50, 0.1)
    dull = _detect(programme, voiced_only)
    assert found[10:45].mean() > 0.8
    assert dull.windows(50, 0.1).mean() < 0.05
    assert dull.windows(50, 0.1, unvoiced_reach_seconds=None)[10:45].mean() > 0.8


MUSIC_CLIPS = {"strings": ("hungarian-dance-5-strings.ogg", 5.0), "trumpet": ("sorohanro-solo-trumpet.ogg", 0.0),
               "orchestra": ("kevin-macleod-sugar-plum-fairy.ogg", 10.0)}
FALSE_ALARM_GATE = 0.05  # of the windows of music alone that may read as speech
RECALL_GATE = 0.9  # of the windows inside a line that must


@pytest.fixture(scope="module")
def engine():
    from tuss_fx.deepfilternet import enhance, load_network

    network = load_network()
    return lambda signal: enhance(network, signal[None])[0]


def _music(name: str, reading: np.ndarray, level_db: float) -> np.ndarray:
    """A real music clip as long as the reading, its RMS `level_db` over the reading's."""
    path, start = MUSIC_CLIPS[name]
    music = _read(path, reading.size / RATE, start)
    return music * 10 ** (level_db / 20) * np.sqrt(np.mean(reading ** 2)) / np.sqrt(np.mean(music ** 2))


LOUD_ORCHESTRA_MISREAD = pytest.mark.xfail(
    strict=True, reason="measured 25 % of the windows (2026-12-06): DFN3 leaks -11.5 dB of this orchestral passage "
                        "6 dB over dialogue level, and the stem rule lets it count (not yet analysed why); a ride would "
                        "dip the music there. Strict: a fix makes this test fail until updated")


@pytest.mark.parametrize("name,level_db", [(name, level) for level in (0.0, 6.0) for name in sorted(MUSIC_CLIPS)
                                           if (name, level) != ("orchestra", 6.0)]
                         + [pytest.param("orchestra", 6.0, marks=LOUD_ORCHESTRA_MISREAD)])
def test_the_real_engine_s_leak_over_music_alone_is_not_speech(engine, reading, name, level_db):
    """What DFN3 really leaves in its dialogue stem over music with no one speaking (not a simulated leak),
    as the detector's stem: at most FALSE_ALARM_GATE of the windows read as speech."""
    music = _music(name, reading, level_db)
    windows = _detect(music, engine(music)).windows(int(music.size / RATE / 0.1), 0.1)
    assert windows.mean() <= FALSE_ALARM_GATE


@pytest.mark.parametrize("name", sorted(MUSIC_CLIPS))
def test_a_line_over_music_is_found_through_the_real_engine_s_stem(engine, reading, name):
    """A reading 6 dB under each music clip: with the engine's real stem the detector finds the line."""
    programme = reading + _music(name, reading, 6.0)
    count = int(programme.size / RATE / 0.1)
    windows = _detect(programme, engine(programme)).windows(count, 0.1)
    assert windows[10:count - 8].mean() >= RECALL_GATE  # inside the line (the reading pauses once, briefly)
