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

import numpy as np

from tuss_fx.errors import TussFxError
from tuss_fx.media.audio_io import AudioInfo, read_blocks


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

    def as_dict(self) -> dict:
        return {key: (None if isinstance(v, float) and not math.isfinite(v) else v) for key, v in asdict(self).items()}


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


def measure(info: AudioInfo, dialogue_blocks=None, dialogue_rate: int | None = None,
            engine: "DialogueTracker | None" = None) -> DeliveryLoudness:
    """Meter `info` in one pass. Dialogue from `dialogue_blocks` (a dialogue stem's (C, n) blocks at
    `dialogue_rate`), else from `engine` (DFN3 following the programme), else none.

    Raises:
        TussFxError: a channel layout BS.1770 does not define here.
    """
    from tuss_fx.measure.loudness import LoudnessMeter, dialogue_gated_loudness
    from tuss_fx.measure.meters import HOP_SECONDS, ProgrammeMeter

    try:
        programme = ProgrammeMeter(info.sample_rate, info.num_channels)
    except ValueError as exc:
        raise TussFxError(info.path, str(exc)) from None
    dialogue_meter = None
    if dialogue_blocks is not None:
        dialogue_meter = LoudnessMeter(dialogue_rate, info.num_channels, HOP_SECONDS)
        for block in dialogue_blocks:
            dialogue_meter.push(block)
    elif engine is not None:
        dialogue_meter = LoudnessMeter(engine.sample_rate, info.num_channels, HOP_SECONDS)
    for block in read_blocks(info):
        programme.push(block)
        if engine is not None:
            dialogue_meter.push(engine.push(block))
    programme.finish()
    if engine is not None:
        dialogue_meter.push(engine.finish())
    summary = programme.summary()
    gate = dialogue_gated_loudness(programme.loudness, dialogue_meter) if dialogue_meter else None
    return DeliveryLoudness(summary["integrated_lufs"], gate.lufs if gate else None, gate.share if gate else None,
                            summary["loudness_range_lu"], summary["true_peak_dbtp"], summary["max_momentary_lufs"],
                            summary["max_short_term_lufs"])


class DialogueTracker:
    """DeepFilterNet3 following a programme block by block: its dialogue at 48 kHz, aligned."""

    sample_rate = 48000

    def __init__(self, sample_rate: int, num_channels: int, num_frames: int, device: str = "cpu") -> None:
        from tuss_fx.deepfilternet import DeepFilterNet3Stream, load_network
        from tuss_fx.media.resample import StreamResampler

        self._resampler = StreamResampler(sample_rate, self.sample_rate, num_channels, num_frames)
        self._stream = DeepFilterNet3Stream(load_network(device=device), num_channels)

    def push(self, block: np.ndarray) -> np.ndarray:
        return self._stream.push(self._resampler.push(block))

    def finish(self) -> np.ndarray:
        tail = self._stream.push(self._resampler.finish())
        return np.concatenate([tail, self._stream.finish()], axis=1)
