"""Delivery loudness: measure a programme as distributors check it, and hold it against their specs.

One pass over the file meters integrated loudness, loudness range, true peak and the highest
momentary and short-term loudness; its dialogue (DeepFilterNet3 run over the programme, or a
dialogue stem the user already has) gives the dialogue-gated loudness.

The meters (scipy, soxr) are imported where they run: the CLI reads SPECS for its --spec choices
at start-up, and importing scipy.signal there would cost every command about 0.7 s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from tuss_fx.errors import TussFxError
from tuss_fx.media.audio_io import AudioInfo, read_blocks
from tuss_fx.media.sample_queue import SampleQueue

if TYPE_CHECKING:
    from tuss_fx.measure.dbr import DialogueClarity
    from tuss_fx.media.timecode import ProgrammeClock


@dataclass(frozen=True)
class DeliverySpec:
    name: str
    description: str
    target_lufs: float
    tolerance_lu: float
    max_true_peak_dbtp: float
    dialogue_gated: bool = False  # the target applies to the dialogue-gated loudness


SPECS = {spec.name: spec for spec in (
    DeliverySpec("ebu-r128", "EBU R128 (broadcast, Europe)", -23.0, 0.5, -1.0),
    DeliverySpec("atsc-a85", "ATSC A/85 (broadcast, US)", -24.0, 2.0, -2.0),
    DeliverySpec("streaming", "dialogue-gated streaming delivery", -27.0, 2.0, -2.0, dialogue_gated=True),
    DeliverySpec("podcast", "podcast (AES TD1004, Apple)", -16.0, 1.0, -1.0),
)}


@dataclass(frozen=True)
class DeliveryLoudness:
    """The numbers a delivery check reads; LUFS, LU, dBTP (None where the file is too short)."""

    integrated_lufs: float | None
    dialogue_gated_lufs: float | None  # None: no dialogue measured
    dialogue_share: float | None  # dialogue blocks over audible blocks, 0..1
    loudness_range_lu: float
    true_peak_dbtp: float
    max_momentary_lufs: float | None
    max_short_term_lufs: float | None
    clarity: "DialogueClarity | None" = None  # dialogue-to-background ratio over time (measure.dbr)

    def as_dict(self, clock: "ProgrammeClock | None" = None) -> dict:
        """JSON-ready numbers (non-finite as null); the DBR summary with its worst regions, positions
        in seconds and, with `clock`, as the programme's timecode."""
        numbers = {key: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for key, v in asdict(self).items() if key != "clarity"}
        if self.clarity is not None:
            numbers["dialogue_to_background"] = clarity_summary(self.clarity, clock)
        return numbers


def clarity_summary(clarity: "DialogueClarity", clock: "ProgrammeClock | None" = None) -> dict:
    """The DBR numbers a report or `tuss-fx loudness --json` gives: threshold, share of dialogue time
    under it, median over dialogue, and the worst buried regions."""
    def region(found) -> dict:
        row = {"start_seconds": found.start_seconds, "end_seconds": found.end_seconds,
               "worst_dbr_lu": round(found.worst_dbr_lu, 2) if math.isfinite(found.worst_dbr_lu) else None,
               "deficit_lu_seconds": round(found.deficit_lu_seconds, 2)}
        if clock is not None:
            row.update(start=clock.label(found.start_seconds), end=clock.label(found.end_seconds))
        return row

    return {"threshold_lu": clarity.threshold_lu, "buried_share": round(clarity.buried_share, 4),
            "median_dbr_lu": None if clarity.median_dbr_lu is None else round(clarity.median_dbr_lu, 2),
            "worst_regions": [region(found) for found in clarity.worst_regions()]}


@dataclass(frozen=True)
class SpecResult:
    spec: DeliverySpec
    measured_lufs: float | None
    passed: bool
    loudness_ok: bool
    true_peak_ok: bool

    def line(self, true_peak_dbtp: float) -> str:
        spec = self.spec
        which = "dialogue-gated" if spec.dialogue_gated else "integrated"
        measured = "n/a" if self.measured_lufs is None else f"{self.measured_lufs:.1f} LUFS"
        return (f"{spec.name}: {'PASS' if self.passed else 'FAIL'}  {which} {measured} "
                f"(target {spec.target_lufs:g} ±{spec.tolerance_lu:g}{'' if self.loudness_ok else ', off'}), "
                f"true peak {true_peak_dbtp:.1f} dBTP (max {spec.max_true_peak_dbtp:g}"
                f"{'' if self.true_peak_ok else ', over'})")


def check(spec: DeliverySpec, measured: DeliveryLoudness) -> SpecResult:
    """Loudness within target ± tolerance and true peak at or under the spec's maximum."""
    lufs = measured.dialogue_gated_lufs if spec.dialogue_gated else measured.integrated_lufs
    loudness_ok = lufs is not None and math.isfinite(lufs) and abs(lufs - spec.target_lufs) <= spec.tolerance_lu
    peak_ok = measured.true_peak_dbtp <= spec.max_true_peak_dbtp
    return SpecResult(spec, lufs, loudness_ok and peak_ok, loudness_ok, peak_ok)


