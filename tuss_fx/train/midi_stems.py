"""Instrument stems with exact ground truth: MIDI songs rendered one stem at a time with fluidsynth.

A song's channels are split into the four MSS stems by General MIDI role (channel 10 drums,
programs 33-40 bass, choir/voice programs or, standing in for a singer, the highest melodic part
re-patched to Choir Aahs as vocals, the rest other). Each stem is written as its own MIDI file
(tempo map and controllers kept) and rendered by the `fluidsynth` CLI with a GM soundfont; the
song's music-bed clip (musicbg) is the float sum of the stem renders, never a separate full
render, so the stems add up to it exactly.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from tuss_fx.train.packages import CorpusError, Decoded, package_files, package_licence

DRUM_CHANNEL = 9  # GM channel 10
BASS_PROGRAMS = range(32, 40)  # GM programs 33-40: acoustic .. synth bass
VOICE_PROGRAMS = range(52, 55)  # Choir Aahs, Voice Oohs, Synth Voice
CHOIR_AAHS = 52
RENDER_RATE = 48000
RENDER_GAIN = 0.2  # fluidsynth's default gain clips a full GM arrangement (DATA.md)
RENDER_TIMEOUT_S = 600


def wad_midi_lumps(wad: bytes) -> Iterator[tuple[str, bytes]]:
    """(lump name, Standard MIDI File bytes) for every MIDI lump of a Doom IWAD/PWAD.

    A WAD is a 12-byte header (magic, lump count, directory offset) and a directory of 16-byte
    entries (offset, size, 8-byte name); music lumps that are MIDI start with "MThd".
    """
    if len(wad) < 12 or wad[:4] not in (b"IWAD", b"PWAD"):
        raise ValueError("not a WAD file (no IWAD/PWAD header)")
    count, directory = struct.unpack_from("<ii", wad, 4)
    if directory + 16 * count > len(wad):
        raise ValueError("truncated WAD directory")
    for index in range(count):
        offset, size, raw_name = struct.unpack_from("<ii8s", wad, directory + 16 * index)
        lump = wad[offset : offset + size]
        if lump[:4] == b"MThd":
            yield raw_name.rstrip(b"\0").decode("ascii", "replace"), lump


@dataclass(frozen=True)
class ChannelRole:
    channel: int
    program: int  # first program change, GM default 0
    notes: int
    mean_pitch: float


def channel_roles(song: mido.MidiFile) -> dict[str, list[int]]:
    """stem name -> MIDI channels, for the stems that have notes in this song."""
    programs: dict[int, int] = {}
    pitches: dict[int, list[int]] = {}
    for track in song.tracks:
        for message in track:
            if message.type == "program_change":
                programs.setdefault(message.channel, message.program)
            elif message.type == "note_on" and message.velocity > 0:
                pitches.setdefault(message.channel, []).append(message.note)
    roles: dict[str, list[int]] = {"drums": [], "bass": [], "vocals": [], "other": []}
    melodic = []
    for channel, notes in sorted(pitches.items()):
        program = programs.get(channel, 0)
        if channel == DRUM_CHANNEL:
            roles["drums"].append(channel)
        elif program in BASS_PROGRAMS:
            roles["bass"].append(channel)
        elif program in VOICE_PROGRAMS:
            roles["vocals"].append(channel)
        else:
            melodic.append(ChannelRole(channel, program, len(notes), float(np.mean(notes))))
    if not roles["vocals"] and len(melodic) >= 2:
        # no sung part in the arrangement: the highest melodic part, sung by a choir patch
        lead = max(melodic, key=lambda role: role.mean_pitch)
        roles["vocals"].append(lead.channel)
        melodic.remove(lead)
    roles["other"] = [role.channel for role in melodic]
    return {stem: channels for stem, channels in roles.items() if channels}


def stem_midi(song: mido.MidiFile, channels: list[int], repatch: int | None = None) -> mido.MidiFile:
    """The song with only `channels`' channel messages kept (meta, tempo and sysex stay).

    Dropped messages hand their delta time on, so every kept event stays at its tick. With
    `repatch`, those channels play that GM program from the first tick.
    """
    out = mido.MidiFile(type=song.type, ticks_per_beat=song.ticks_per_beat)
    for number, track in enumerate(song.tracks):
        kept = mido.MidiTrack()
        if repatch is not None and number == 0:
            kept.extend(mido.Message("program_change", channel=c, program=repatch, time=0) for c in channels)
        carried = 0
        for message in track:
            carried += message.time
            if hasattr(message, "channel") and message.channel not in channels:
                continue
            if repatch is not None and message.type == "program_change":
                message = message.copy(program=repatch)
            kept.append(message.copy(time=carried))
            carried = 0
        out.tracks.append(kept)
    return out


def render(midi: mido.MidiFile, soundfont: Path, workdir: Path) -> np.ndarray:
    """(L, 2) float32 at RENDER_RATE: `midi` rendered by the fluidsynth CLI."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise CorpusError("fluidsynth", "not installed; run: apt-get install --no-install-recommends fluidsynth")
    source, target = workdir / "stem.mid", workdir / "stem.wav"
    midi.save(source)
    subprocess.run([fluidsynth, "-ni", "-q", "-g", str(RENDER_GAIN), "-O", "float", "-T", "wav",
                    "-r", str(RENDER_RATE), "-F", str(target), str(soundfont), str(source)],
                   check=True, capture_output=True, timeout=RENDER_TIMEOUT_S)
    audio, _ = sf.read(target, dtype="float32", always_2d=True)
    return audio


