"""Dialogue-to-background ratio over time: where the words are buried, measured through the programme.

DBR is the loudness of the dialogue minus the loudness of everything else (mix - dialogue), each
BS.1770 K-weighted and channel-weighted over 400 ms windows every 100 ms (the momentary loudness
of EBU Tech 3341, on each part alone), in LU. It is read only where the dialogue gate says dialogue
speaks (measure.loudness.dialogue_gated_loudness: the dialogue stem within 15 LU of its own level).

The threshold: Torcoli, Freke-Morin, Paulus, Simon and Shirley, "Preferred Levels for Background
Ducking to Produce Esthetically Pleasing Audio for TV with Clear Speech", J. Audio Eng. Soc.
67(12), 1003-1011 (2019; Fraunhofer IIS with the University of Salford's broadcast accessibility
group): from TV documentaries and a listening test they recommend at least 10 LU between
commentary and a music background, and at least 15 LU over ambience; non-expert listeners chose
4 LU more than experts. 10 LU is the default here, the floor of that advice; older and
hard-of-hearing viewers want more (the BBC's audibility work cites background sound as a main
complaint of the over-65s), so --threshold-lu raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tuss_fx.measure.loudness import (BLOCK_SECONDS, LoudnessMeter, block_mean_squares, dialogue_gated_loudness,
                                     mean_square_lufs)

DEFAULT_TARGET_DBR_LU = 10.0  # Torcoli et al. 2019: at least 10 LU dialogue over a music background
WORST_REGIONS = 5


@dataclass(frozen=True)
class BuriedRegion:
    start_seconds: float
    end_seconds: float
    worst_dbr_lu: float
    deficit_lu_seconds: float  # Σ (threshold - DBR) x hop over the region: how much and how long


@dataclass(frozen=True)
class DialogueClarity:
    """DBR of every 400 ms window (one per 100 ms hop), and which windows hold dialogue."""

    dbr_lu: np.ndarray  # (K,) LU; +inf where the background is silent, -inf where the dialogue is
    dialogue: np.ndarray  # (K,) bool: the dialogue gate
    hop_seconds: float
    threshold_lu: float
    # (K,) LUFS of the dialogue stem alone in each window; None where not kept (an audition cache's lane)
    dialogue_lufs: np.ndarray | None = None

    @property
    def window_end_seconds(self) -> np.ndarray:
        """(K,) where each window ends (it spans the BLOCK_SECONDS before)."""
        hops = round(BLOCK_SECONDS / self.hop_seconds)
        return (np.arange(len(self.dbr_lu)) + hops) * self.hop_seconds

    @property
    def buried(self) -> np.ndarray:
        """(K,) bool: dialogue windows under the threshold."""
        return self.dialogue & (self.dbr_lu < self.threshold_lu)

    @property
    def buried_share(self) -> float:
        """Buried dialogue windows over dialogue windows, 0..1 (0 without dialogue)."""
        return float(self.buried.sum() / self.dialogue.sum()) if self.dialogue.any() else 0.0

    @property
    def median_dbr_lu(self) -> float | None:
        return float(np.median(self.dbr_lu[self.dialogue])) if self.dialogue.any() else None

    def regions(self) -> list[BuriedRegion]:
        """Runs of buried windows as time spans (a window covers the BLOCK_SECONDS before its end), in
        order; runs whose spans touch are one region."""
        ends, buried = self.window_end_seconds, self.buried
        runs: list[list[int]] = []  # [first, last] window indices
        for index in np.flatnonzero(buried):
            if runs and ends[index] - BLOCK_SECONDS <= ends[runs[-1][1]] + 1e-9:
                runs[-1][1] = index
            else:
                runs.append([index, index])
        found = []
        for first, last in runs:
            chosen = np.flatnonzero(buried[first:last + 1]) + first
            deficit = np.minimum(self.threshold_lu - self.dbr_lu[chosen], 60.0)  # a silent line counts as 60 LU
            found.append(BuriedRegion(round(max(0.0, ends[first] - BLOCK_SECONDS), 3), round(ends[last], 3),
                                      float(np.min(self.dbr_lu[chosen])), float(np.sum(deficit) * self.hop_seconds)))
        return found

    def worst_regions(self, count: int = WORST_REGIONS) -> list[BuriedRegion]:
        """The `count` regions with the largest deficit, worst first."""
        return sorted(self.regions(), key=lambda region: -region.deficit_lu_seconds)[:count]


def dialogue_clarity(programme: LoudnessMeter, dialogue: LoudnessMeter, background: LoudnessMeter,
                     threshold_lu: float = DEFAULT_TARGET_DBR_LU, speech: np.ndarray | None = None) -> DialogueClarity:
    """DBR per window from meters built with the same hop (e.g. 0.1 s) over the programme, its
    dialogue and its background (programme - dialogue); `speech` (per window, from a speech detector)
    says where dialogue is, else the dialogue stem's level does (dialogue_gated_loudness)."""
    hop_seconds = dialogue.hop_samples / dialogue.sample_rate
    hops = round(BLOCK_SECONDS / hop_seconds)
    gate = dialogue_gated_loudness(programme, dialogue, speech)
    dialogue_ms = block_mean_squares(dialogue, hops)
    background_ms = block_mean_squares(background, hops)
    count = min(len(gate.dialogue), len(dialogue_ms), len(background_ms))
    dialogue_lufs = mean_square_lufs(dialogue_ms[:count])
    return DialogueClarity(window_dbr(dialogue_ms[:count], background_ms[:count]), gate.dialogue[:count].copy(),
                           hop_seconds, threshold_lu, dialogue_lufs)


def window_dbr(dialogue_ms: np.ndarray, background_ms: np.ndarray) -> np.ndarray:
    """(K,) DBR in dB of windows from their (K,) mean squares: +inf where only the dialogue sounds, -inf
    where it is silent (with the background silent too: nothing to hear). The file's DBR and the streaming
    ride's (plugin.ride) both read it, so they agree on every window."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dbr = 10.0 * np.log10(dialogue_ms / background_ms)
    return np.where(np.isnan(dbr), -np.inf, dbr)
