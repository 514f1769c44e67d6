"""Replace a stem: a new recording (a dub, ADR, a cleaner dialogue edit) mixed in where the separated stem was,
line by line as loud against the background as the original was, optionally with the original's tone.

Like the ride, it works between two passes. The first separates the programme into a scratch file beside
the output while the new recording is read in step (converted to the programme's rate; in the programme's
channels, or mono: a mono recording goes to the centre of a film's 5.1 and the front pair of a stereo
programme, as dialogue is mixed), metering the original stem and the recording every 100 ms (K-weighted,
BS.1770), finding where the original speaks (measure.speech; its lines are the ones the ride answers,
mix.ride.line_windows) and, for --match-eq, both long-term spectra. Between the passes the matching is
decided: the gain curve (MATCHES); with --match-eq then the tone (mix.tone_match: an octave EQ fitted to the
ratio of the spectra at those gains, limited, a linear-phase filter), the recording rendered through it and
the gains decided again on it. The second pass reads the scratch file back with the recording, matched, in
the stem's place: the residual (mix minus every original stem) is untouched, and the new stem goes through
the stem's chain and gain as the original would have.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft

from tuss_fx.errors import TussFxError
from tuss_fx.measure.loudness import LoudnessMeter, block_mean_squares, channel_weights, mean_square_lufs
from tuss_fx.measure.meters import HOP_SECONDS
from tuss_fx.measure.speech import SpeechPresence
from tuss_fx.media.audio_io import AtomicWriter, AudioInfo, probe, read_blocks
from tuss_fx.media.layout import CENTER, dialogue_channels, engine_channels
from tuss_fx.media.resample import StreamResampler, resampled_length
from tuss_fx.media.sample_queue import SampleQueue
from tuss_fx.media.timecode import programme_clock
from tuss_fx.mix.ride import line_windows
from tuss_fx.mix.tone_match import EQ_FRAME_SAMPLES, FirStream, eq_filter, fit_eq, octave_powers

# lines: each line of the original gets its own gain, the new stem following the original's loudness line by
# line (ramps between lines, the nearest line's gain before the first and after the last); programme: one gain,
# the two stems' speech loudness equal; off: the new recording as it is
MATCHES = ("lines", "programme", "off")
MAX_MATCH_GAIN_DB = 24.0  # a line the new recording barely holds is not brought up past this
WINDOW_SECONDS = 0.4
WINDOW_HOPS = round(WINDOW_SECONDS / HOP_SECONDS)  # a loudness window, in the meters' 100 ms hops
# a studio recording's lines are parted by silence: a pause in it (a 100 ms hop this far under its loudest) splits
# an original line the detector heard as one, down to pieces of MIN_PIECE_WINDOWS
PAUSE_UNDER_PEAK_DB = 40.0
MIN_PIECE_WINDOWS = 3
LINE_DIP_WINDOWS = 3  # a line's windows parted by fewer (a quiet word left out of the line) are one line
RELATIVE_GATE_LU = 10.0  # BS.1770's relative gate, within a line as over a programme
RENDER_BLOCK_SAMPLES = 1 << 16  # the recording's blocks through the tone match


class ReplacementError(TussFxError):
    """A replacement that cannot be placed: an unknown stem, a recording longer than the programme, a
    channel count that does not map."""


@dataclass(frozen=True)
class Replacement:
    """`stem` (a stem the plan separates: `speech` on the shipped model) replaced by the recording at `path`,
    placed by timecode where it and the programme both carry one, else from the programme's start.

    A recording is made for a whole file. Where the remix's input is a range of that file (AudioInfo.excerpt:
    a conform's source range, the audition's preview), the recording's samples over that range are taken.
    `cut`: it may run past the input's end, and is cut there (whoever cut the range checked it against the
    whole file, Placement.of); else a recording longer than the input is an error.
    """

    stem: str
    path: Path
    cut: bool = False

    @classmethod
    def parse(cls, text: str) -> Replacement:
        """From the command line's STEM=FILE."""
        stem, equals, path = text.partition("=")
        if not equals or not stem or not path:
            raise ValueError(f"{text!r} is not STEM=FILE")
        return cls(stem.strip(), Path(path))


