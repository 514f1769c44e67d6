"""pedalboard-style processors built on TUSS, and a chain that hosts them beside native plugins.

pedalboard's native Pedalboard cannot host Python-defined plugins (spotify/pedalboard #12), so
these follow its contract instead: process(audio, sample_rate, buffer_size, reset), __call__,
reset(); channels-first float32 (C, L) or mono (L,). With reset=True a call processes one whole
signal and returns as many samples. With reset=False state carries across calls, and, as with
pedalboard's native plugins, early calls return fewer samples than they receive (the model
needs a whole segment before it can emit); the samples that come out line up with a
reset=True call on the whole signal. flush() returns the held samples at the end of a stream,
stream() and process_file() flush by themselves, and anything that would drop held samples
warns (tuss_fx.plugin.processor has the contract).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pedalboard

from tuss_fx.mix.effects import DEFAULT_BUFFER_SIZE, ChainStream
from tuss_fx.mix.plan import BACKGROUND, choose_plan
from tuss_fx.mix.presets import Preset, StemSettings
from tuss_fx.mix.remix import RemixStream
from tuss_fx.model.prompts import DMX_PROMPTS, STEM_PROMPTS
from tuss_fx.plugin.processor import HeldAudioWarning, Stage, StreamingProcessor
from tuss_fx.separation.dialogue import SPEECH_PROMPT
from tuss_fx.separation.separator import Separator, SeparationStream, source_names

__all__ = ["Chain", "DEFAULT_BUFFER_SIZE", "HeldAudioWarning", "TUSSExtract", "TUSSRemix", "TUSSRemove",
           "task_prompts"]


def task_prompts(prompt: str) -> tuple[str, ...]:
    """The prompt set a single stem is separated with: the task it belongs to (TUSS.md)."""
    for task in (DMX_PROMPTS, STEM_PROMPTS):
        if prompt in task:
            return task
    return (prompt, "sfxbg")


class TussProcessor(StreamingProcessor):
    """Base: a SeparationStream per signal, turned into one output signal by `_renderer`."""

    def __init__(self, prompts: Sequence[str], separator: Separator | None = None, checkpoint: str = "default",
                 dialogue_engine: str | None = None):
        """dialogue_engine: what serves `speech` when the model is loaded here from `checkpoint` ("auto",
        "tuss", "deepfilternet"; None is auto); a given `separator` brings its own."""
        super().__init__()
        if separator is not None and dialogue_engine is not None:
            raise ValueError("dialogue_engine applies to the model loaded from checkpoint; pass it to the "
                             "Separator given instead")
        self.separator = separator or Separator.from_pretrained(checkpoint, dialogue_engine=dialogue_engine or "auto")
        self.separator.check_prompts(prompts)
        self.prompts = tuple(prompts)

    def _open_stage(self, sample_rate: int, num_channels: int, buffer_size: int) -> Stage:
        stream = self.separator.open_stream(self.prompts, sample_rate, num_channels)
        return _Separation(stream, self._renderer(sample_rate, num_channels, buffer_size))

    def _renderer(self, sample_rate: int, num_channels: int, buffer_size: int):
        raise NotImplementedError

    def _describe(self) -> str:
        return f" {list(self.prompts)}"


class _Separation:
    """Stage: one signal's separation stream and the renderer of its stems."""

    def __init__(self, stream: SeparationStream, renderer) -> None:
        self._stream, self._render = stream, renderer
        self.latency_samples = stream.latency_samples + renderer.latency_samples

    def push(self, block: np.ndarray) -> np.ndarray:
        stems = self._stream.push(block)
        return self._render.push(self._stream.mixture_for(stems), stems)

    def finish(self) -> np.ndarray:
        stems = self._stream.finish()
        head = self._render.push(self._stream.mixture_for(stems), stems)
        return np.concatenate([head, self._render.finish()], axis=1)


class _Pick:
    """Renderer: one stem, or the mixture minus one stem."""

    latency_samples = 0

    def __init__(self, index: int, remove: bool, num_channels: int) -> None:
        self._index, self._remove, self._num_channels = index, remove, num_channels

    def push(self, mixture: np.ndarray, stems: np.ndarray) -> np.ndarray:
        return mixture - stems[self._index] if self._remove else stems[self._index]

    def finish(self) -> np.ndarray:
        return np.zeros((self._num_channels, 0), np.float32)


