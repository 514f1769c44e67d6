"""What a remix or separation did, as numbers (JSON) and a picture (PNG, or HTML with it embedded):
short-term loudness of input and output against the target, each stem's momentary loudness before
and after its gain and chain, integrated loudness and true peak of each, and spectrogram strips
of the input and the dialogue stem. The numbers come from the same streaming BS.1770 meter the
remix uses, so they match pyloudnorm."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tuss_fx.errors import TussFxError
from tuss_fx.measure.loudness import BLOCK_SECONDS, DialogueGate, LoudnessMeter, dialogue_gated_loudness
from tuss_fx.measure.meters import HOP_SECONDS, MOMENTARY_SECONDS, SHORT_TERM_SECONDS, ProgrammeMeter
from tuss_fx.measure.speech import SpeechPresence
from tuss_fx.media.audio_io import AudioInfo, check_targets, make_parents, remove_if_empty
from tuss_fx.media.layout import dialogue_channels
from tuss_fx.media.temp_files import write_atomically

REPORT_SUFFIXES = (".png", ".html")
# the stems a report draws a spectrogram of, first found wins
DIALOGUE_STEMS = ("speech", "vocals")


def check_report_target(path: Path, overwrite: bool) -> None:
    """Refuse before any work: a suffix we cannot draw, no matplotlib, or existing files."""
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise TussFxError(path, f"a report is .png or .html, not {path.suffix or 'no suffix'}")
    try:
        import matplotlib  # noqa: F401 - only checking it is there
    except ImportError:
        raise TussFxError(path, "reports need matplotlib: pip install 'tuss-fx[report]'") from None
    check_targets([path, json_beside(path)], overwrite)


def json_beside(path: Path) -> Path:
    return path.with_suffix(".json")


def programme_name(info: AudioInfo) -> str:
    """The input as a report's title names it: the file, and the track of a film container."""
    return info.path.name + (f" (audio track {info.audio_track})" if info.audio_track else "")


def dialogue_stem(names: list[str]) -> str | None:
    return next((name for base in DIALOGUE_STEMS for name in names if name.split("_")[0] == base), None)