def replaced_stem(stem_names: Sequence[str], replacement: Replacement) -> int:
    """The index among a plan's `stem_names` of the stem a replacement takes the place of.

    Raises:
        ReplacementError: the plan separates no stem of that name (the residual and background are what
            the stems leave, not a stem).
    """
    if replacement.stem not in stem_names:
        raise ReplacementError(replacement.stem, f"is not a stem of the plan that runs; its stems: "
                                                 f"{', '.join(stem_names)}")
    return list(stem_names).index(replacement.stem)


def recording_channels(source_channels: int, programme_channels: int) -> int:
    """How many channels a recording keeps in the pass: the programme's where it has as many, else one
    (a mono recording, or several mixed to mono for a mono programme); spread() places a mono one."""
    return source_channels if source_channels == programme_channels else 1


def mono_targets(layout: tuple[str, ...], num_channels: int) -> list[int]:
    """The programme's channels a mono recording feeds: the centre where the layout has one (a film's
    dialogue channel), else the front pair (stereo's phantom centre), else every channel but the LFE."""
    if not layout:
        return list(range(num_channels))
    return engine_channels(layout, "center") if CENTER in layout else engine_channels(layout, "front")


def spread(block: np.ndarray, targets: list[int], num_channels: int) -> np.ndarray:
    """(R, n) -> (num_channels, n): a recording of the programme's channels as it is; a mono one on
    `targets`, silence on the others."""
    if block.shape[0] == num_channels:
        return block
    placed = np.zeros((num_channels, block.shape[1]), np.float32)
    placed[targets] = block
    return placed


def recording_offset(recording: AudioInfo, programme: AudioInfo) -> int:
    """Where the recording's first sample lands in the programme's file, in its samples: by timecode where
    both carry one (a Broadcast WAV's TimeReference, a film's timecode track), else at its start (0).
    Negative: the recording starts before the file, and that much of it is left out."""
    start = programme_clock(programme.path, programme.sample_rate, programme.audio_track is not None).start_seconds
    own = programme_clock(recording.path, recording.sample_rate, recording.audio_track is not None).start_seconds
    return round((own - start) * programme.sample_rate) if start and own else 0


@dataclass(frozen=True)
class Placement:
    """A recording probed and placed: its file, and where its first sample lands in the programme's file
    (recording_offset). Found once, read as often as a pass needs (probing a film decodes its track, and
    its timecode is another FFmpeg call)."""

    source: AudioInfo
    placed_at: int

    @classmethod
    def of(cls, path: Path, programme: AudioInfo, checked: bool = True) -> Placement:
        """Probe the recording at `path` and place it; `checked`: against the programme (a whole file; not for
        a `cut` replacement, whose range's file was checked whole by whoever cut the range).

        Raises:
            ReplacementError: it runs past the programme's end, or has a channel count that does not map.
        """
        source = probe(path)
        placement = cls(source, recording_offset(source, programme))
        if checked:
            placement.check(programme)
        return placement

    def check(self, programme: AudioInfo) -> None:
        """The recording fits inside `programme` (a whole file) where it is placed, in channels that map."""
        source, offset = self.source, self.placed_at
        length = resampled_length(source.num_frames, source.sample_rate, programme.sample_rate)
        if offset + length > programme.first_frame + programme.num_frames:
            placed = f" placed by timecode {offset / programme.sample_rate:+.3f} s into it" if offset else ""
            raise ReplacementError(source.path, f"is {length} samples at {programme.sample_rate} Hz "
                                                f"({length / programme.sample_rate:.3f} s){placed}, longer than the "
                                                f"programme's {programme.num_frames} "
                                                f"({programme.duration_seconds:.3f} s); trim it to the programme")
        if source.num_channels not in (1, programme.num_channels) and programme.num_channels != 1:
            raise ReplacementError(source.path, f"has {source.num_channels} channels; the programme has "
                                                f"{programme.num_channels} (a replacement is mono or the "
                                                "programme's layout)")