def render_stems(song: mido.MidiFile, soundfont: Path) -> dict[str, np.ndarray]:
    """stem -> (L, 2) render, all padded to one length; stems without notes are left out."""
    stems = {}
    with tempfile.TemporaryDirectory(prefix="tuss-fx-render-") as workdir:
        for stem, channels in channel_roles(song).items():
            repatch = CHOIR_AAHS if stem == "vocals" else None
            stems[stem] = render(stem_midi(song, channels, repatch), soundfont, Path(workdir))
    length = max((audio.shape[0] for audio in stems.values()), default=0)
    return {stem: np.pad(audio, ((0, length - audio.shape[0]), (0, 0))) for stem, audio in stems.items()}


@dataclass(frozen=True)
class MidiStemSource:
    """MIDI songs of a package (plain .mid files, or the music lumps of WADs) rendered as stems.

    Decodes to drums/bass/vocals/other clips per song plus the song's musicbg clip (their sum),
    so the contradictory groupings of TUSS train on the same music.
    """

    package: str
    patterns: tuple[str, ...]  # globs relative to the root: .mid files or .wad files
    soundfont: str  # path relative to the root
    soundfont_package: str
    split: str = "train"

    def licence(self, root: Path) -> str:
        """The songs' licence, then the soundfont's: a render carries both."""
        soundfont = package_licence(root, self.soundfont_package)  # raises with the install line when missing
        return f"{package_licence(root, self.package)}; rendered with {self.soundfont_package} ({soundfont})"

    def songs(self, root: Path) -> Iterator[tuple[str, mido.MidiFile]]:
        for path in package_files(root, self.patterns):
            relative = path.relative_to(root).as_posix()
            data = path.read_bytes()
            lumps = wad_midi_lumps(data) if path.suffix.lower() == ".wad" else [(path.stem, data)]
            for name, midi in lumps:
                try:
                    song = mido.MidiFile(file=io.BytesIO(midi))
                except (OSError, ValueError, EOFError, KeyError):
                    continue  # a lump mido cannot parse is skipped, not fatal
                yield (f"{relative}!{name}" if path.suffix.lower() == ".wad" else relative), song

    def decode(self, root: Path) -> Iterator[Decoded]:
        soundfont = root / self.soundfont
        for source_path, song in self.songs(root):
            stems = render_stems(song, soundfont)
            if not stems:
                continue
            for stem, audio in stems.items():
                yield Decoded(stem, f"{source_path}#{stem}", audio, RENDER_RATE)
            yield Decoded("musicbg", f"{source_path}#mix", sum(stems.values()), RENDER_RATE)


# Bach chorale parts by name -> the GM program that gives them a stem role: the soprano line sung
# by a choir (vocals), the bass line on an acoustic bass (bass), inner voices on strings (other)
CHORALE_PROGRAMS = {"soprano": CHOIR_AAHS, "bass": 32}
CHORALE_INNER_PROGRAM = 48  # String Ensemble 1


@dataclass(frozen=True)
class ChoraleStemSource(MidiStemSource):
    """Bach's four-part chorales from music21's bundled corpus, arranged as vocals / bass / other.

    Only chorales with named Soprano and Bass parts are used; `count` caps how many (a render of
    three stems per chorale takes a few seconds).
    """

    package: str = "music21"
    patterns: tuple[str, ...] = ()
    soundfont: str = "usr/share/sounds/sf2/FluidR3_GM.sf2"
    soundfont_package: str = "fluid-soundfont-gm"
    count: int = 120

    def licence(self, root: Path) -> str:
        try:
            import music21  # noqa: F401
        except ImportError as error:
            raise CorpusError(self.package, "not installed; run: pip install music21 "
                                            "(or: pip install -e '.[train]')") from error
        soundfont = package_licence(root, self.soundfont_package)
        return (f"public domain (J. S. Bach; music21 corpus, BSD-3); "
                f"rendered with {self.soundfont_package} ({soundfont})")

    def songs(self, root: Path) -> Iterator[tuple[str, mido.MidiFile]]:
        from music21 import corpus, instrument, midi

        used = 0
        for path in corpus.getComposer("bach"):
            if used == self.count:
                return
            score = corpus.parse(path)
            names = [(part.partName or "").strip().lower() for part in score.parts]
            if "soprano" not in names or "bass" not in names:
                continue
            for part, name in zip(score.parts, names):
                for old in part.recurse().getElementsByClass(instrument.Instrument):
                    part.remove(old, recurse=True)
                voice = instrument.Instrument()
                voice.midiProgram = CHORALE_PROGRAMS.get(name, CHORALE_INNER_PROGRAM)
                part.insert(0, voice)
            song = mido.MidiFile(file=io.BytesIO(midi.translate.music21ObjectToMidiFile(score).writestr()))
            used += 1
            yield f"music21/corpus/bach/{Path(path).name}", song