def measure(info: AudioInfo, dialogue: "DialogueSource | None" = None,
            threshold_lu: float | None = None) -> DeliveryLoudness:
    """Meter `info` in one pass. With `dialogue` (a stem, or DFN3 following the programme): the
    dialogue-gated loudness and the dialogue-to-background ratio over time against threshold_lu
    (default measure.dbr.DEFAULT_TARGET_DBR_LU).

    Raises:
        TussFxError: a channel layout BS.1770 does not define here.
    """
    from tuss_fx.measure.dbr import DEFAULT_TARGET_DBR_LU, dialogue_clarity
    from tuss_fx.measure.loudness import LoudnessMeter, dialogue_gated_loudness
    from tuss_fx.measure.meters import HOP_SECONDS, ProgrammeMeter
    from tuss_fx.measure.speech import SpeechPresence
    from tuss_fx.media.layout import dialogue_channels

    try:
        programme = ProgrammeMeter(info.sample_rate, info.num_channels)
    except ValueError as exc:
        raise TussFxError(info.path, str(exc)) from None
    meters = [LoudnessMeter(dialogue.sample_rate, info.num_channels, HOP_SECONDS) for _ in range(2)] \
        if dialogue else []
    speech = SpeechPresence(dialogue.sample_rate, info.num_channels, dialogue_channels(info.channel_layout)) \
        if dialogue else None  # where people speak, which the gate and the DBR read (measure.speech)

    def meter(pairs) -> None:  # (dialogue, the programme at the dialogue's rate) -> dialogue, background
        for spoken, mixture in pairs:
            meters[0].push(spoken)
            meters[1].push(mixture - spoken)
            speech.push(mixture, spoken)

    for block in read_blocks(info):
        programme.push(block)
        if dialogue:
            meter(dialogue.push(block))
    programme.finish()
    if dialogue:
        meter(dialogue.finish())
    summary = programme.summary()
    windows = speech.programme_windows(HOP_SECONDS) if dialogue else None
    gate = dialogue_gated_loudness(programme.loudness, meters[0], windows) if dialogue else None
    threshold = DEFAULT_TARGET_DBR_LU if threshold_lu is None else threshold_lu  # 0 LU is a threshold too
    clarity = dialogue_clarity(programme.loudness, *meters, threshold, windows) if dialogue else None
    return DeliveryLoudness(summary["integrated_lufs"], gate.lufs if gate else None, gate.share if gate else None,
                            summary["loudness_range_lu"], summary["true_peak_dbtp"], summary["max_momentary_lufs"],
                            summary["max_short_term_lufs"], clarity)


class DialogueSource:
    """The dialogue of a programme pushed block by block: (dialogue, programme) pairs back, aligned,
    both at `sample_rate`."""

    sample_rate: int

    def push(self, block: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return []


class DialogueTracker(DialogueSource):
    """DeepFilterNet3 following a programme block by block: its dialogue at 48 kHz, aligned."""

    sample_rate = 48000

    def __init__(self, sample_rate: int, num_channels: int, num_frames: int, device: str = "cpu") -> None:
        from tuss_fx.deepfilternet import LanedStream, load_network
        from tuss_fx.media.resample import StreamResampler

        self._resampler = StreamResampler(sample_rate, self.sample_rate, num_channels, num_frames)
        self._stream = LanedStream(load_network(device=device), num_channels)
        self._programme = SampleQueue(num_channels)

    def push(self, block: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._paired(self._resampler.push(block))

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        pairs = self._paired(self._resampler.finish())
        tail = self._stream.finish()
        return pairs + [(tail, self._programme.pop(tail.shape[1]))]

    def _paired(self, resampled: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        self._programme.push(resampled)
        spoken = self._stream.push(resampled)
        return [(spoken, self._programme.pop(spoken.shape[1]))]


class DialogueStem(DialogueSource):
    """A dialogue stem the user has, read in step with the programme (same rate, channels, length).

    Raises:
        TussFxError: the stem's rate, channel count or length differs from the programme's.
    """

    def __init__(self, stem: AudioInfo, programme: AudioInfo) -> None:
        for what, mine, theirs in (("Hz", stem.sample_rate, programme.sample_rate),
                                   ("channels", stem.num_channels, programme.num_channels),
                                   ("frames", stem.num_frames, programme.num_frames)):
            if mine != theirs:
                raise TussFxError(stem.path, f"has {mine} {what}, {programme.path.name} has {theirs}")
        self.sample_rate = stem.sample_rate
        self._blocks = read_blocks(stem)
        self._stem = SampleQueue(stem.num_channels)
        self._queued = 0  # stem samples read ahead of the programme

    def push(self, block: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        count = block.shape[1]
        while self._queued < count:
            piece = next(self._blocks)
            self._stem.push(piece)
            self._queued += piece.shape[1]
        self._queued -= count
        return [(self._stem.pop(count), block)]
