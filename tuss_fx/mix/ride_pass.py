"""The ride's first pass: separate the whole programme into a scratch file while metering its DBR.

A ride needs to know where people speak (measure.speech: a speech detector on the programme and its
dialogue stem) and the DBR of those windows over the whole programme, and it looks ahead, so it is
computed between two passes: this one separates (the regions a remix would mix) into a float scratch
file beside the output, metering the programme, its dialogue and its background (programme -
dialogue) every 100 ms and detecting speech; the ride is then drawn from the measurement,
and the scratch file is read back as the same regions for the remix. Memory stays flat: the meters
keep ten numbers a second, the audio waits on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from tuss_fx.measure.dbr import DialogueClarity, dialogue_clarity
from tuss_fx.measure.loudness import LoudnessMeter
from tuss_fx.measure.meters import HOP_SECONDS
from tuss_fx.measure.speech import SpeechPresence
from tuss_fx.media.audio_io import AtomicWriter, AudioInfo, probe, read_blocks
from tuss_fx.media.layout import dialogue_channels
from tuss_fx.mix.automation import GainAutomation
from tuss_fx.mix.plan import power_mean_db
from tuss_fx.mix.presets import Preset
from tuss_fx.mix.ride import ride_curve, ride_lanes, window_means
from tuss_fx.separation.dialogue import SPEECH_PROMPT

Regions = Iterable[tuple[np.ndarray, np.ndarray]]  # (mixture (C, m), stems (P, C, m))


class RidePass:
    """Drain separated regions to disk while metering; then `automation` and `regions` for the remix."""

    def __init__(self, preset: Preset, info: AudioInfo, output_path: Path) -> None:
        self.preset, self.info = preset, info
        self._speech_stem = preset.prompts.index(SPEECH_PROMPT)
        self._num_stems = len(preset.prompts)
        rate, channels = info.sample_rate, info.num_channels
        self._meters = [LoudnessMeter(rate, channels, HOP_SECONDS) for _ in range(3)]  # programme, dialogue, rest
        self._speech = SpeechPresence(rate, channels, dialogue_channels(info.channel_layout))  # where people speak
        self._scratch = AtomicWriter(output_path.with_name(f"{output_path.name}.ride.wav"), rate,
                                     channels * (self._num_stems + 1), "wav32f", durable=False)
        self.clarity: DialogueClarity | None = None
        self.curve_db: np.ndarray | None = None  # the background's ride, every GRID_SECONDS
        self.lift_db = 0.0  # the dialogue's gain over the background's, before the ride

    def drain(self, regions: Regions) -> None:
        """Write every region to the scratch file, metering programme, dialogue and background."""
        programme, dialogue, background = self._meters
        for mixture, stems in regions:
            programme.push(mixture)
            dialogue.push(stems[self._speech_stem])
            background.push(mixture - stems[self._speech_stem])
            self._speech.push(mixture, stems[self._speech_stem])
            self._scratch.write(np.concatenate([mixture, *stems]))
        self._scratch.close()
        self.clarity = dialogue_clarity(programme, dialogue, background, self.preset.ride.target_lu,
                                        self._speech.programme_windows(HOP_SECONDS))

    def automation(self) -> GainAutomation:
        """Every non-dialogue source ridden by the curve on top of its own gain."""
        gains = {name: self.preset.stem(name).gain_db for name in self.preset.source_names}
        speech_name = self.preset.stem_names[self._speech_stem]
        others = [name for name in self.preset.source_names if name != speech_name]
        self.lift_db = gains[speech_name] - power_mean_db([gains[name] for name in others])
        self.curve_db = ride_curve(self.clarity, self.preset.ride, self.info.duration_seconds, self.lift_db)
        return GainAutomation(ride_lanes(self.curve_db, others, gains), "dialogue ride")

    def summary(self) -> dict:
        """DBR of the dialogue windows before the ride (with the preset's static gains) and after it
        (each window's DBR raised by the ride's mean reduction over the window), against the target."""
        target = self.preset.ride.target_lu
        before = self.clarity.dbr_lu + self.lift_db
        after = before - window_means(self.curve_db, self.clarity.window_end_seconds)
        speaking = self.clarity.dialogue
        share = (lambda dbr: float(np.mean(dbr[speaking] >= target - 1.0)) if speaking.any() else 1.0)
        return {"target_lu": target, "dialogue_windows": int(speaking.sum()),
                "clear_before": share(before), "clear_after": share(after),
                "max_reduction_db": float(-self.curve_db.min()) if self.curve_db.size else 0.0,
                "ridden_share": float(np.mean(self.curve_db < -0.5)) if self.curve_db.size else 0.0}

    def regions(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The drained regions back, in blocks: (mixture (C, m), stems (P, C, m))."""
        channels = self.info.num_channels
        for block in read_blocks(probe(self._scratch.temp_path)):
            yield block[:channels], block[channels:].reshape(self._num_stems, channels, block.shape[1])

    def close(self) -> None:
        """Remove the scratch file (whatever happened)."""
        self._scratch.abort()
