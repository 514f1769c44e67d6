"""The official TUSS training recipe's prompt statistics (configs/unified/tuss.*.2-4src.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from tuss_fx.model.prompts import STEM_PROMPTS

# number of sources per mixture -> probability (single-source mixtures are never drawn)
NUM_SOURCES_WEIGHTS = {2: 1 / 3, 3: 1 / 3, 4: 1 / 3}
STEMS = STEM_PROMPTS


@dataclass(frozen=True)
class PromptRule:
    """How one prompt class enters a mixture."""

    init_prob: float  # probability of being the first prompt
    next_prob: dict[str, float]  # prompt -> probability of following this one
    max_count: int  # times it may appear in one mixture
    gain_db: tuple[float, float]  # uniform gain range


def _after_stem(stem: str) -> dict[str, float]:
    table = {"speech": 0.0333, "sfx": 0.0333, "sfxbg": 0.0333, "musicbg": 0.0}
    table.update({other: (0.0 if other == stem else 0.30) for other in STEMS})
    return table


_STEM_NEXT_FROM_DIALOGUE = {stem: 0.025 for stem in STEMS}
RULES: dict[str, PromptRule] = {
    "speech": PromptRule(0.2, {"speech": 0.4, "sfx": 0.1, "sfxbg": 0.2, "musicbg": 0.2, **_STEM_NEXT_FROM_DIALOGUE},
                         100, (-10.0, 0.0)),
    "sfx": PromptRule(0.2, {"speech": 0.2, "sfx": 0.5, "sfxbg": 0.0, "musicbg": 0.2, **_STEM_NEXT_FROM_DIALOGUE},
                      100, (-20.0, 0.0)),
    "sfxbg": PromptRule(0.2, {"speech": 0.5, "sfx": 0.0, "sfxbg": 0.0, "musicbg": 0.4, **_STEM_NEXT_FROM_DIALOGUE},
                        1, (-20.0, 0.0)),
    "musicbg": PromptRule(0.2, {"speech": 0.33, "sfx": 0.33, "sfxbg": 0.33, "musicbg": 0.0,
                                **{stem: 0.0 for stem in STEMS}}, 1, (-20.0, 0.0)),
    **{stem: PromptRule(0.05, _after_stem(stem), 1, (-10.0, 0.0)) for stem in STEMS},
}
