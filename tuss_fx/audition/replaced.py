"""A replacement in the audition: the recording placed and matched over the whole programme once, by the
pass a remix runs (mix.replace) on the cached stems, and kept as a stem file the page plays under a fader
of its own ("speech (new)") beside the original stem's, so the replaced mix plays against the original.

The page's gain for the new stem is the stem's gain in the saved preset, as a remix with --replace puts
the recording through the stem's chain and gain; the original stem's fader is for listening against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuss_fx.audition.cache import PEAK_BUCKETS, CacheEntry, CachedSeparation, peaks_record
from tuss_fx.measure.peaks import PeakMeter
from tuss_fx.media.audio_io import AtomicWriter, AudioInfo, read_blocks
from tuss_fx.mix.plan import RemixPlan
from tuss_fx.mix.replace import Replacement, replaced_regions, replacement_passes
from tuss_fx.separation.separator import Progress

NEW_SUFFIX = " (new)"  # the new stem's fader: the stem's name and this


@dataclass(frozen=True)
class PlacedStem:
    """A recording as a remix would mix it in place of `stem`: placed, matched and tone-matched over the
    whole programme, at the programme's rate, channels and length (`path`, float32)."""

    replacement: Replacement
    path: Path
    summary: dict  # ReplacementPass.summary(): the lines, their gains, the EQ
    peaks: list[list[float]]  # the overview's minima and maxima of its stereo fold-down (cache.peaks_record)

    @property
    def stem(self) -> str:
        return self.replacement.stem

    @property
    def name(self) -> str:
        """Its fader and source in the page."""
        return f"{self.stem}{NEW_SUFFIX}"


@dataclass(frozen=True)
class Replaced:
    """The stems an audition replaces and how their recordings were matched."""

    stems: tuple[PlacedStem, ...]
    match: str
    match_eq: bool

    def by_name(self, name: str) -> PlacedStem | None:
        return next((placed for placed in self.stems if placed.name == name), None)

    def by_stem(self, stem: str) -> PlacedStem | None:
        return next((placed for placed in self.stems if placed.stem == stem), None)

    def command_options(self) -> tuple[str, ...]:
        """What a remix of the saved preset needs to replace the same stems the same way."""
        options = [part for placed in self.stems
                   for part in ("--replace", f"{placed.stem}={placed.replacement.path.absolute()}")]
        return (*options, "--match", self.match, *(["--match-eq"] if self.match_eq else []))


def place_recordings(info: AudioInfo, plan: RemixPlan, entry: CacheEntry, replacements: Sequence[Replacement],
                     match: str, match_eq: bool, folder: Path, fold: np.ndarray,
                     progress: Progress | None = None) -> Replaced:
    """Run each replacement's pass over the whole programme on the cached stems, and write what it places
    into `folder` (one file per stem replaced); `fold`: (2, C), the page's stereo fold-down.

    Raises:
        ReplacementError: a stem the plan lacks, or a recording that does not fit the programme.
    """
    passes = replacement_passes(replacements, plan.preset.stem_names, len(plan.preset.prompts), info,
                                folder / "placed.wav", match, match_eq)
    # the audition's own files, gone at its end
    writers = [AtomicWriter(folder / f"{replacement.stem}.new.wav", info.sample_rate, info.num_channels, "wav32f",
                            durable=False) for replacement in replacements]
    meters = [PeakMeter(info.num_frames, PEAK_BUCKETS) for _ in replacements]
    try:
        regions = CachedSeparation(entry, 0, "", "").separate_regions(
            read_blocks(info), info.sample_rate, info.num_channels, info.num_frames, plan.preset.prompts, progress)
        for _, block_stems in replaced_regions(passes, regions):
            for writer, meter, replacement_pass in zip(writers, meters, passes):
                writer.write(block_stems[replacement_pass.stem_index])
                meter.push(fold @ block_stems[replacement_pass.stem_index])
        for writer in writers:
            writer.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    finally:
        for replacement_pass in passes:
            replacement_pass.close()
    placed = tuple(PlacedStem(replacement, writer.path, replacement_pass.summary(), peaks_record(meter))
                   for replacement, writer, replacement_pass, meter in zip(replacements, writers, passes, meters))
    return Replaced(placed, match, match_eq)
