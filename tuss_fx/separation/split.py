"""Whether a model's music/effects split can be trusted, from what was measured on real material.

A remix preset asks for dialogue, effects and music. The dialogue engine makes the dialogue, but
effects and music stay TUSS's to tell apart, and a model that cannot (the shipped small TUSS:
sfxbg -4.7, musicbg -4.1 dB SI-SNRi on the real suite, worse than the mix itself) is better not
asked: its stems ducked by different amounts move music into effects and back. So the split is
used only where it was measured good, and the measurement lives in the model's JSON beside the
dialogue engine's (`evaluate-real --record` and `finetune` write it). Official TUSS checkpoints,
trained on the full recipe, count as able.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SPLIT_PROMPTS = ("sfxbg", "musicbg")  # the stems a dialogue/music/effects split tells apart
# A split is trusted when every one of SPLIT_PROMPTS gains at least this much SI-SNR over the mix on
# real material. At +3 dB a stem holds about twice the power of its own source as the mix gives it
# over what is not; below it, a stem is still mostly the others' sound and a per-stem gain moves
# the wrong source (the shipped model is 7 dB short of it).
MIN_SPLIT_SI_SNRI_DB = 3.0
STEM_SPLIT_KEY = "stem_split"  # native model JSON: the record


@dataclass(frozen=True)
class StemSplit:
    """What is known of a model's music/effects split: trusted or not, and why."""

    trusted: bool
    reason: str
    si_snri_db: dict[str, float] = field(default_factory=dict)  # prompt -> measured mean SI-SNRi


def split_record(si_snri_db: Mapping[str, float], measured_on: str) -> dict[str, Any]:
    """The model JSON's `stem_split` record from mean SI-SNRi per prompt (SPLIT_PROMPTS at least).

    Raises:
        ValueError: a prompt of SPLIT_PROMPTS was not measured.
    """
    missing = [prompt for prompt in SPLIT_PROMPTS if prompt not in si_snri_db]
    if missing:
        raise ValueError(f"no {', '.join(missing)} score to judge the music/effects split on")
    scores = {prompt: float(si_snri_db[prompt]) for prompt in SPLIT_PROMPTS}
    return {"trusted": min(scores.values()) >= MIN_SPLIT_SI_SNRI_DB, "si_snri_db": scores,
            "threshold_db": MIN_SPLIT_SI_SNRI_DB, "measured_on": measured_on}


def read_split(record: Any, official: bool) -> StemSplit:
    """A StemSplit from a model's `stem_split` record (None: not measured); `official`: an official
    TUSS checkpoint, which has no JSON and counts as able."""
    if official:
        return StemSplit(True, "an official TUSS checkpoint (trained on the full recipe)")
    if not isinstance(record, dict) or not isinstance(record.get("si_snri_db"), dict):
        return StemSplit(False, "this model's music/effects split was never measured on real material "
                                "(`tuss-fx evaluate-real --record` measures it)")
    scores = {prompt: float(value) for prompt, value in record["si_snri_db"].items()}
    threshold = float(record.get("threshold_db", MIN_SPLIT_SI_SNRI_DB))
    measured = ", ".join(f"{prompt} {value:+.1f}" for prompt, value in scores.items())
    trusted = all(scores.get(prompt, float("-inf")) >= threshold for prompt in SPLIT_PROMPTS)
    verdict = "at or above" if trusted else "below"
    return StemSplit(trusted, f"its music/effects split measured {measured} dB SI-SNRi on real material, "
                              f"{verdict} the {threshold:+.0f} dB a split needs", scores)