class TUSSExtract(TussProcessor):
    """One source out of the mix: TUSSExtract("speech") keeps the dialogue."""

    def __init__(self, prompt: str = "speech", prompts: Sequence[str] | None = None, **kwargs) -> None:
        """prompt: the stem to keep; prompts: the task it is separated in (default: its task's set).
        When DeepFilterNet3 serves speech, the dialogue does not depend on the other prompts, so
        `speech` is separated alone and TUSS does not run (the remix's dialogue plan does the same)."""
        prompts = tuple(prompts or task_prompts(prompt))
        if prompt not in prompts:
            raise ValueError(f"prompt {prompt!r} is not in prompts {prompts}")
        super().__init__(prompts, **kwargs)
        if prompt == SPEECH_PROMPT and prompts.count(SPEECH_PROMPT) == 1 and \
                self.separator.dialogue_engine == "deepfilternet":
            self.prompts = (SPEECH_PROMPT,)
        self.prompt = prompt

    def _renderer(self, sample_rate: int, num_channels: int, buffer_size: int):
        return _Pick(self.prompts.index(self.prompt), remove=False, num_channels=num_channels)


class TUSSRemove(TUSSExtract):
    """Everything but one source: TUSSRemove("musicbg") takes the music out (residual kept);
    TUSSRemove("speech") is the mix minus the dialogue, an M&E."""

    def _renderer(self, sample_rate: int, num_channels: int, buffer_size: int):
        return _Pick(self.prompts.index(self.prompt), remove=True, num_channels=num_channels)


class TUSSRemix(TussProcessor):
    """Separate, run a native pedalboard chain per stem, re-balance, sum with the residual.

    It runs the plan `tuss-fx remix` would (tuss_fx.mix.plan): with plan "auto", a dialogue/music/
    effects request on a model whose music/effects split is not trusted separates the dialogue alone
    and plays the rest (mix - dialogue) as one "background", with gains_db["background"] and
    stem_chains["background"] when given, else the power mean of the other stems' gains.

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
        plan: str = "auto",
        **kwargs,
    ) -> None:
        super().__init__(prompts, **kwargs)
        known = set(source_names(prompts)) | ({BACKGROUND} if SPEECH_PROMPT in prompts else set())
        for name in [*(stem_chains or {}), *(gains_db or {})]:
            if name not in known:
                raise ValueError(f"no stem {name!r}; stems: {', '.join(sorted(known))}")
        for where, board in [*((f"stem_chains[{n!r}]", b) for n, b in (stem_chains or {}).items()), ("master", master)]:
            if board is not None and not isinstance(board, pedalboard.Plugin):
                raise TypeError(f"{where} must be a native pedalboard.Pedalboard or plugin, not {type(board).__name__}; "
                                "a chain holding tuss-fx processors goes around TUSSRemix, in a tuss_fx.plugin.Chain")
        self.stem_chains = {name: _as_board(board) for name, board in (stem_chains or {}).items()}
        self.gains_db = dict(gains_db or {})
        self.master = None if master is None else _as_board(master)
        self.plan = choose_plan(self._as_preset(plan), self.separator)
        self.prompts = self.plan.preset.prompts
        if self.plan.name == "dialogue" and len(self.prompts) < len(prompts):
            dropped = sorted(set(self.stem_chains) - {SPEECH_PROMPT, BACKGROUND})
            if dropped:
                warnings.warn(f"the dialogue plan plays {', '.join(dropped)} inside one background: their "
                              f"stem_chains do not apply (stem_chains['background'] would)", stacklevel=2)

    def _as_preset(self, plan: str) -> Preset:
        """The arguments as a preset, for choose_plan: gains only (the chains are native objects)."""
        stems = {name: StemSettings(gain) for name, gain in self.gains_db.items() if name != BACKGROUND}
        background = StemSettings(self.gains_db[BACKGROUND]) if BACKGROUND in self.gains_db else None
        return Preset("TUSSRemix", tuple(self.prompts), "TUSSRemix", stems=stems, plan=plan, background=background)

    def _renderer(self, sample_rate: int, num_channels: int, buffer_size: int):
        preset = self.plan.preset
        return RemixStream(preset.stem_names, sample_rate, num_channels, self.stem_chains,
                           {name: preset.stem(name).gain_db for name in preset.source_names}, self.master,
                           block_samples=buffer_size, residual_name=preset.residual_name)

    def _describe(self) -> str:
        return f" {list(self.prompts)} ({self.plan.name} plan)"


def _as_board(plugin: pedalboard.Plugin) -> pedalboard.Pedalboard:
    return plugin if isinstance(plugin, pedalboard.Pedalboard) else pedalboard.Pedalboard([plugin])


def _checked(plugin):
    if not isinstance(plugin, (pedalboard.Plugin, StreamingProcessor)):
        raise TypeError(f"{plugin!r} is neither a pedalboard plugin nor a tuss-fx processor")
    return plugin


class _Series:
    """Stage: the chain's members in order; native runs are fed fixed blocks (effects.ChainStream)."""

    def __init__(self, stages: list[Stage], num_channels: int) -> None:
        self._stages, self._num_channels = stages, num_channels
        self.latency_samples = sum(stage.latency_samples for stage in stages)

    def push(self, block: np.ndarray) -> np.ndarray:
        for stage in self._stages:
            if not block.shape[1]:
                break
            block = stage.push(block)
        return block

    def finish(self) -> np.ndarray:
        carried = np.zeros((self._num_channels, 0), np.float32)
        for stage in self._stages:  # each member's held samples still run through the members after it
            head = stage.push(carried) if carried.shape[1] else carried
            carried = np.concatenate([head, stage.finish()], axis=1)
        return carried


