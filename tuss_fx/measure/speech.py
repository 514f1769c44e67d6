"""Where people speak: speech presence over a programme from a speech detector, streamed.

A separator is not a detector: the dialogue engine's stem, gated by its level, hears speech in a music
swell. Broadcast meters gate dialogue loudness with a speech classifier instead (Dolby's Dialogue
Intelligence). This one is Silero VAD (the `silero-vad` wheel, MIT, its TorchScript model inside the
package: nothing downloaded): 16 kHz mono in 32 ms frames, a speech probability per frame.

It listens to two signals, each mixed to mono over the channels that carry dialogue and resampled to
16 kHz with soxr as it streams: the programme, and the dialogue engine's stem of it. Measured on the real
suite's readings under its orchestra, strings and trumpet at 0 and -6 dB dialogue-to-background, with
known stems (benchmarks/speech_presence.py; docs/guide/ride.md "Where dialogue is"): on the mix alone it misses buried
lines (recall 68 %, none at all under strings at -6 dB); on the stem alone it finds them (98 %) but hears
speech in what the engine leaks of a string section (false alarms 9.9 %, 32 % under strings); the
engine's level gate, what decided until now, fires on 32 % of the music alone (57 % under the orchestra).
So a frame is speech where the mix says so, or where the stem says so and the stem holds a real part of
the frame (at least STEM_SHARE_DB of the programme's energy, not a leak): recall 98.2 % (95.2 % in the
worst scene), false alarms 6.9 % (21.7 % under strings). The mix's word is overruled where the stem hears
no voice and holds little of the frame: under an orchestra the mix's detector remembers a line for up to
1.2 s after it ends, the stem's for 0.3 s (STEM_SILENT_PROBABILITY). And the stem's word alone needs the
consonants of speech near it (UNVOICED_REACH_SECONDS): a string section's legato, which Silero can hear as a
voice in what the engine leaks of it, has no fricatives. What the detector hears in a string section
comes in short bursts; dialogue comes in lines: a run of fewer than MIN_RUN_WINDOWS speech windows
(about 0.7 s of speech) does not count, which leaves recall as it was and takes false alarms to 1.1 %
(6.5 % under strings at -6 dB), and the consonants to 0.0 % in every scene. Both signals go through the model
as one batch, so the second costs little.

The probabilities, two energies and the stem's high-band share per frame stay (32 bytes per 32 ms: 7 MB for
two hours), the audio does not. `windows` turns them into the 400 ms windows every 100 ms that loudness, the
DBR and the ride read, with a hangover that bridges the pauses between words.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

VAD_RATE = 16000
FRAME_SAMPLES = 512  # Silero's frame at 16 kHz
FRAME_SECONDS = FRAME_SAMPLES / VAD_RATE
SPEECH_THRESHOLD = 0.5  # Silero's own default: a frame is speech at this probability or above
# speech frames extended this long both ways: 0.2 s lost recall (96.0 %, 89 % in the worst scene), 0.5 s
# raised false alarms to 10 % (benchmarks/speech_presence.py --hangover)
HANGOVER_SECONDS = 0.3
# the stem's speech counts where the stem holds at least this much of the frame's energy: -10 dB took
# recall to 93 %, -20 dB false alarms to 7.7 % (benchmarks/speech_presence.py --share-db)
STEM_SHARE_DB = -15.0
# a run of fewer speech windows (400 ms every 100 ms: 1.3 s of windows) is not dialogue: 8 windows left 2.9 %
# false alarms (10.1 % under strings at -6 dB), 10 windows 1.1 % (6.5 %), recall 98.2 % either way
# (benchmarks/speech_presence.py --min-run); one word alone ("Yes.") falls under it
MIN_RUN_WINDOWS = 10
# the mix's speech does not count where the stem overrules it: its detector below this probability and the stem
# under STEM_SILENT_SHARE_DB of the frame (the engine hears no voice there). Silero's memory holds the mix at
# speech for up to 1.2 s after a line ends under an orchestra at -6 dB, where the stem's falls in 0.3 s; the
# veto takes the background's steadiness there from 88 % to 96 % with recall unchanged (98.2 %, 95.2 %), and
# dialogue-gated loudness within 0.30 LU of the true windows' (was 0.58). 0.1 and 0.2 gave 0.42 LU, 0.5 the same
# as 0.3 (benchmarks/speech_presence.py --stem-silent, benchmarks/ride_gates.py --estimated)
STEM_SILENT_PROBABILITY = 0.3
STEM_SILENT_SHARE_DB = -10.0
# The stem's speech alone counts only within UNVOICED_REACH_SECONDS of an unvoiced frame of the stem: one with at
# least UNVOICED_SHARE of its energy above UNVOICED_FROM_HZ (a fricative, a plosive's burst, breath), that the
# stem's detector calls speech, at least UNVOICED_FLOOR_DB of the programme (a sound, not the engine's floor).
# Lines have them; the string section's legato that Silero hears as voice in the engine's leak has none (at most
# 19 % of a frame above 2 kHz there; the suite's lines hold 7-39 frames over 30 %, 1-28 in a telephone's band).
# On the real scenes this took false alarms to 0.0 % in every scene (6.5 % under strings at -6 dB before) with
# recall as it was (benchmarks/speech_presence.py --unvoiced-reach); a reach of 1.0 s lost recall (97.4 %).
# Above 3.5 kHz (a tenth of the frame) separated as well but cost dialogue in a
# telephone's band (300-3400 Hz, --phone) much of its recall: 72.3 % (0 % in the worst scene) against 89.6 %
# (59.7 %) without the rule; from 2 kHz it keeps 86.4 % (48.4 %): what the stem alone finds there has fewer
# consonants to show, and the mix's detector still counts wherever it hears speech.
UNVOICED_FROM_HZ = 2000.0
UNVOICED_SHARE = 0.3
UNVOICED_FLOOR_DB = -35.0
UNVOICED_REACH_SECONDS = 1.5
MIX, STEM = 0, 1  # rows of probabilities and energies


CONTEXT_SAMPLES = 64  # each frame is seen with the 64 samples before it, as Silero's own runtime feeds it


@functools.cache
def _silero_network():
    """Silero VAD's 16 kHz network in torch, with the weights of the wheel's own TorchScript model; loaded
    once a process (30 ms, a tenth of a short remix), shared by every detector: it holds no state (the
    LSTM's is handed in and out) and only runs under inference_mode.

    Its encoder (an STFT, four convolutions) sees one frame and its context at a time and holds no state,
    so every frame of a block is encoded in one batched call (the STFT as an FFT of windowed segments,
    where Silero convolves with a DFT basis); only the LSTM cell carries state, and nn.LSTM runs it over
    the block's frames in one call too. Silero's TorchScript runtime makes a Python-level call per frame:
    1.0-1.2 s for a minute of a programme and its stem on 2 cores here, against 0.2 s this way, with the
    same probabilities: within 2e-6 on the same frames; tests/test_speech.py holds the streamed detector
    to the TorchScript model's within 1e-3, the difference of a streamed and a one-shot resampler. The
    wheel's safetensors file holds another version's weights, so the TorchScript model's are taken.
    """
    import warnings

    import torch

    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():  # its loader's own deprecations (importlib.resources.path, jit.load)
            warnings.simplefilter("ignore", DeprecationWarning)
            from silero_vad import load_silero_vad

            scripted = load_silero_vad()._model.state_dict()
    finally:
        torch.set_num_threads(threads)  # silero_vad's import sets 1 thread for the whole process

    class SileroNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stft_conv = torch.nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
            self.conv1 = torch.nn.Conv1d(129, 128, kernel_size=3, padding=1)
            self.conv2 = torch.nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1)
            self.conv3 = torch.nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1)
            self.conv4 = torch.nn.Conv1d(64, 128, kernel_size=3, padding=1)
            self.lstm = torch.nn.LSTM(128, 128, batch_first=True)
            self.final_conv = torch.nn.Conv1d(128, 1, 1)

        def forward(self, frames: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
            """frames: (B, T, 576) a frame with its context per step -> probabilities (B, T), state."""
            batch, steps, width = frames.shape
            flat = frames.reshape(batch * steps, width)
            x = torch.cat([flat, flat[:, -65:-1].flip(-1)], dim=-1)  # reflect-padded by 64 (8x F.pad's speed)
            # Silero's STFT is a convolution with a periodic-Hann-windowed DFT basis (258 x 256, its first row
            # the window itself); an FFT of the windowed segments gives the same magnitudes for a tenth of the work
            window = self.stft_conv.weight[0, 0]
            x = torch.fft.rfft(x.unfold(1, 256, 128) * window, dim=-1).abs().transpose(1, 2)  # (N, 129, 4)
            for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
                x = torch.relu(conv(x))
            encoded = x.squeeze(-1).reshape(batch, steps, 128)
            hidden, state = self.lstm(encoded, state)
            logits = self.final_conv(torch.relu(hidden).transpose(1, 2))  # (B, 1, T)
            return torch.sigmoid(logits)[:, 0], state

    names = {"stft_conv.weight": "stft.forward_basis_buffer", "final_conv.weight": "decoder.decoder.2.weight",
             "final_conv.bias": "decoder.decoder.2.bias"}
    for index, conv in enumerate(("conv1", "conv2", "conv3", "conv4")):
        names |= {f"{conv}.{kind}": f"encoder.{index}.reparam_conv.{kind}" for kind in ("weight", "bias")}
    # its LSTMCell and nn.LSTM keep the same gates in the same order
    names |= {f"lstm.{kind}_l0": f"decoder.rnn.{kind}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    network = SileroNetwork()
    network.load_state_dict({mine: scripted[theirs] for mine, theirs in names.items()})
    return network.eval()


class SpeechPresence:
    """Push (C, n) blocks of a programme (and of its dialogue stem, when there is one) at their rate;
    frame i covers [i·32 ms, (i+1)·32 ms) of the programme.

    latency_samples: programme samples pushed before their frame's probability is known (the resampler's
    delay and one frame); `windows` needs HANGOVER_SECONDS more to settle a window.
    """

    def __init__(self, sample_rate: int, num_channels: int, channels: Sequence[int] | None = None) -> None:
        import soxr
        import torch

        self.sample_rate = sample_rate
        self._channels = list(channels) if channels is not None else list(range(num_channels))
        self._resampler = soxr.ResampleStream(sample_rate, VAD_RATE, 2, dtype="float32", quality="HQ")
        self._network = _silero_network()
        self._state = None  # the LSTM's (h, c), carried from block to block
        self._torch = torch
        self._pending = np.zeros((2, CONTEXT_SAMPLES), dtype=np.float32)  # context + samples not yet a frame
        self._probabilities: list[np.ndarray] = []  # (2,) per frame: mix, stem
        self._energies: list[np.ndarray] = []  # (2,) per frame: Σx² of mix and stem at 16 kHz
        self._high_shares: list[float] = []  # per frame: the stem's share of energy above UNVOICED_FROM_HZ
        spectrum_hz = np.fft.rfftfreq(FRAME_SAMPLES, 1 / VAD_RATE)
        self._high_bins, self._voiced_bins = spectrum_hz >= UNVOICED_FROM_HZ, spectrum_hz >= 100.0  # no hum, no DC
        self._frame_window = np.hanning(FRAME_SAMPLES).astype(np.float32)
        self._has_stem = False
        self._finished = False
        self.latency_samples = int(math.ceil((FRAME_SECONDS + 0.01) * sample_rate))

    @property
    def probabilities(self) -> np.ndarray:
        """(2, F): the speech probability of every frame so far, of the mix and of the stem."""
        return np.asarray(self._probabilities, dtype=np.float64).reshape(-1, 2).T

    @property
    def energies(self) -> np.ndarray:
        """(2, F): Σx² of every frame so far at 16 kHz, of the mix and of the stem."""
        return np.asarray(self._energies, dtype=np.float64).reshape(-1, 2).T

    def push(self, programme: np.ndarray, dialogue: np.ndarray | None = None) -> None:
        """programme, dialogue: (C, n) float32 at the programme's rate, the same samples."""
        self._has_stem = self._has_stem or dialogue is not None
        mono = [programme[self._channels].mean(axis=0, dtype=np.float32),
                dialogue[self._channels].mean(axis=0, dtype=np.float32) if dialogue is not None
                else np.zeros(programme.shape[1], np.float32)]
        self._feed(self._resampler.resample_chunk(np.ascontiguousarray(np.stack(mono, axis=1)), last=False))

    def finish(self) -> None:
        """Flush the resampler and the last partial frame (zero-padded, as silence); once, however often
        it is called."""
        if self._finished:
            return
        self._finished = True
        self._feed(self._resampler.resample_chunk(np.zeros((0, 2), dtype=np.float32), last=True))
        partial = (self._pending.shape[1] - CONTEXT_SAMPLES) % FRAME_SAMPLES
        if partial:
            self._feed(np.zeros((FRAME_SAMPLES - partial, 2), dtype=np.float32))

    def _feed(self, samples: np.ndarray) -> None:
        """samples: (n, 2) at 16 kHz, mix and stem."""
        self._pending = np.concatenate([self._pending, samples.T], axis=1)
        count = (self._pending.shape[1] - CONTEXT_SAMPLES) // FRAME_SAMPLES
        if not count:
            return
        used = CONTEXT_SAMPLES + count * FRAME_SAMPLES
        frames = self._pending[:, CONTEXT_SAMPLES:used].reshape(2, count, FRAME_SAMPLES)
        self._energies.extend(np.square(frames, dtype=np.float64).sum(axis=2).T)
        power = np.square(np.abs(np.fft.rfft(frames[STEM] * self._frame_window, axis=1)), dtype=np.float64)
        whole = power[:, self._voiced_bins].sum(axis=1)
        self._high_shares.extend(np.divide(power[:, self._high_bins].sum(axis=1), whole,
                                           out=np.zeros_like(whole), where=whole > 0))
        steps = np.lib.stride_tricks.sliding_window_view(self._pending[:, :used], CONTEXT_SAMPLES + FRAME_SAMPLES,
                                                         axis=1)[:, ::FRAME_SAMPLES]  # (2, count, 576)
        with self._torch.inference_mode():
            probabilities, self._state = self._network(self._torch.from_numpy(steps.copy()), self._state)
        self._probabilities.extend(probabilities.numpy().T)
        self._pending = self._pending[:, used - CONTEXT_SAMPLES:]

    @property
    def num_frames(self) -> int:
        return len(self._probabilities)

    def frames(self, first: int = 0, threshold: float = SPEECH_THRESHOLD,
               stem_share_db: float = STEM_SHARE_DB,
               stem_silent_probability: float = STEM_SILENT_PROBABILITY,
               unvoiced_reach_seconds: float | None = UNVOICED_REACH_SECONDS) -> np.ndarray:
        """(F - first,) bool before the hangover, from frame `first` on: the mix's probability at the
        threshold unless the stem overrules it (its probability under stem_silent_probability and the stem
        under STEM_SILENT_SHARE_DB of the programme; 0 turns that off), or the stem's probability at the
        threshold where the stem holds at least stem_share_db of the programme's energy and an unvoiced frame
        of the stem lies within unvoiced_reach_seconds (None: no such need)."""
        reach = 0 if unvoiced_reach_seconds is None else int(round(unvoiced_reach_seconds / FRAME_SECONDS))
        start = max(0, first - reach)  # unvoiced frames this far before `first` count for it
        probabilities = np.asarray(self._probabilities[start:], dtype=np.float64).reshape(-1, 2).T
        energies = np.asarray(self._energies[start:], dtype=np.float64).reshape(-1, 2).T
        speech = probabilities[MIX] >= threshold
        if self._has_stem:
            silent = ((probabilities[STEM] < stem_silent_probability)
                      & (energies[STEM] < energies[MIX] * 10 ** (STEM_SILENT_SHARE_DB / 10)))
            kept = energies[STEM] >= energies[MIX] * 10 ** (stem_share_db / 10)
            stem_speech = (probabilities[STEM] >= threshold) & kept & (energies[STEM] > 0)
            if unvoiced_reach_seconds is not None:
                unvoiced = ((np.asarray(self._high_shares[start:]) >= UNVOICED_SHARE) & (probabilities[STEM] >= threshold)
                            & (energies[STEM] >= energies[MIX] * 10 ** (UNVOICED_FLOOR_DB / 10)) & (energies[STEM] > 0))
                stem_speech &= within_reach(unvoiced, reach)
            speech = (speech & ~silent) | stem_speech
        return speech[first - start:]

    def windows(self, num_windows: int, hop_seconds: float, window_seconds: float = 0.4,
                hangover_seconds: float = HANGOVER_SECONDS, first_window: int = 0,
                min_run: int = MIN_RUN_WINDOWS, **rule) -> np.ndarray:
        """(num_windows,) bool: window k (from first_window on), [k·hop, k·hop + window), holds speech
        (speech_windows of `frames`) in a run of at least min_run such windows (long_runs); only the frames
        those windows and their runs reach are looked at, so a stream that asks for its new windows each
        block costs what the new frames cost."""
        reach = int(round(hangover_seconds / FRAME_SECONDS))
        margin = max(0, min_run - 1)  # windows either side that decide whether a window's run is long enough
        start = max(0, first_window - margin)
        first_frame = max(0, int(start * hop_seconds / FRAME_SECONDS) - reach - 1)
        offset_seconds = first_frame * FRAME_SECONDS
        found = speech_windows(self.frames(first_frame, **rule), first_window - start + num_windows + margin,
                               hop_seconds, window_seconds, hangover_seconds, start * hop_seconds - offset_seconds)
        return long_runs(found, min_run)[first_window - start:first_window - start + num_windows]

    def programme_windows(self, hop_seconds: float) -> np.ndarray:
        """Every window of the whole programme, once it has all been pushed: finishes the stream and covers
        each frame (a consumer with fewer windows, as the loudness gate, reads its own count of them)."""
        self.finish()
        return self.windows(math.ceil(self.num_frames * FRAME_SECONDS / hop_seconds), hop_seconds)

    def settled_windows(self, hop_seconds: float, window_seconds: float = 0.4,
                        hangover_seconds: float = HANGOVER_SECONDS) -> int:
        """How many windows from the start no later frame can change: their frames and hangover are known,
        the MIN_RUN_WINDOWS - 1 windows after them that decide their run, and UNVOICED_REACH_SECONDS more."""
        known_seconds = (self.num_frames * FRAME_SECONDS - hangover_seconds - window_seconds
                         - (MIN_RUN_WINDOWS - 1) * hop_seconds - UNVOICED_REACH_SECONDS)
        return max(0, int(math.floor(known_seconds / hop_seconds + 1e-9)) + 1) if known_seconds >= 0 else 0


