import math

import mido
import numpy as np
import pytest

from tuss_fx.mix.automation import RAMP_MS, GainAutomation, cc_to_gain_db, gain_db_to_cc, lanes_to_midi


def test_fader_law():
    assert cc_to_gain_db(127) == pytest.approx(6.0)
    assert cc_to_gain_db(90) == pytest.approx(0.0, abs=0.05)
    assert cc_to_gain_db(0) == -math.inf
    for value in (1, 32, 64, 90, 127):
        assert gain_db_to_cc(cc_to_gain_db(value)) == value


def _midi_with_tempo_change(path):
    """Two beats at 120 BPM (1.0 s), then 60 BPM: an event 1 beat later lands at 2.0 s."""
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=960),
    ]))
    midi.tracks.append(mido.MidiTrack([
        mido.Message("control_change", channel=1, control=7, value=127, time=480),  # 0.5 s, stem 2
        mido.Message("control_change", channel=1, control=7, value=0, time=960),  # 2.0 s
        mido.Message("control_change", channel=0, control=10, value=3, time=0),  # pan: ignored
    ]))
    midi.save(path)


def test_gain_curve_is_sample_accurate(tmp_path):
    path = tmp_path / "ride.mid"
    _midi_with_tempo_change(path)
    lanes = GainAutomation.from_midi(path, ["speech", "musicbg", "residual"])
    assert list(lanes.lanes) == ["musicbg"]
    rate, ramp = 1000, int(RAMP_MS)  # 1 kHz: one sample per ms, so the ramp is 10 samples
    env = lanes.envelope("musicbg", 0, 3000, rate, initial_db=-6.0)
    start = 10 ** (-6 / 20)
    np.testing.assert_allclose(env[:501], start, rtol=1e-6)  # preset gain until 0.5 s
    np.testing.assert_allclose(env[500 : 500 + ramp + 1], np.linspace(start, 10 ** (6 / 20), ramp + 1), rtol=1e-5)
    np.testing.assert_allclose(env[510:2001], 10 ** (6 / 20), rtol=1e-6)  # +6 dB until 2.0 s (tempo map)
    np.testing.assert_allclose(env[2000:2011], np.linspace(10 ** (6 / 20), 0, 11), rtol=1e-5, atol=1e-7)
    assert not env[2010:].any()  # CC 0 mutes
    # rendered in pieces it is the same curve
    pieces = np.concatenate([lanes.envelope("musicbg", s, 333, rate, -6.0) for s in range(0, 2997, 333)])
    np.testing.assert_array_equal(pieces, env[:2997])
    # a stem with no lane keeps its preset gain
    np.testing.assert_allclose(lanes.envelope("speech", 0, 100, rate, 3.0), 10 ** (3 / 20), rtol=1e-6)


def test_lanes_round_trip(tmp_path):
    midi = lanes_to_midi(["speech", "sfxbg", "residual"], {name: [(0.0, gain), (12.5, gain)] for name, gain in
                                                           zip(["speech", "sfxbg", "residual"], [0.0, -6.0, -math.inf])},
                         12.5)
    midi.save(tmp_path / "t.mid")
    lanes = GainAutomation.from_midi(tmp_path / "t.mid", ["speech", "sfxbg", "residual"])
    assert [t for t, _ in lanes.lanes["speech"]] == pytest.approx([0.0, 12.5], abs=1e-3)
    assert lanes.lanes["sfxbg"][0][1] == pytest.approx(-6.0, abs=0.1)
    assert lanes.lanes["residual"][0][1] == -math.inf


def test_not_midi(tmp_path):
    from tuss_fx.mix.automation import AutomationError

    (tmp_path / "x.mid").write_text("not midi")
    with pytest.raises(AutomationError, match="not a readable MIDI file"):
        GainAutomation.from_midi(tmp_path / "x.mid", ["speech"])