class Chain(StreamingProcessor):
    """An ordered list of native pedalboard plugins and tuss-fx processors, run as one.

    Behaves like pedalboard.Pedalboard as a list (append, insert, remove, indexing, slicing,
    assignment, del, len, iteration) and as a plugin (process / __call__ with buffer_size and
    reset, reset()), plus the tuss-fx streaming contract (flush, stream, process_file). Native
    plugins get fixed blocks of buffer_size samples in a stream, so streaming equals one call.

    Example: Chain([HighpassFilter(cutoff_frequency_hz=60), TUSSRemove("musicbg"), Gain(gain_db=3)])
    """

    def __init__(self, plugins: Iterable = ()) -> None:
        super().__init__()
        self._plugins = [_checked(plugin) for plugin in plugins]

    def _open_stage(self, sample_rate: int, num_channels: int, buffer_size: int) -> Stage:
        stages, native = [], []
        for plugin in [*self._plugins, None]:
            if isinstance(plugin, pedalboard.Plugin):
                native.append(plugin)
                continue
            if native:
                stages.append(ChainStream(pedalboard.Pedalboard(native), sample_rate, num_channels, buffer_size))
                native = []
            if plugin is not None:
                stages.append(plugin.stage_for(sample_rate, num_channels, buffer_size))
        return _Series(stages, num_channels)

    def _changed(self) -> None:
        self._end_stream("discarded when the chain changed in the middle of a stream", stacklevel=5)

    def __len__(self) -> int:
        return len(self._plugins)

    def __iter__(self):
        return iter(self._plugins)

    def __getitem__(self, index: int | slice):
        """A member, or for a slice a new Chain of the same member objects (as a list slice shares them)."""
        return Chain(self._plugins[index]) if isinstance(index, slice) else self._plugins[index]

    def __setitem__(self, index: int | slice, plugin) -> None:
        self._changed()
        if isinstance(index, slice):
            self._plugins[index] = [_checked(p) for p in plugin]
        else:
            self._plugins[index] = _checked(plugin)

    def __delitem__(self, index: int | slice) -> None:
        self._changed()
        del self._plugins[index]

    def append(self, plugin) -> None:
        self._changed()
        self._plugins.append(_checked(plugin))

    def insert(self, index: int, plugin) -> None:
        self._changed()
        self._plugins.insert(index, _checked(plugin))

    def remove(self, plugin) -> None:
        """Remove the first member that is `plugin` (ValueError if none is)."""
        self._changed()
        self._plugins.remove(plugin)

    def reset(self) -> None:
        """Forget the stream in flight and reset every member, native or tuss-fx."""
        super().reset()
        for plugin in self._plugins:
            plugin.reset()

    def _describe(self) -> str:
        return f" with {len(self)} plugins: [{', '.join(type(p).__name__ for p in self._plugins)}]"
