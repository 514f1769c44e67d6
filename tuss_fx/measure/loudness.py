"""Streaming ITU-R BS.1770-4 integrated loudness, equal to pyloudnorm's, in bounded memory.

pyloudnorm.Meter needs the whole signal as one array: 2 h of 5.1 at 48 kHz would be 8 GB.
This meter takes pyloudnorm's own K-weighting filter coefficients, runs them with carried
state block by block, records running sums of squares only at the 400 ms gating-block
boundaries pyloudnorm uses, and applies pyloudnorm's gating to those block energies. Tests
compare it with pyloudnorm.Meter.integrated_loudness on whole signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_SECONDS = 0.4  # T_g, the gating block
STEP_FRACTION = 1.0 - 0.75  # blocks overlap by 75 %
ABSOLUTE_GATE_LUFS = -70.0
# EBU Tech 3342 (loudness range): its gates and the percentiles whose spread it is
LRA_ABSOLUTE_GATE_LUFS = -70.0
LRA_RELATIVE_GATE_LU = -20.0
LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE = 10.0, 95.0
# dialogue gating: a block holds dialogue when the dialogue stem is at most this far under its own level
DIALOGUE_WITHIN_LU = 15.0
# BS.1770 channel weights as pyloudnorm orders them (L, R, C, Ls, Rs); 6 channels are read as
# the WAV/SMPTE 5.1 order L, R, C, LFE, Ls, Rs with the LFE excluded (BS.1770-4, Table 3);
# 8 channels as the WAV/FLAC 7.1 order FL, FR, FC, LFE, BL, BR, SL, SR, where BS.1770-4's
# position rule gives 1.41 to the side pair (60-120 degrees) and 1.0 to the back pair
CHANNEL_WEIGHTS = {5: (1.0, 1.0, 1.0, 1.41, 1.41), 6: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41),
                   8: (1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.41, 1.41)}


def k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """BS.1770's K-weighting at `sample_rate` as pyloudnorm computes it: [(b, a, passband gain)], the high
    shelf then the high pass.

    pyloudnorm (and scipy.signal under it, 0.7 s to import) load here, when a meter is first built, not when
    a command that may never measure starts.
    """
    import pyloudnorm

    return [(f.b, f.a, f.passband_gain) for f in pyloudnorm.Meter(sample_rate)._filters.values()]


def channel_weights(num_channels: int) -> np.ndarray:
    """(num_channels,) BS.1770 weights of a programme's channels (CHANNEL_WEIGHTS; 1 each up to 4)."""
    if num_channels in CHANNEL_WEIGHTS:
        return np.array(CHANNEL_WEIGHTS[num_channels])
    if num_channels < 5:
        return np.ones(num_channels)
    raise ValueError(f"loudness of {num_channels} channels is not defined by BS.1770 here (mono to 5.1, and 7.1)")


