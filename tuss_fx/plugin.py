"""pedalboard-style processors built on TUSS, and a chain that hosts them beside native plugins.

pedalboard's native Pedalboard cannot host Python-defined plugins (spotify/pedalboard #12), so
these follow its contract instead: process(audio, sample_rate, buffer_size, reset), __call__,
reset(); channels-first float32 (C, L) or mono (L,). With reset=True a call processes one whole
signal and returns as many samples. With reset=False state carries across calls, and, as with
pedalboard's native plugins, early calls return fewer samples than they receive (the model
needs a whole segment before it can emit); the samples that come out line up with a
reset=True call on the whole signal. `latency_samples` says how many can be held back, and
`flush()` returns them at the end of a stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pedalboard

from tuss_fx.model.prompts import DMX_PROMPTS, STEM_PROMPTS
from tuss_fx.remix import RemixStream
from tuss_fx.separator import Separator, SeparationStream, source_names, stem_names

DEFAULT_BUFFER_SIZE = 8192
# channels-first is the contract; more channels than this means samples-first was passed
MAX_CHANNELS = 16


def task_prompts(prompt: str) -> tuple[str, ...]:
    """The prompt set a single stem is separated with: the task it belongs to (TUSS.md)."""
    for task in (DMX_PROMPTS, STEM_PROMPTS):
        if prompt in task:
            return task
    return (prompt, "sfxbg")


def _as_channels_first(audio: np.ndarray) -> tuple[np.ndarray, bool]:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        return audio[None], True
    if audio.ndim != 2 or audio.shape[0] > MAX_CHANNELS:
        raise ValueError(f"audio must be channels-first (C, L) with C <= {MAX_CHANNELS}, or (L,); got {audio.shape}")
    return audio, False


class TussProcessor:
    """Base: a SeparationStream per signal, turned into one output signal by `_render`."""

    def __init__(self, prompts: Sequence[str], separator: Separator | None = None, checkpoint: str = "default"):
        self.separator = separator or Separator.from_pretrained(checkpoint)
        self.separator.check_prompts(prompts)
        self.prompts = tuple(prompts)
        self._state: _StreamState | None = None
        self.latency_samples = 0

    def process(
        self, input_array: np.ndarray, sample_rate: float, buffer_size: int = DEFAULT_BUFFER_SIZE, reset: bool = True
    ) -> np.ndarray:
        """(C, L) or (L,) float32 -> same layout; see the module docstring for reset."""
        audio, mono = _as_channels_first(input_array)
        sample_rate = int(sample_rate)
        if reset:
            state = self._open(sample_rate, audio.shape[0])
            parts = [state.push(audio[:, i : i + buffer_size]) for i in range(0, audio.shape[1], buffer_size)]
            out = np.concatenate([*parts, state.finish()], axis=1)
            self._state = None
        else:
            if self._state is None or self._state.key != (sample_rate, audio.shape[0]):
                self._state = self._open(sample_rate, audio.shape[0])
            out = self._state.push(audio)
        return out[0] if mono else out

    __call__ = process

    def flush(self) -> np.ndarray:
        """End a reset=False stream: the (C, n) samples still held back."""
        if self._state is None:
            return np.zeros((0, 0), np.float32)
        out, self._state = self._state.finish(), None
        return out

    def reset(self) -> None:
        """Forget any stream in progress."""
        self._state = None

    def _open(self, sample_rate: int, num_channels: int) -> _StreamState:
        stream = self.separator.open_stream(self.prompts, sample_rate, num_channels)
        self.latency_samples = stream.latency_samples
        return _StreamState((sample_rate, num_channels), stream, self._renderer(sample_rate, num_channels))

    def _renderer(self, sample_rate: int, num_channels: int):
        raise NotImplementedError


class _StreamState:
    """One signal in flight: its separation stream and the renderer of its stems."""

    def __init__(self, key: tuple[int, int], stream: SeparationStream, renderer) -> None:
        self.key, self._stream, self._render = key, stream, renderer

    def push(self, block: np.ndarray) -> np.ndarray:
        stems = self._stream.push(block)
        return self._render.push(self._stream.mixture_for(stems), stems)

    def finish(self) -> np.ndarray:
        stems = self._stream.finish()
        head = self._render.push(self._stream.mixture_for(stems), stems)
        return np.concatenate([head, self._render.finish()], axis=1)


class _Pick:
    """Renderer: one stem, or the mixture minus one stem."""

    def __init__(self, index: int, remove: bool, num_channels: int) -> None:
        self._index, self._remove, self._num_channels = index, remove, num_channels

    def push(self, mixture: np.ndarray, stems: np.ndarray) -> np.ndarray:
        return mixture - stems[self._index] if self._remove else stems[self._index]

    def finish(self) -> np.ndarray:
        return np.zeros((self._num_channels, 0), np.float32)


class TUSSExtract(TussProcessor):
    """One source out of the mix: TUSSExtract("speech") keeps the dialogue."""

    def __init__(self, prompt: str = "speech", prompts: Sequence[str] | None = None, **kwargs) -> None:
        """prompt: the stem to keep; prompts: the task it is separated in (default: its task's set)."""
        prompts = tuple(prompts or task_prompts(prompt))
        if prompt not in prompts:
            raise ValueError(f"prompt {prompt!r} is not in prompts {prompts}")
        super().__init__(prompts, **kwargs)
        self.prompt = prompt

    def _renderer(self, sample_rate: int, num_channels: int):
        return _Pick(self.prompts.index(self.prompt), remove=False, num_channels=num_channels)


class TUSSRemove(TUSSExtract):
    """Everything but one source: TUSSRemove("musicbg") takes the music out (residual kept)."""

    def _renderer(self, sample_rate: int, num_channels: int):
        return _Pick(self.prompts.index(self.prompt), remove=True, num_channels=num_channels)


class TUSSRemix(TussProcessor):
    """Separate, run a native pedalboard chain per stem, re-balance, sum with the residual.

    Example: TUSSRemix(["speech", "sfxbg", "musicbg"],
                       stem_chains={"speech": Pedalboard([Compressor(threshold_db=-20)])},
                       gains_db={"speech": 4.0, "musicbg": -6.0})
    """

    def __init__(
        self,
        prompts: Sequence[str] = DMX_PROMPTS,
        stem_chains: Mapping[str, pedalboard.Pedalboard] | None = None,
        gains_db: Mapping[str, float] | None = None,
        master: pedalboard.Pedalboard | None = None,
        **kwargs,
    ) -> None:
        super().__init__(prompts, **kwargs)
        known = set(source_names(prompts))
        for name in [*(stem_chains or {}), *(gains_db or {})]:
            if name not in known:
                raise ValueError(f"no stem {name!r}; stems: {', '.join(sorted(known))}")
        self.stem_chains = dict(stem_chains or {})
        self.gains_db = dict(gains_db or {})
        self.master = master

    def _renderer(self, sample_rate: int, num_channels: int):
        for board in [*self.stem_chains.values(), self.master]:
            if board is not None:
                board.reset()  # a new signal: no tails from the last one
        return RemixStream(stem_names(self.prompts), sample_rate, num_channels,
                           self.stem_chains, self.gains_db, self.master)


class Chain:
    """An ordered list of native pedalboard plugins and tuss-fx processors, run as one.

    Example: Chain([HighpassFilter(cutoff_frequency_hz=60), TUSSRemove("musicbg"), Gain(gain_db=3)])
    """

    def __init__(self, plugins: Iterable = ()) -> None:
        self.plugins = list(plugins)
        for plugin in self.plugins:
            if not callable(getattr(plugin, "process", None)):
                raise TypeError(f"{plugin!r} has no process(audio, sample_rate, ...) method")

    def process(
        self, input_array: np.ndarray, sample_rate: float, buffer_size: int = DEFAULT_BUFFER_SIZE, reset: bool = True
    ) -> np.ndarray:
        audio = np.asarray(input_array, dtype=np.float32)
        for plugin in self.plugins:
            audio = plugin.process(audio, sample_rate, buffer_size=buffer_size, reset=reset)
        return audio

    __call__ = process

    def reset(self) -> None:
        for plugin in self.plugins:
            plugin.reset()

    @property
    def latency_samples(self) -> int:
        """Samples the tuss-fx processors in the chain may hold back (native plugins report none)."""
        return sum(getattr(plugin, "latency_samples", 0) for plugin in self.plugins)

    def __len__(self) -> int:
        return len(self.plugins)

    def __iter__(self):
        return iter(self.plugins)

    def __getitem__(self, index: int):
        return self.plugins[index]

    def append(self, plugin) -> None:
        self.plugins.append(plugin)