class RecordingStream:
    """A recording at the programme's rate (in recording_channels: the programme's, or mono), taken in
    blocks in step with the programme, where its Placement puts it: silence before it and past its end (a
    shorter recording is padded); over an excerpt, its samples over the excerpt's range."""

    def __init__(self, placement: Placement, info: AudioInfo) -> None:
        source = placement.source
        # where it starts in the input: an excerpt's frame 0 is its file's frame first_frame
        self.offset = placement.placed_at - info.first_frame
        self.num_channels = recording_channels(source.num_channels, info.num_channels)
        self._lead = max(0, self.offset)  # samples of silence still to give before it starts (made as taken)
        self._skip = max(0, -self.offset)  # of it, before the programme starts
        if self._skip and source.sample_rate == info.sample_rate:  # a range late in a long file: seek to it
            sought = min(self._skip, source.num_frames - 1)
            source, self._skip = source.excerpt(sought, source.num_frames - sought), self._skip - sought
        self._blocks = read_blocks(source)
        self._resampler = StreamResampler(source.sample_rate, info.sample_rate, source.num_channels,
                                          source.num_frames)
        self._queue = SampleQueue(self.num_channels)
        self._done = False

    def take(self, count: int) -> np.ndarray:
        """(C, count) float32: the next samples, silence before the recording starts and once it has ended."""
        lead = min(self._lead, count)
        self._lead -= lead
        if lead:
            return np.concatenate([np.zeros((self.num_channels, lead), np.float32), self.take(count - lead)], axis=1)
        while self._queue.size < count and not self._done:
            block = next(self._blocks, None)
            resampled = self._resampler.finish() if block is None else self._resampler.push(block)
            self._done = block is None
            skipped = min(self._skip, resampled.shape[1])
            self._skip -= skipped
            kept = resampled[:, skipped:]
            if kept.shape[0] != self.num_channels:  # several channels mixed to a mono programme's one
                kept = kept.mean(axis=0, keepdims=True)
            self._queue.push(kept.astype(np.float32))
        ready = min(count, self._queue.size)
        taken = self._queue.pop(ready)
        return np.pad(taken, ((0, 0), (0, count - ready))) if ready < count else taken


