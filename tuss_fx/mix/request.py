"""What a remix is asked to do beyond its preset, gathered in one object: where it writes and in which
formats, what else it reports, the automation it runs or writes, the plan and channels, a film's track.

The command line, batch, conform, the audition's preview and the Python API each build a RemixRequest;
remix_file, remix_film and remix_probed (tuss_fx.mix.remix, tuss_fx.mix.film) read it, so a new option is
one field here rather than one more parameter on every signature on the way down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tuss_fx.media.bwf import BroadcastOutput
from tuss_fx.media.remux import AddedTrack
from tuss_fx.mix.automation import GainAutomation
from tuss_fx.mix.replace import Replacement


@dataclass(frozen=True)
class FilmOutput:
    """How a film output carries the remix: the codec of its track ("auto": PCM in MOV/MKV/MXF, ALAC in MP4,
    Opus in WebM; media.remux.CODEC_CHOICES), whether the other audio tracks go, and whether the remix
    replaces the track it came from or is added after the film's tracks as another language version
    (`added`: its ISO 639-2 language and title; the film's own audio is kept)."""

    audio_codec: str = "auto"
    drop_other_audio: bool = False
    added: AddedTrack | None = None


@dataclass(frozen=True)
class RemixRequest:
    """One remix's outputs and options (the preset says how it sounds; this says what it writes).

    output: the remix (a .wav/.flac, or a film container for remix_film).
    output_format: FORMAT_CHOICES name of the remix; None: by output's suffix ("wav" follows the input's
        PCM depth). stems_dir / stems_format: each processed source written there too.
    overwrite: replace existing outputs. report: a PNG or HTML report (and its JSON).
    automation: MIDI lanes riding the faders (replaces a preset's ride); write_automation: a MIDI file of
        the lanes the remix ran. plan: "auto", "stems" or "dialogue" (None: the preset's).
    engine_channels: the channels the separation engines get (media.layout: "front", "all", "center").
    audio_track: a film input's audio track, from 1 (None: the first).
    broadcast: the Broadcast WAV chunks of WAV outputs (None: the input's own, if it has any).
    film: the film output's track options (remix_film).
    replacements: stems replaced by new recordings (a dub, ADR), each placed by timecode where it and the
        programme carry one, else from the programme's start;
    match: how their gain follows the original stem ("lines", "programme", "off": mix.replace.MATCHES);
    match_eq: also match the original stem's tone (octave EQ).
    """

    output: Path
    output_format: str | None = None
    stems_dir: Path | None = None
    stems_format: str = "wav"
    overwrite: bool = False
    report: Path | None = None
    automation: GainAutomation | None = None
    write_automation: Path | None = None
    plan: str | None = None
    engine_channels: str = "front"
    audio_track: int | None = None
    broadcast: BroadcastOutput | None = None
    film: FilmOutput = FilmOutput()
    replacements: tuple[Replacement, ...] = ()
    match: str = "lines"
    match_eq: bool = False

    @classmethod
    def of(cls, request: RemixRequest | Path | str) -> RemixRequest:
        """A request as given, or the shorthand of an output path alone (every other field its default)."""
        return request if isinstance(request, RemixRequest) else cls(Path(request))

    @property
    def extra_outputs(self) -> list[Path]:
        """The files besides the remix and its stems that the request writes (checked before any work)."""
        return [self.write_automation] if self.write_automation else []
