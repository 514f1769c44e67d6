"""pedalboard's process/reset contract for tuss-fx processors and chains, with no held sample lost silently.

pedalboard scripts stream a file one block at a time with reset=False. A tuss-fx processor
needs a whole segment before it can emit, so, like a native plugin with latency, early calls
return fewer samples than they get; what comes out lines up with one call on the whole signal.
The contract that keeps a copied pedalboard script from losing program material:

- flush() after the last block returns every sample still held; stream() and process_file()
  run a whole reader or file and flush by themselves.
- Whatever would drop held samples warns with HeldAudioWarning, naming flush() and the count:
  reset=True (which, as in pedalboard, clears state before it processes its block), a block at
  another sample rate or channel count, the end of a `with` block, and the processor being
  garbage-collected or Python exiting with samples still held.
- reset() drops them without a word: it is the explicit request.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from tuss_fx.media.audio_io import BLOCK_FRAMES, AtomicWriter, check_targets, format_for, probe, read_blocks
from tuss_fx.mix.effects import DEFAULT_BUFFER_SIZE

# channels-first is the contract; more channels than this means samples-first was passed
MAX_CHANNELS = 16


class HeldAudioWarning(UserWarning):
    """Samples a reset=False stream held back were dropped before flush() returned them."""


class Stage(Protocol):
    """One signal in flight inside a processor: (C, n) blocks in, (C, m) out, m <= n + held."""

    latency_samples: int  # most samples it holds back

    def push(self, block: np.ndarray) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


@dataclass
class _Signal:
    """A stream in flight: its stage, its layout, and how many samples went in and came out."""

    stage: Stage
    sample_rate: int
    num_channels: int
    mono: bool
    pushed: int = 0
    emitted: int = 0

    @property
    def held(self) -> int:
        return self.pushed - self.emitted


class _Tracker:
    """The processor's stream in flight, kept apart so a finalizer can read it without the processor."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.signal: _Signal | None = None


def _warn_if_held(tracker: _Tracker, what: str, stacklevel: int = 2) -> None:
    signal = tracker.signal
    if signal is not None and signal.held > 0:
        warnings.warn(
            f"{tracker.owner}: {signal.held} held samples ({signal.held / signal.sample_rate:.3f} s at "
            f"{signal.sample_rate} Hz) were {what}; call flush() after the last reset=False block to get "
            "them, or use stream() / process_file(), which flush by themselves",
            HeldAudioWarning, stacklevel=stacklevel)