class ReportRecorder:
    """Meters every signal of one programme as it streams past; `write` draws and saves the report."""

    def __init__(self, info: AudioInfo, sources: list[str], title: str, target_lufs: float | None,
                 processed: bool, stem_state: str = "before", plan: dict | None = None) -> None:
        """sources: the stem names (and the residual where it is metered); processed: stems have an
        'after' (gain and chain) state besides the first one, which is named `stem_state` ("before":
        as separated; "written": stem files read back); plan: the remix plan that ran and why
        (tuss_fx.mix.plan.RemixPlan.as_dict), kept in the numbers."""
        self.info, self.title, self.target_lufs, self._stem_state = info, title, target_lufs, stem_state
        self.plan = plan
        rate, channels, frames = info.sample_rate, info.num_channels, info.num_frames
        self.input = ProgrammeMeter(rate, channels, frames)
        dialogue = dialogue_stem(sources)
        self.before = {name: ProgrammeMeter(rate, channels, frames if name == dialogue else None) for name in sources}
        self.after = {name: ProgrammeMeter(rate, channels) for name in sources} if processed else {}
        self.mix = ProgrammeMeter(rate, channels) if processed else None
        self.output: ProgrammeMeter | None = None  # set when a second pass (gain, limiter) runs
        self.dialogue = dialogue
        # mix - dialogue as separated, for the dialogue-to-background ratio (measure.dbr)
        self.background = LoudnessMeter(rate, channels, HOP_SECONDS) if dialogue and dialogue != "vocals" else None
        # where people speak (measure.speech), which decides the dialogue windows of the DBR and the gate
        self.speech = SpeechPresence(rate, channels, dialogue_channels(info.channel_layout)) \
            if self.background is not None else None
        self.ride_db: np.ndarray | None = None  # the background's ride (mix.ride) in dB, every HOP_SECONDS
        # each replaced stem's decisions (mix.replace: its lines' gains, the gain curve, the EQ)
        self.replacements: list[dict] = []

    def push_input(self, mixture: np.ndarray, stems: np.ndarray) -> None:
        """mixture: (C, m); stems: (P, C, m) for the sources given at construction but the residual
        (the last one), which is mixture - Σ stems."""
        self.input.push(mixture)
        for meter, source in zip(self.before.values(), [*stems, mixture - stems.sum(axis=0)]):
            meter.push(source)
        if self.background is not None:
            dialogue = stems[list(self.before).index(self.dialogue)]
            self.background.push(mixture - dialogue)
            self.speech.push(mixture, dialogue)

    def push_after(self, name: str, block: np.ndarray) -> None:
        self.after[name].push(block)

    def push_mix(self, block: np.ndarray) -> None:
        self.mix.push(block)

    def push_output(self, block: np.ndarray) -> None:
        if self.output is None:
            self.output = ProgrammeMeter(self.info.sample_rate, self.info.num_channels)
        self.output.push(block)

    def numbers(self) -> dict:
        """Everything the report shows but the spectrograms, JSON-ready (NaN and -inf as null)."""
        meters = [self.input, *self.before.values(), *self.after.values(), *filter(None, [self.mix, self.output])]
        for meter in meters:
            meter.finish()
        output = self.output or self.mix
        stems = {name: {self._stem_state: _signal(meter)} for name, meter in self.before.items()}
        for name, meter in self.after.items():
            stems.setdefault(name, {})["after"] = _signal(meter)
        gate = self._dialogue_gate(output)
        clock = self._clock()  # reads the film's or the Broadcast WAV's header: once
        return {
            "title": self.title,
            "input": str(self.info.path),
            "audio_track": self.info.audio_track,
            "sample_rate": self.info.sample_rate,
            "duration_seconds": self.info.duration_seconds,
            "hop_seconds": HOP_SECONDS,
            "start_timecode": clock.label(0.0),
            "target_lufs": self.target_lufs,
            **({"plan": self.plan} if self.plan else {}),
            "signals": {"input": _signal(self.input), **({"output": _signal(output)} if output else {}),
                        "stems": stems},
            **({"dialogue_gate": gate} if gate else {}),
            **({"dialogue_to_background": self._clarity(clock)} if self.background is not None else {}),
            **({"replacements": self.replacements} if self.replacements else {}),
        }

    def _clock(self):
        """The programme's own timecode (a film's timecode track, a Broadcast WAV's TimeReference)."""
        from tuss_fx.media.timecode import ProgrammeClock, programme_clock

        if not self.info.path.is_file():  # a stem folder's report: no one file's clock
            return ProgrammeClock()
        return programme_clock(self.info.path, self.info.sample_rate, self.info.audio_track is not None)

    def _speech_windows(self) -> np.ndarray | None:
        """Speech per 400 ms window (one per hop) over the whole input; None without a dialogue stem."""
        return self.speech.programme_windows(HOP_SECONDS) if self.speech is not None else None

    def _clarity(self, clock) -> dict:
        """DBR of the input (dialogue as separated over mix - dialogue), every window, with its summary,
        and the ride where one ran."""
        from tuss_fx.measure.dbr import dialogue_clarity
        from tuss_fx.report.delivery import clarity_summary

        clarity = dialogue_clarity(self.input.loudness, self.before[self.dialogue].loudness, self.background,
                                   speech=self._speech_windows())
        numbers = clarity_summary(clarity, clock)
        numbers.update(window_end_seconds=[round(float(t), 2) for t in clarity.window_end_seconds],
                       dbr_lu=[_finite(float(v)) for v in np.clip(clarity.dbr_lu, -60.0, 60.0)],
                       dialogue=[bool(v) for v in clarity.dialogue])
        others = [name for name in self.after if name != self.dialogue]
        if self.dialogue in self.after and len(others) == 1:  # dialogue + one background: the remix's own DBR
            after = dialogue_clarity(self.mix.loudness, self.after[self.dialogue].loudness,
                                     self.after[others[0]].loudness)
            numbers["after"] = {key: value for key, value in clarity_summary(after).items() if key != "worst_regions"}
            numbers["dbr_after_lu"] = [_finite(float(v)) for v in np.clip(after.dbr_lu, -60.0, 60.0)]
        if self.ride_db is not None:
            numbers["ride_db"] = _curve(self.ride_db)
        return numbers

    def _dialogue_gate(self, output: ProgrammeMeter | None) -> dict | None:
        """Dialogue-gated loudness of the input (by the dialogue stem as separated) and of the output
        (by the stem as processed, when there is one), and the stretches the gate calls dialogue."""
        if self.dialogue is None or self.dialogue == "vocals":
            return None
        gate = dialogue_gated_loudness(self.input.loudness, self.before[self.dialogue].loudness, self._speech_windows())
        numbers = {"stem": self.dialogue, "input_lufs": _finite(gate.lufs), "share": round(gate.share, 3),
                   "regions_seconds": _regions(gate)}
        if output is not None and self.dialogue in self.after:
            numbers["output_lufs"] = _finite(dialogue_gated_loudness(output.loudness, self.after[self.dialogue].loudness,
                                                                     self._speech_windows()).lufs)
        return numbers

    def write(self, path: Path) -> list[Path]:
        """Draw the report to path (PNG or HTML) and its numbers to the JSON beside it, each atomically."""
        from tuss_fx.report.plot import render

        numbers = self.numbers()
        strips = {"input": self.input.spectrogram}
        if self.dialogue:
            strips[f"{self.dialogue} stem"] = self.before[self.dialogue].spectrogram
        picture = render(numbers, strips, path.suffix.lower())
        created = make_parents(path)  # `--report 'reports/{track}.png'` names a folder, as stems' paths do
        try:
            write_atomically(path, lambda temp: Path(temp).write_bytes(picture))
            write_atomically(json_beside(path), lambda temp: Path(temp).write_text(json.dumps(numbers, indent=1)))
        except BaseException:
            remove_if_empty(created)
            raise
        return [path, json_beside(path)]


def _signal(meter: ProgrammeMeter) -> dict:
    loudness = meter.loudness
    return {**{key: _finite(value) for key, value in meter.summary().items()},
            "momentary_lufs": _curve(loudness.sliding_lufs(MOMENTARY_SECONDS)),
            "short_term_lufs": _curve(loudness.sliding_lufs(SHORT_TERM_SECONDS))}


def _regions(gate: DialogueGate) -> list[list[float]]:
    """[start, end] seconds of each run of dialogue blocks (a block spans the BLOCK_SECONDS before its end)."""
    regions: list[list[float]] = []
    for end_hop, speaking in zip(gate.block_ends, gate.dialogue):
        if not speaking:
            continue
        start, end = round(end_hop * HOP_SECONDS - BLOCK_SECONDS, 2), round(end_hop * HOP_SECONDS, 2)
        if regions and start <= regions[-1][1]:
            regions[-1][1] = end
        else:
            regions.append([start, end])
    return regions


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 2)


def _curve(values: np.ndarray) -> list[float | None]:
    return [_finite(float(value)) for value in values]
