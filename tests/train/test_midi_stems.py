import io
import shutil
import struct
from pathlib import Path

import mido
import numpy as np
import pytest

from tuss_fx.train.midi_stems import CHOIR_AAHS, MidiStemSource, channel_roles, stem_midi, wad_midi_lumps


def _song() -> mido.MidiFile:
    """Drums (ch 10), a bass (program 33), a low pad and a high lead, with a tempo change."""
    song = mido.MidiFile(type=1, ticks_per_beat=96)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0),
                           mido.MetaMessage("set_tempo", tempo=400000, time=192)])
    song.tracks.append(meta)
    parts = mido.MidiTrack()
    parts.append(mido.Message("program_change", channel=1, program=33, time=0))
    parts.append(mido.Message("program_change", channel=2, program=48, time=0))
    parts.append(mido.Message("program_change", channel=3, program=73, time=0))
    for beat in range(8):
        for channel, note in ((9, 36), (1, 40), (2, 60), (3, 79)):
            parts.append(mido.Message("note_on", channel=channel, note=note, velocity=90, time=0))
        parts.append(mido.Message("control_change", channel=2, control=7, value=100, time=48))
        for index, (channel, note) in enumerate(((9, 36), (1, 40), (2, 60), (3, 79))):
            parts.append(mido.Message("note_off", channel=channel, note=note, velocity=0, time=48 if index == 0 else 0))
    song.tracks.append(parts)
    return song


def _absolute(track):
    tick = 0
    for message in track:
        tick += message.time
        yield tick, message


def test_channels_split_by_general_midi_role():
    assert channel_roles(_song()) == {"drums": [9], "bass": [1], "vocals": [3], "other": [2]}


def test_stem_keeps_every_kept_event_at_its_tick_and_the_tempo_map():
    song = _song()
    stem = stem_midi(song, [2])
    original = [(t, m) for t, m in _absolute(song.tracks[1]) if getattr(m, "channel", None) == 2]
    kept = [(t, m) for t, m in _absolute(stem.tracks[1]) if hasattr(m, "channel")]
    assert [(t, m.copy(time=0)) for t, m in original] == [(t, m.copy(time=0)) for t, m in kept]
    assert [m for m in stem.tracks[0] if m.type == "set_tempo"] == [m for m in song.tracks[0]]
    assert abs(stem.length - song.length) < 0.06  # the same song length, tempo change included


def test_vocal_stand_in_is_repatched_to_a_choir():
    stem = stem_midi(_song(), [3], repatch=CHOIR_AAHS)
    programs = [m.program for track in stem.tracks for m in track if m.type == "program_change"]
    assert programs and set(programs) == {CHOIR_AAHS}


def _wad(lumps):
    body, directory, offset = b"", b"", 12
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset + len(body), len(data), name.encode())
        body += data
    return b"IWAD" + struct.pack("<ii", len(lumps), 12 + len(body)) + body + directory


def test_wad_reader_finds_the_midi_lumps_only():
    midi = io.BytesIO()
    _song().save(file=midi)
    wad = _wad([("MAP01", b"\x00" * 40), ("D_RUNNIN", midi.getvalue()), ("DSPISTOL", b"\x03\x00" + b"\x80" * 30)])
    lumps = list(wad_midi_lumps(wad))
    assert [name for name, _ in lumps] == ["D_RUNNIN"]
    assert channel_roles(mido.MidiFile(file=io.BytesIO(lumps[0][1]))) == channel_roles(_song())
    with pytest.raises(ValueError, match="not a WAD"):
        list(wad_midi_lumps(b"RIFF" + b"\x00" * 20))
    with pytest.raises(ValueError, match="truncated"):
        list(wad_midi_lumps(wad[:-20]))


SOUNDFONT = next((p for p in ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2")
                  if Path(p).exists()), None)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or SOUNDFONT is None,
                    reason="needs the fluidsynth CLI and a GM soundfont (.ci/run installs them with apt)")
def test_rendered_stems_sum_to_the_music_clip(tmp_path):
    soundfont = SOUNDFONT
    root = tmp_path / "root"
    (root / "usr/share/doc/songs").mkdir(parents=True)
    (root / "usr/share/doc/songs/copyright").write_text("License: CC0\n")
    (root / "usr/share/songs").mkdir(parents=True)
    _song().save(root / "usr/share/songs/groove.mid")
    source = MidiStemSource("songs", ("usr/share/songs/*.mid",), soundfont.lstrip("/"), "fluidsynth")
    (root / soundfont.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / soundfont.lstrip("/")).symlink_to(soundfont)
    (root / "usr/share/doc/fluidsynth").mkdir(parents=True)
    (root / "usr/share/doc/fluidsynth/copyright").write_text("License: LGPL-2.1+\n")
    assert source.licence(root) == "CC0; rendered with fluidsynth (LGPL-2.1+)"
    decoded = {d.prompt: d for d in source.decode(root)}
    assert set(decoded) == {"drums", "bass", "vocals", "other", "musicbg"}
    stems = [decoded[s].audio for s in ("drums", "bass", "vocals", "other")]
    assert all(np.sqrt(np.mean(s**2)) > 1e-4 for s in stems)  # every stem sounds
    np.testing.assert_array_equal(decoded["musicbg"].audio, stems[0] + stems[1] + stems[2] + stems[3])
    assert decoded["drums"].sample_rate == 48000 and decoded["musicbg"].source_path.endswith("groove.mid#mix")


def test_chorales_are_arranged_as_sung_soprano_bass_and_inner_voices():
    # optional: music21 comes with the train extra (corpus building only), not the dev install CI runs
    pytest.importorskip("music21", reason="music21 is in the train extra, not the dev install")
    from tuss_fx.train.midi_stems import ChoraleStemSource

    songs = list(ChoraleStemSource(count=2).songs(Path("/")))
    assert len(songs) == 2 and all(name.startswith("music21/corpus/bach/") for name, _ in songs)
    for _, song in songs:
        roles = channel_roles(song)
        assert set(roles) == {"vocals", "bass", "other"}
        programs = {m.channel: m.program for track in song.tracks for m in track if m.type == "program_change"}
        assert {programs[c] for c in roles["vocals"]} == {CHOIR_AAHS} and {programs[c] for c in roles["bass"]} == {32}