def as_channels_first(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    """(C, L) or mono (L,) -> (C, L) float32 and whether it was mono; a wrong layout raises, never guessed."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio[None], True
    if audio.ndim != 2 or audio.shape[0] > MAX_CHANNELS:
        raise ValueError(f"audio must be channels-first (C, L) with C <= {MAX_CHANNELS}, or (L,); got {audio.shape}")
    return audio, False


class StreamingProcessor:
    """Base of tuss-fx processors and Chain: subclasses say how a signal is processed (`_open_stage`)."""

    def __init__(self) -> None:
        self._tracker = _Tracker(type(self).__name__)
        weakref.finalize(self, _warn_if_held, self._tracker, "never flushed before the processor was deleted "
                         "or Python exited")
        self.latency_samples = 0  # most samples the stream in flight (or the last one) can hold back

    def process(
        self, input_array: np.ndarray, sample_rate: float, buffer_size: int = DEFAULT_BUFFER_SIZE, reset: bool = True
    ) -> np.ndarray:
        """Process audio as pedalboard's Plugin.process does.

        Args:
            input_array: (C, L) or (L,) float audio, channels first.
            sample_rate: in Hz; a float is accepted, as pedalboard.io reports it.
            buffer_size: samples per block inside; native plugins in a stream keep the first
                call's size (pedalboard loses their state when it changes).
            reset: True: clear any stream in flight (warning if it held samples), then process
                input_array as one whole signal and return as many samples. False: continue the
                stream; the call returns up to latency_samples fewer samples than it gets (or
                more, once the held ones come out), and flush() returns the rest.

        Returns:
            float32 audio in input_array's layout.
        """
        audio, mono = as_channels_first(input_array)
        sample_rate = int(sample_rate)
        signal = self._tracker.signal
        if reset:
            self._end_stream("discarded by reset=True, which clears state before processing", stacklevel=4)
            signal = self._begin(sample_rate, audio.shape[0], mono, buffer_size)
            parts = [self._push(signal, audio[:, i : i + buffer_size]) for i in range(0, audio.shape[1], buffer_size)]
            out = np.concatenate([np.zeros((audio.shape[0], 0), np.float32), *parts, self._finish(signal)], axis=1)
        else:
            if signal is None or (signal.sample_rate, signal.num_channels) != (sample_rate, audio.shape[0]):
                self._end_stream("discarded when a block at another sample rate or channel count began a new "
                                 "stream", stacklevel=4)
                signal = self._begin(sample_rate, audio.shape[0], mono, buffer_size)
            out = self._push(signal, audio)
        return out[0] if mono else out

    __call__ = process

    def flush(self) -> np.ndarray:
        """End a reset=False stream: the samples still held, in the stream's layout ((C, n) or (n,))."""
        signal = self._tracker.signal
        if signal is None:
            return np.zeros((0, 0), np.float32)
        out = self._finish(signal)
        return out[0] if signal.mono else out

    def reset(self) -> None:
        """Forget any stream in flight, held samples included (no warning: it is asked for)."""
        self._tracker.signal = None

    def __enter__(self) -> StreamingProcessor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._end_stream("never flushed before the end of the `with` block", stacklevel=4)
        self.reset()

    def stream(self, reader, writer, block_frames: int | None = None) -> int:
        """Run a whole pedalboard.io reader through this processor into a writer, flushed at the end.

        Args:
            reader: pedalboard.io.AudioFile opened for reading, or anything with .read(n) ->
                (C, n), .tell(), .frames and .samplerate.
            writer: anything with .write((C, n)), e.g. pedalboard.io.AudioFile opened with "w".
            block_frames: frames per read (default: one second).

        Returns:
            Frames written: reader.frames, every input sample time-aligned with one call.
        """
        block_frames = block_frames or int(reader.samplerate)

        def blocks() -> Iterator[np.ndarray]:
            while reader.tell() < reader.frames:
                yield reader.read(block_frames)

        return self._run(blocks(), int(reader.samplerate), writer.write)

    def process_file(self, input_path: str | Path, output_path: str | Path, overwrite: bool = False,
                     block_frames: int = BLOCK_FRAMES) -> Path:
        """Process an audio file of any length into a WAV (float) or FLAC file, with flat memory.

        The output appears complete or not at all (written beside it, then renamed).

        Raises:
            AudioReadError: a missing, empty, truncated or non-audio input, or NaN samples.
            AudioWriteError: the output exists (and overwrite is False) or cannot be written.
        """
        info = probe(input_path)
        output_path = Path(output_path)
        check_targets([output_path], overwrite, "overwrite=True")
        writer = AtomicWriter(output_path, info.sample_rate, info.num_channels, format_for(output_path))
        try:
            self._run(read_blocks(info, block_frames), info.sample_rate, writer.write)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return output_path

    def _run(self, blocks: Iterable[np.ndarray], sample_rate: int, write: Callable[[np.ndarray], None]) -> int:
        self._end_stream("discarded when a new stream began", stacklevel=5)
        written = 0
        try:
            for block in blocks:
                out = self.process(block, sample_rate, reset=False)
                write(out)
                written += out.shape[-1]
            out = self.flush()
        except BaseException:
            self.reset()
            raise
        write(out)
        return written + out.shape[-1]

    def stage_for(self, sample_rate: int, num_channels: int, buffer_size: int) -> Stage:
        """A new stage for one signal (a Chain opens its members' this way); sets latency_samples."""
        stage = self._open_stage(sample_rate, num_channels, buffer_size)
        self.latency_samples = stage.latency_samples
        return stage

    def _begin(self, sample_rate: int, num_channels: int, mono: bool, buffer_size: int) -> _Signal:
        stage = self.stage_for(sample_rate, num_channels, buffer_size)
        self._tracker.signal = _Signal(stage, sample_rate, num_channels, mono)
        return self._tracker.signal

    def _push(self, signal: _Signal, block: np.ndarray) -> np.ndarray:
        out = signal.stage.push(block)
        signal.pushed += block.shape[1]
        signal.emitted += out.shape[1]
        return out

    def _finish(self, signal: _Signal) -> np.ndarray:
        out = signal.stage.finish()
        self._tracker.signal = None
        return out

    def _end_stream(self, what: str, stacklevel: int) -> None:
        """Drop the stream in flight, warning if it held samples (stacklevel: frames up to the user's call)."""
        _warn_if_held(self._tracker, what, stacklevel)
        self._tracker.signal = None

    def _open_stage(self, sample_rate: int, num_channels: int, buffer_size: int) -> Stage:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"<{type(self).__name__}{self._describe()}: a tuss-fx processor, which pedalboard.Pedalboard "
                "cannot host; put it in a tuss_fx.plugin.Chain>")

    def _describe(self) -> str:
        return ""