def within_reach(frames: np.ndarray, reach: int) -> np.ndarray:
    """(F,) bool -> (F,) bool: True where a True frame lies within `reach` frames either side."""
    counted = np.concatenate([[0], np.cumsum(frames)])
    index = np.arange(frames.size)
    return counted[np.minimum(index + reach + 1, frames.size)] > counted[np.maximum(index - reach, 0)]


def speech_windows(frames: np.ndarray, num_windows: int, hop_seconds: float, window_seconds: float = 0.4,
                   hangover_seconds: float = HANGOVER_SECONDS, start_seconds: float = 0.0) -> np.ndarray:
    """(num_windows,) bool from speech frames (frame 0 at time 0): each speech frame extended
    `hangover_seconds` both ways (the pauses between words and a line's soft ends count), then window k,
    [start + k·hop, start + k·hop + window), holds speech when at least half its frames do; frames not yet
    known count as no speech."""
    speech = within_reach(np.asarray(frames, dtype=bool), int(round(hangover_seconds / FRAME_SECONDS)))
    covered = np.concatenate([[0.0], np.cumsum(speech)])
    starts = start_seconds + np.arange(num_windows) * hop_seconds
    first = np.clip(np.floor(starts / FRAME_SECONDS + 1e-9).astype(int), 0, speech.size)
    last = np.clip(np.ceil((starts + window_seconds) / FRAME_SECONDS - 1e-9).astype(int), 0, speech.size)
    return (covered[last] - covered[first]) >= 0.5 * window_seconds / FRAME_SECONDS


def long_runs(windows: np.ndarray, min_run: int) -> np.ndarray:
    """(K,) bool: the True windows that lie in a run of at least min_run consecutive True windows."""
    windows = np.asarray(windows, dtype=bool)
    if min_run <= 1:
        return windows.copy()
    if windows.size < min_run:
        return np.zeros(windows.size, dtype=bool)
    full = np.convolve(windows.astype(np.int64), np.ones(min_run, np.int64), "valid") == min_run
    return np.convolve(full.astype(np.int64), np.ones(min_run, np.int64))[:windows.size] > 0
