"""The dialogue engine: which network serves the `speech` prompt, and how DFN3 and TUSS share a request.

With the DeepFilterNet3 engine, a request holding `speech` runs at the model rate as:
mix -> DFN3 -> dialogue, the speech stem; mix -> TUSS with the whole prompt list -> every other
stem (TUSS's own speech estimate is dropped). With several speech prompts (talkers) TUSS also
splits DFN3's dialogue into them. The residual (mix - sum of stems) still closes the sum exactly.

Why TUSS gets the mix and not mix - dialogue: measured on the real suite
(benchmarks/dialogue_arrangements.py, docs/guide/models.md), feeding TUSS the remainder lost 1.9 dB of music
SI-SNRi (-6.07 vs -4.13 dB: DFN3 keeps a solo trumpet with the voice, so the remainder lacks it)
and 0.7 dB of effects, while the dialogue-boost remix lifted dialogue the same (+3.6 dB either
way, +0.6 dB with TUSS alone). TUSS keeps its speech prompt in the list: the prompts decide where
speech goes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tuss_fx.deepfilternet import LanedStream
from tuss_fx.deepfilternet.lanes import file_stream
from tuss_fx.deepfilternet.features import HOP_SIZE, SAMPLE_RATE as DFN_SAMPLE_RATE
from tuss_fx.media.sample_queue import SampleQueue

ENGINES = ("auto", "tuss", "deepfilternet")
SPEECH_PROMPT = "speech"

# (N, C, S) segments, prompts, wanted prompt indices -> (N, O, C, S) stems: Separator._separate_segments
SegmentSeparator = Callable[..., np.ndarray]


def resolve_engine(requested: str, recorded: str | None) -> str:
    """"auto" -> the engine recorded for the model (measured better), else "tuss"; others as named.

    Raises:
        ValueError: an engine name outside ENGINES.
    """
    if requested not in ENGINES:
        raise ValueError(f"dialogue engine must be one of {', '.join(ENGINES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return recorded if recorded in ENGINES[1:] else "tuss"


@dataclass(frozen=True)
class DialoguePlan:
    """How one prompt list splits between DFN3 (the speech stem) and TUSS (the rest, and talkers)."""

    prompts: tuple[str, ...]

    @property
    def speech_indices(self) -> list[int]:
        return [i for i, prompt in enumerate(self.prompts) if prompt == SPEECH_PROMPT]

    @property
    def talkers(self) -> bool:
        """Several speech prompts: TUSS splits DFN3's dialogue into them."""
        return len(self.speech_indices) > 1

    @property
    def other_indices(self) -> list[int]:
        return [i for i, prompt in enumerate(self.prompts) if prompt != SPEECH_PROMPT]

    @property
    def needs_tuss(self) -> bool:
        """Talkers to split, or any stem but speech asked for."""
        return self.talkers or bool(self.other_indices)

    @property
    def tuss_passes(self) -> int:
        """Stems TUSS computes per segment, for sizing its batches."""
        return (len(self.speech_indices) if self.talkers else 0) + len(self.other_indices)

    def engine_channels(self, num_channels: int) -> int:
        """Channels of the overlap-add engine's input: the dialogue's and the mix's with talkers, else
        the mix's alone."""
        return 2 * num_channels if self.talkers else num_channels

    def engine_input(self, dialogue: np.ndarray, mixture: np.ndarray) -> np.ndarray:
        """(C, k) dialogue and mix -> what the overlap-add engine separates (engine_channels rows)."""
        return np.concatenate([dialogue, mixture]) if self.talkers else mixture

    def segment_processor(self, separate: SegmentSeparator) -> Callable[[np.ndarray], np.ndarray]:
        """The overlap-add engine's model call on engine_input segments. Returns (N, P, C, S) with
        talkers in the speech rows, or (N, P - 1, C, S): the other stems, for assemble() to put the
        dialogue beside. On the mix, TUSS sees every prompt (they steer where speech goes) but
        computes only the stems it serves."""
        speech_prompts = [SPEECH_PROMPT] * len(self.speech_indices)

        def others(mix: np.ndarray) -> np.ndarray | None:
            return separate(mix, list(self.prompts), self.other_indices) if self.other_indices else None

        def process(segments: np.ndarray) -> np.ndarray:
            if not self.talkers:
                return others(segments)
            channels = segments.shape[1] // 2
            stems = np.empty((len(segments), len(self.prompts), channels, segments.shape[-1]), np.float32)
            stems[:, self.speech_indices] = separate(segments[:, :channels], speech_prompts)
            if self.other_indices:
                stems[:, self.other_indices] = others(segments[:, channels:])
            return stems

        return process

    def assemble(self, tuss_stems: np.ndarray | None, dialogue: np.ndarray | None) -> np.ndarray:
        """TUSS's stems ((P, C, k) with talkers, else the (P - 1, C, k) others, or None when speech is
        all) + the (C, k) dialogue (None with talkers: it is in TUSS's stems) -> (P, C, k) stems."""
        if self.talkers:
            return tuss_stems
        stems = np.empty((len(self.prompts), *dialogue.shape), np.float32)
        if tuss_stems is not None:
            stems[self.other_indices] = tuss_stems
        stems[self.speech_indices[0]] = dialogue
        return stems


class DialogueSplit:
    """Push (C, n) mixture blocks at 48 kHz; get (dialogue, mixture) pairs (C, m) back, aligned.

    A live stream runs the channels on parallel threads with the stream's latency (LanedStream); a
    file (`offline`) may also cut its timeline into spans run side by side (file_stream), which
    returns output a round of spans late: latency_samples holds for live streams only.
    """

    def __init__(self, network, num_channels: int, atten_lim_db: float | None = None, offline: bool = False) -> None:
        self._stream = (file_stream if offline else LanedStream)(network, num_channels, atten_lim_db)
        self._mixture = SampleQueue(num_channels)

    latency_samples = LanedStream.latency_samples + HOP_SIZE  # plus a partial hop held back

    def push(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._mixture.push(block)
        return self._paired(self._stream.push(block))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        return self._paired(self._stream.finish())

    def _paired(self, dialogue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dialogue, self._mixture.pop(dialogue.shape[1])


def check_model_rate(sample_rate: int) -> None:
    """DFN3 runs at 48 kHz, as TUSS does; a model at another rate cannot share its stream."""
    if sample_rate != DFN_SAMPLE_RATE:
        raise ValueError(f"the deepfilternet dialogue engine needs a 48 kHz model, this one runs at {sample_rate} Hz")


def describe(engine: str, prompts: Sequence[str]) -> str:
    """Which engine serves speech, in words (tuss-fx info)."""
    if engine == "deepfilternet":
        return ("DeepFilterNet3 takes the dialogue from the mix; TUSS separates the other stems "
                "(and splits the dialogue when several speech prompts ask for talkers)")
    return "TUSS (the speech prompt, like every other)" if SPEECH_PROMPT in prompts else "TUSS"