class ReplacementPass:
    """One recording in a stem's place (`replace`): where a match is to be decided, the separated regions
    are drained to disk while the recording is read in step and both are metered (`drain`), then given back
    with the recording, matched, in the stem's place (`regions`)."""

    def __init__(self, replacement: Replacement, stem_index: int, info: AudioInfo, output_path: Path,
                 num_stems: int, match: str = "lines", match_eq: bool = False) -> None:
        if match not in MATCHES:
            raise ValueError(f"match is one of {', '.join(MATCHES)}, not {match!r}")
        self.replacement, self.info, self.match, self.match_eq = replacement, info, match, match_eq
        self.stem_index, self._num_stems = stem_index, num_stems
        self._placement = Placement.of(replacement.path, info, checked=not replacement.cut)
        self._recording = RecordingStream(self._placement, info)
        rate, channels, kept = info.sample_rate, info.num_channels, self._recording.num_channels
        self._targets = list(range(channels)) if kept == channels else mono_targets(info.channel_layout, channels)
        self.eq_db: dict[float, float] = {}
        self.line_gains: list[tuple[float, float, float]] = []  # (start s, end s, gain dB) per original line
        self._curve = (np.array([0.0]), np.array([0.0]))  # (seconds, gain dB), interpolated between
        self._done = 0  # samples of the programme given back with the recording in place
        # with nothing to decide (--match off, no tone match) the recording goes in as the regions arrive
        self.deciding = match != "off" or match_eq
        if not self.deciding:
            return
        self._original = LoudnessMeter(rate, channels, HOP_SECONDS)
        # the recording, metered while it drains (with a tone match, again once it is rendered) in its own
        # channels: a mono one spread on the targets reads as loud as its weights there add up to
        self._recording_meter = LoudnessMeter(rate, kept, HOP_SECONDS)
        self._placed_weight = 1.0 if kept == channels else float(channel_weights(channels)[self._targets].sum())
        self._speech = SpeechPresence(rate, channels, dialogue_channels(info.channel_layout))
        self._band_powers: list[np.ndarray] = []  # per spectrum frame, (2, bands): original stem, recording
        self._frames = SampleQueue(2)  # mono original stem and recording, waiting for a whole spectrum frame
        self._scratch = AtomicWriter(output_path.with_name(f"{output_path.name}.replace.wav"), rate,
                                     channels * (num_stems + 1), "wav32f", durable=False)
        # the recording through the tone match, rendered once from a second read of it (the chain holds samples
        # back, so it is run over the whole recording before the mix reads it in step)
        self._shaped = AtomicWriter(output_path.with_name(f"{output_path.name}.replace-eq.wav"), rate, kept,
                                    "wav32f", durable=False) if match_eq else None

    def replace(self, regions: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The regions with the recording, matched, in the stem's place: with a match to decide, drained and
        decided first (drain), then read back (regions); else in step as they arrive, with no scratch file."""
        if not self.deciding:
            return (self._in_place(mixture, stems.copy(), self._recording.take(mixture.shape[1]))
                    for mixture, stems in regions)
        self.drain(regions)
        return self.regions()

    def drain(self, regions) -> None:
        """Write every region to the scratch file, metering it and the recording's same samples; then
        decide the gains (and the tone)."""
        for mixture, stems in regions:
            stem = stems[self.stem_index]
            new = self._recording.take(mixture.shape[1])
            self._original.push(stem)
            self._speech.push(mixture, stem)
            self._recording_meter.push(new)
            if self.match_eq:
                self._frames.push(np.stack([stem.mean(axis=0), new.mean(axis=0)]))
                self._add_spectra()
            self._scratch.write(np.concatenate([mixture, *stems]))
        self._scratch.close()
        original_ms = block_mean_squares(self._original, WINDOW_HOPS)
        speaking = self._speech.programme_windows(HOP_SECONDS)[:len(original_ms)]
        original_ms = original_ms[:len(speaking)]
        # the original's lines as the ride finds them: runs of speech less their quiet tails (mix.ride)
        in_line = line_windows(speaking, mean_square_lufs(original_ms))
        self._decide_gains(original_ms, speaking, in_line)
        if self._shaped:
            # the tone is fitted to the recording with its lines at those gains (a dub's lines recorded at
            # other levels would otherwise weigh its long-term spectrum), then the gains decided again on
            # the recording as it will sound
            levels = self._line_levels_db(in_line)
            if levels:
                self.eq_db = fit_eq(*levels, self.info.sample_rate)
            self._recording_meter = LoudnessMeter(self.info.sample_rate, self._recording.num_channels, HOP_SECONDS)
            self._render_shaped()
            self._decide_gains(original_ms, speaking, in_line)

    def regions(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(mixture (C, m), stems (P, C, m)) read back from the scratch file with the recording in place."""
        channels = self.info.num_channels
        # the tone-matched file has the scratch file's length, so the same blocks; else the recording afresh
        shaped = read_blocks(probe(self._shaped.temp_path)) if self._shaped else None
        recording = RecordingStream(self._placement, self.info)
        for block in read_blocks(probe(self._scratch.temp_path)):
            stems = block[channels:channels * (self._num_stems + 1)].reshape(self._num_stems, channels, -1)
            yield self._in_place(block[:channels], stems, next(shaped) if shaped else recording.take(block.shape[1]))

    def _in_place(self, mixture: np.ndarray, stems: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The next region with `new` (the recording's same samples, in its own channels) at its gains as the
        stem (`stems` is changed), and the mixture changed by the same difference: the residual is the
        original's."""
        at = (self._done + np.arange(new.shape[1])) / self.info.sample_rate
        self._done += new.shape[1]
        new = spread(new, self._targets, self.info.num_channels) * (10 ** (np.interp(at, *self._curve) / 20)).astype(
            np.float32)
        mixture = mixture - stems[self.stem_index] + new
        stems[self.stem_index] = new
        return mixture, stems

    def summary(self) -> dict:
        """What was decided, for the report and the command's lines."""
        gains = [gain for _, _, gain in self.line_gains]
        return {"stem": self.replacement.stem, "file": str(self.replacement.path), "match": self.match,
                "placed_at_seconds": round(self._recording.offset / self.info.sample_rate, 6),
                "channels": [self.info.channel_layout[i] if self.info.channel_layout else i + 1 for i in self._targets],
                "lines": [{"start_seconds": round(a, 2), "end_seconds": round(b, 2), "gain_db": round(g, 2)}
                          for a, b, g in self.line_gains],
                "gain_db_range": [round(min(gains), 2), round(max(gains), 2)] if gains else None,
                "eq_db": {f"{centre:g}": round(gain, 2) for centre, gain in self.eq_db.items()},
                "curve": {"seconds": [round(float(t), 2) for t in self._curve[0]],
                          "gain_db": [round(float(g), 2) for g in self._curve[1]]}}

    def close(self) -> None:
        """Remove the scratch files (whatever happened)."""
        if self.deciding:
            self._scratch.abort()
            if self._shaped:
                self._shaped.abort()

    def _add_spectra(self) -> None:
        """Each whole frame's octave-band powers, kept (7 numbers a frame each) until the lines are known."""
        count = self._frames.size // EQ_FRAME_SAMPLES
        if not count:
            return
        frames = self._frames.pop(count * EQ_FRAME_SAMPLES).reshape(2, count, EQ_FRAME_SAMPLES)
        window = np.hanning(EQ_FRAME_SAMPLES).astype(np.float32)
        power = np.abs(scipy.fft.rfft(frames * window, axis=-1)) ** 2  # (2, count, bins), in float32: 9x float64
        self._band_powers.extend(octave_powers(power, self.info.sample_rate).transpose(1, 0, 2))

    def _line_levels_db(self, in_line: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Long-term octave levels (dB) of the original stem and the recording over the frames where both
        speak (inside the original's lines, the recording within PAUSE_UNDER_PEAK_DB of its loudest frame):
        the tone of the speech, not of what the stem leaks in a pause the recording keeps. None: no such frame."""
        if not self._band_powers or not in_line.any():
            return None
        powers = np.array(self._band_powers)  # (frames, 2, bands)
        centres = (np.arange(len(powers)) + 0.5) * EQ_FRAME_SAMPLES / self.info.sample_rate
        window = np.clip(((centres - WINDOW_SECONDS / 2) / HOP_SECONDS).round().astype(int), 0, len(in_line) - 1)
        powers[:, 1] *= 10 ** (np.interp(centres, *self._curve) / 10)[:, None]  # at the gains decided
        recording = powers[:, 1].sum(axis=1)
        speaking = recording > recording.max() * 10 ** (-PAUSE_UNDER_PEAK_DB / 10)
        chosen = powers[in_line[window] & speaking]
        if not len(chosen):
            return None
        total = chosen.sum(axis=0)
        return 10 * np.log10(total[0] + 1e-30), 10 * np.log10(total[1] + 1e-30)

    def _decide_gains(self, original_ms: np.ndarray, speaking: np.ndarray, in_line: np.ndarray) -> None:
        """The gain curve (seconds, dB) from the original's lines and the recording as it will sound (its EQ)."""
        recording = self._recording_meter
        new_ms = block_mean_squares(recording, WINDOW_HOPS) * self._placed_weight
        count = min(len(original_ms), len(new_ms))
        original_ms, new_ms, speaking = original_ms[:count], new_ms[:count], speaking[:count]
        self.line_gains = []
        if self.match == "off" or not count:
            self._curve = (np.array([0.0]), np.array([0.0]))
            return
        pauses = _pauses(recording, count)
        # every stretch of the original's line windows (runs of dialogue already), one across a dip of a
        # quiet word or two, in the pieces the recording's own pauses make
        lines = [piece for line in _runs(_bridged(in_line[:count], LINE_DIP_WINDOWS), 1)
                 for piece in _split_at_pauses(line, pauses)]
        if self.match == "programme":
            gain = _gain_db(original_ms[speaking], new_ms[speaking])
            self.line_gains = [(a * HOP_SECONDS, (b - 1) * HOP_SECONDS + WINDOW_SECONDS, gain) for a, b in lines]
            self._curve = (np.array([0.0]), np.array([gain]))
            return
        points_t, points_g = [], []
        for start, end in lines:
            gain = _gain_db(original_ms[start:end], new_ms[start:end])
            if gain is None:
                continue  # the recording is silent over this line: nothing to match
            # the line spans its windows, the first's start to the last's end
            first, last = start * HOP_SECONDS, (end - 1) * HOP_SECONDS + WINDOW_SECONDS
            self.line_gains.append((first, last, gain))
            points_t += [first, last]
            points_g += [gain, gain]
        if not points_t:
            self._curve = (np.array([0.0]), np.array([0.0]))
            return
        self._curve = (np.array(points_t), np.array(points_g))  # constant over a line, a ramp between lines

    def _render_shaped(self) -> None:
        """Run the recording through the tone match into its own scratch file, metering it as it will be mixed."""
        chain = FirStream(eq_filter(self.eq_db, self.info.sample_rate), self._recording.num_channels)
        recording = RecordingStream(self._placement, self.info)
        for start in range(0, self.info.num_frames, RENDER_BLOCK_SAMPLES):
            shaped = chain.push(recording.take(min(RENDER_BLOCK_SAMPLES, self.info.num_frames - start)))
            self._recording_meter.push(shaped)
            self._shaped.write(shaped)
        tail = chain.finish()
        self._recording_meter.push(tail)
        self._shaped.write(tail)
        self._shaped.close()


def replacement_passes(replacements: Sequence[Replacement], stem_names: Sequence[str], num_stems: int,
                       info: AudioInfo, output_path: Path, match: str = "lines",
                       match_eq: bool = False) -> list[ReplacementPass]:
    """One pass per replacement, in order, each recording placed and checked before any work; a refused one
    leaves no scratch file of those made before it. num_stems: the prompts the separation runs."""
    indices = [replaced_stem(stem_names, replacement) for replacement in replacements]
    made: list[ReplacementPass] = []
    try:
        for replacement, index in zip(replacements, indices):
            made.append(ReplacementPass(replacement, index, info, output_path, num_stems, match, match_eq))
    except BaseException:
        for done in made:
            done.close()
        raise
    return made


def replaced_regions(passes: Sequence[ReplacementPass],
                     regions: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """The regions with every pass's recording in its stem's place, each pass taking what the one before
    gives (a pass that decides a match drains them here)."""
    for replacement in passes:
        regions = replacement.replace(regions)
    return regions


def _runs(flags: np.ndarray, min_run: int) -> list[tuple[int, int]]:
    """[start, end) of each run of true windows at least min_run long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_run]


def _bridged(flags: np.ndarray, gap: int) -> np.ndarray:
    """flags with every run of false windows shorter than `gap`, with true ones on both sides, made true."""
    bridged = flags.copy()
    for start, end in _runs(~flags, 1):
        if start > 0 and end < len(flags) and end - start < gap:
            bridged[start:end] = True
    return bridged


def _pauses(recording: LoudnessMeter, count: int) -> np.ndarray:
    """(count,) bool: windows whose middle 200 ms the recording holds silent (PAUSE_UNDER_PEAK_DB under its
    loudest 100 ms)."""
    hop_ms = np.diff(np.asarray(recording.hop_energies)) / recording.hop_samples
    if not hop_ms.size or not hop_ms.max() > 0:
        return np.zeros(count, bool)
    silent = hop_ms < hop_ms.max() * 10 ** (-PAUSE_UNDER_PEAK_DB / 10)
    silent = np.pad(silent, (0, max(0, count + 3 - silent.size)), constant_values=True)
    return silent[1:count + 1] & silent[2:count + 2]


def _split_at_pauses(line: tuple[int, int], pauses: np.ndarray) -> list[tuple[int, int]]:
    """The pieces of an original line between the recording's pauses (the dub's own lines), each at least
    MIN_PIECE_WINDOWS long."""
    start, end = line
    return [(start + a, start + b) for a, b in _runs(~pauses[start:end], MIN_PIECE_WINDOWS)]


def _gated_lufs(mean_squares: np.ndarray) -> float:
    """BS.1770 loudness of 400 ms windows with its relative gate (-10 LU): the line's level, as a meter
    reads it, not lowered by the pauses between its words."""
    mean_squares = mean_squares[mean_squares > 0]
    if not mean_squares.size:
        return -math.inf
    ungated = mean_square_lufs(np.mean(mean_squares))
    kept = mean_squares[mean_square_lufs(mean_squares) > ungated - RELATIVE_GATE_LU]
    return float(mean_square_lufs(np.mean(kept)))


def _gain_db(original_ms: np.ndarray, new_ms: np.ndarray) -> float | None:
    """The gain that makes the recording's gated loudness over these windows the original's, within
    ±MAX_MATCH_GAIN_DB; None where either is silent."""
    original, new = _gated_lufs(original_ms), _gated_lufs(new_ms)
    if not (math.isfinite(original) and math.isfinite(new)):
        return None
    return max(-MAX_MATCH_GAIN_DB, min(MAX_MATCH_GAIN_DB, original - new))