class LoudnessMeter:
    """Push (C, n) blocks; `integrated_lufs()` gives the gated loudness of everything pushed.

    With `hop_seconds`, it also keeps the channel-weighted energy at every hop, from which
    `sliding_lufs` gives momentary (0.4 s) and short-term (3 s) loudness curves (EBU Tech 3341).
    """

    def __init__(self, sample_rate: int, num_channels: int, hop_seconds: float | None = None) -> None:
        self.sample_rate = sample_rate
        self._weights = channel_weights(num_channels)
        from scipy.signal import sosfilt, tf2sos  # loaded with the first meter (see k_weighting)

        # the two stages as second-order sections, each with its passband gain: one cascaded call runs them
        # (6x two lfilter calls over the same samples; equal within 1e-12)
        self._sosfilt = sosfilt
        self._sections = np.vstack([tf2sos(gain * b, a) for b, a, gain in k_weighting(sample_rate)])
        self._state = np.zeros((len(self._sections), num_channels, 2))
        self._energy = np.zeros(num_channels)  # running Σ x² of the weighted signal, per channel
        self._num_samples = 0
        self._marks: dict[int, np.ndarray] = {0: self._energy.copy()}
        self._next_bound = [0, 0]  # next gating block whose (lower, upper) bound is still to record
        self.peak = 0.0  # sample peak of the unweighted input, for limiter decisions
        self.hop_samples = round(hop_seconds * sample_rate) if hop_seconds else None
        self._hop_energies = [0.0]  # Σ_c w_c Σx² up to every hop bound, from sample 0

    @property
    def hop_energies(self) -> list[float]:
        """Channel-weighted Σx² from sample 0 to every hop bound so far (needs hop_seconds): a window's
        mean square is the difference of two, over its length."""
        return self._hop_energies

    def _bounds(self, block: int) -> tuple[int, int]:
        # the same float expressions as pyloudnorm, so rounding lands on the same samples
        lower = int(BLOCK_SECONDS * (block * STEP_FRACTION) * self.sample_rate)
        upper = int(BLOCK_SECONDS * (block * STEP_FRACTION + 1) * self.sample_rate)
        return lower, upper

    def push(self, block: np.ndarray) -> None:
        """block: (C, n) float samples."""
        if block.shape[1] == 0:
            return
        self.push_k_weighted(self.k_weighted(block), float(np.abs(block).max()))

    def k_weighted(self, block: np.ndarray) -> np.ndarray:
        """(C, n) float64: the next block through this meter's K-weighting (its filter state carried on),
        for push_k_weighted. The filters are linear, so the K-weighted difference of two signals metered
        this way is the difference of their outputs: a third meter need not filter again."""
        if not block.shape[1]:  # sosfilt, unlike lfilter, refuses an empty block
            return np.zeros(block.shape, np.float64)
        weighted, self._state = self._sosfilt(self._sections, block.astype(np.float64), axis=1, zi=self._state)
        return weighted

    def push_k_weighted(self, weighted: np.ndarray, peak: float) -> None:
        """Meter a block already K-weighted (k_weighted, or a difference of two meters' outputs); `peak` is
        the unweighted block's sample peak."""
        if weighted.shape[1] == 0:
            return
        self.peak = max(self.peak, peak)
        self._record(np.square(weighted))

    def _record(self, squares: np.ndarray) -> None:
        """Keep Σx² at every block bound in (start, end] and every hop bound; squares: (C, n) this block's x².
        Only the sums up to those bounds are formed (np.add.reduceat), not a running sum of every sample."""
        start, end = self._num_samples, self._num_samples + squares.shape[1]
        block_marks = []
        for side in (0, 1):
            while (mark := self._bounds(self._next_bound[side])[side]) <= end:
                if mark > start:
                    block_marks.append(mark)
                self._next_bound[side] += 1
        hop_marks = range((start // self.hop_samples + 1) * self.hop_samples, end + 1, self.hop_samples) \
            if self.hop_samples else range(0)
        offsets = sorted({mark - start for mark in (*block_marks, *hop_marks)} | {end - start})
        sums = np.cumsum(np.add.reduceat(squares, [0, *offsets[:-1]], axis=1), axis=1)  # Σx² up to each offset
        upto = dict(zip(offsets, sums.T))
        for mark in block_marks:
            self._marks[mark] = self._energy + upto[mark - start]
        for mark in hop_marks:
            self._hop_energies.append(float(self._weights @ (self._energy + upto[mark - start])))
        self._energy = self._energy + upto[end - start]
        self._num_samples = end

    def integrated_lufs(self) -> float:
        """Gated integrated loudness in LUFS; -inf for silence.

        Raises:
            ValueError: fewer samples than one 400 ms gating block.
        """
        rate, total = self.sample_rate, self._num_samples
        if total < BLOCK_SECONDS * rate:
            raise ValueError(f"{total / rate:.3f} s is shorter than one {BLOCK_SECONDS} s loudness block")
        num_blocks = int(np.round((total / rate - BLOCK_SECONDS) / (BLOCK_SECONDS * STEP_FRACTION))) + 1
        energies = np.empty((len(self._weights), num_blocks))
        for block in range(num_blocks):
            lower, upper = self._bounds(block)
            energies[:, block] = self._mark(upper) - self._mark(lower)
        energies /= BLOCK_SECONDS * rate
        return _gated_loudness(energies, self._weights)

    def sliding_lufs(self, window_seconds: float) -> np.ndarray:
        """Loudness of the `window_seconds` ending at every hop bound (hop_samples apart, the first
        one hop in); NaN where less than a window has passed. Needs hop_seconds; the window must be
        a whole number of hops."""
        hops = round(window_seconds * self.sample_rate / self.hop_samples)
        energies = np.asarray(self._hop_energies)
        mean_square = (energies[hops:] - energies[:-hops]) / (hops * self.hop_samples)
        with np.errstate(divide="ignore"):
            lufs = mean_square_lufs(np.maximum(mean_square, 0.0))
        return np.concatenate([np.full(min(hops, len(energies)) - 1, np.nan), lufs])

    def _mark(self, index: int) -> np.ndarray:
        return self._marks[index] if index < self._num_samples else self._energy


def loudness_range(short_term_lufs: np.ndarray) -> float:
    """EBU Tech 3342 loudness range (LU) of a short-term loudness series (3 s windows, >= 10 per second).

    Values below -70 LUFS are dropped (absolute gate), then those more than 20 LU under the
    energy mean of the rest (relative gate); LRA is the spread between the 10th and the 95th
    percentile of what remains. NaN (a window not yet full) is ignored; 0 when nothing passes.
    """
    values = np.asarray(short_term_lufs, dtype=np.float64)
    values = values[np.isfinite(values) & (values >= LRA_ABSOLUTE_GATE_LUFS)]
    if values.size == 0:
        return 0.0
    relative_gate = 10.0 * np.log10(np.mean(10.0 ** (values / 10.0))) + LRA_RELATIVE_GATE_LU
    gated = values[values >= relative_gate]
    return float(np.percentile(gated, LRA_HIGH_PERCENTILE) - np.percentile(gated, LRA_LOW_PERCENTILE))


@dataclass(frozen=True)
class DialogueGate:
    """Dialogue-gated loudness: the programme's BS.1770 loudness over its dialogue blocks only."""

    lufs: float  # -inf when no block holds dialogue
    share: float  # dialogue blocks over the programme's blocks above the absolute gate, 0..1
    block_ends: np.ndarray  # (K,) end of each 400 ms block in hops (100 ms steps, as BS.1770 steps)
    dialogue: np.ndarray  # (K,) bool: the block holds dialogue


def dialogue_gated_loudness(programme: LoudnessMeter, dialogue: LoudnessMeter,
                            speech: np.ndarray | None = None) -> DialogueGate:
    """The programme's loudness where its dialogue stem speaks (ATSC A/85 and streaming specs'
    dialogue-gated loudness), from two meters built with the same hop (e.g. 0.1 s).

    With `speech` ((K,) bool per 400 ms block, one per hop: measure.speech.SpeechPresence.windows), a
    block holds dialogue where the speech detector says so and the programme is audible. Without it, the
    level rule: the dialogue stem's loudness in the block is above -70 LUFS and at most
    DIALOGUE_WITHIN_LU under the stem's own integrated loudness (a line under a loud score counts, what a
    separation leaks between lines does not; but a separation that hears speech in a music swell counts
    the swell). The selected programme blocks then go through BS.1770's gates (-70 LUFS, -10 LU).
    """
    hops = round(BLOCK_SECONDS / (programme.hop_samples / programme.sample_rate))
    program_ms = block_mean_squares(programme, hops)
    dialogue_ms = block_mean_squares(dialogue, hops)
    count = min(len(program_ms), len(dialogue_ms))
    program_ms, dialogue_ms = program_ms[:count], dialogue_ms[:count]
    dialogue_lufs, program_lufs = mean_square_lufs(dialogue_ms), mean_square_lufs(program_ms)
    audible = program_lufs >= ABSOLUTE_GATE_LUFS
    if speech is not None:
        detected = np.zeros(count, dtype=bool)
        detected[: min(count, len(speech))] = np.asarray(speech, dtype=bool)[:count]
        speaking = detected & audible
    else:
        level = _gated_loudness(dialogue_ms[None], np.ones(1))
        speaking = (dialogue_lufs >= ABSOLUTE_GATE_LUFS) & (dialogue_lufs >= level - DIALOGUE_WITHIN_LU)
    lufs = _gated_loudness(program_ms[speaking][None], np.ones(1)) if speaking.any() else float("-inf")
    share = float(speaking.sum() / audible.sum()) if audible.any() else 0.0
    return DialogueGate(lufs, share, np.arange(count) + hops, speaking)


def mean_square_lufs(mean_square):
    """BS.1770's loudness, -0.691 + 10 log10, of a K-weighted, channel-weighted mean square (a number or an
    array); -inf where it is 0."""
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(mean_square)


def block_mean_squares(meter: LoudnessMeter, hops: int) -> np.ndarray:
    """Channel-weighted mean square of every `hops`-hop block, one block per hop."""
    energies = np.asarray(meter.hop_energies)
    return np.maximum(energies[hops:] - energies[:-hops], 0.0) / (hops * meter.hop_samples)


def _gated_loudness(energies: np.ndarray, weights: np.ndarray) -> float:
    """BS.1770-4 gating (absolute -70 LUFS, then relative -10 LU) over (C, blocks) mean squares."""
    with np.errstate(divide="ignore", invalid="ignore"):
        block_lufs = mean_square_lufs(weights @ energies)
        above_absolute = block_lufs >= ABSOLUTE_GATE_LUFS
        if not above_absolute.any():
            return float("-inf")
        relative_gate = mean_square_lufs(weights @ energies[:, above_absolute].mean(axis=1)) - 10.0
        gated = (block_lufs > relative_gate) & (block_lufs > ABSOLUTE_GATE_LUFS)
        if not gated.any():
            return float("-inf")
        return float(mean_square_lufs(weights @ energies[:, gated].mean(axis=1)))
