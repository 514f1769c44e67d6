"""Remix plans: which engines a preset's request runs on, chosen by what the loaded model measurably does.

A preset asks for stems (speech, sfxbg, musicbg). Two plans can serve it:
- stems: every stem separated as asked (the dialogue engine's dialogue, TUSS's music and effects),
  each with its own chain and gain, the residual beside them;
- dialogue: the dialogue alone is separated and everything else, mix - dialogue, plays as one
  background with one gain and chain. TUSS does not run at all when DeepFilterNet3 serves speech.

`auto` takes the stems plan only where the model's music/effects split was measured good on real
material (tuss_fx.separation.split): ducking music and effects by different amounts through stems
that hold each other's sound moves more of the wrong source than the difference in gain is worth.
Measured with benchmarks/remix_quality.py (docs/guide/plans.md): on the shipped model the dialogue plan lands
nearer the ideal remix for every dialogue/music/effects preset, and 3x faster.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tuss_fx.mix.presets import PLANS, Preset, PresetError, StemSettings
from tuss_fx.model.prompts import DMX_PROMPTS
from tuss_fx.separation.dialogue import SPEECH_PROMPT
from tuss_fx.separation.separator import RESIDUAL, Separator

# prompts whose stems the dialogue plan folds into the background
BACKGROUND_PROMPTS = ("sfxbg", "musicbg", "sfx")
BACKGROUND = "background"  # the dialogue plan's second source: mix - dialogue


@dataclass(frozen=True)
class RemixPlan:
    """The plan a remix runs: its name (stems or dialogue), why, and the preset as it runs (under the
    dialogue plan: the dialogue stem, then the background in the residual's place)."""

    name: str
    reason: str
    preset: Preset
    channels: tuple[str, ...] = ()  # the preset's own sources in order: MIDI automation's channels 1, 2, ...

    def __post_init__(self) -> None:
        if not self.channels:
            object.__setattr__(self, "channels", tuple(self.preset.source_names))

    def lane_name(self, source: str) -> str:
        """The automation lane (a name of `channels`) that rides `source` of the preset as it runs:
        the dialogue plan's background rides on the residual's channel."""
        return RESIDUAL if source == self.preset.residual_name else source

    def describe(self) -> str:
        return f"{self.name} plan: {self.reason}"

    def as_dict(self) -> dict:
        return {"name": self.name, "reason": self.reason, "sources": self.preset.source_names}


def choose_plan(preset: Preset, separator: Separator, requested: str | None = None,
                automated: Collection[str] = ()) -> RemixPlan:
    """The plan for `preset` on `separator`'s model.

    Args:
        requested: "auto", "stems" or "dialogue"; None takes the preset's `plan` (auto by default).
        automated: the sources (preset.source_names) that MIDI automation rides.

    Raises:
        PresetError: "dialogue" asked of a preset whose stems need TUSS, or with automation riding
            a stem the dialogue plan folds into the background; an unknown plan name.
    """
    requested = requested or preset.plan
    if requested not in PLANS:
        raise PresetError(preset.source, f"plan {requested!r} is not one of {', '.join(PLANS)}")
    needs_stems = _needs_stems(preset)
    if preset.prompts == (SPEECH_PROMPT,):
        return RemixPlan("dialogue", "the preset asks for the dialogue alone", preset)
    if requested == "stems" or (requested == "auto" and needs_stems):
        return RemixPlan("stems", needs_stems or "asked for (plan stems)", preset)
    ridden = sorted(set(automated) - {SPEECH_PROMPT, RESIDUAL})  # the residual's lane rides the background
    if requested == "dialogue":
        if needs_stems:
            raise PresetError(preset.source, f"the dialogue plan cannot serve this preset: {needs_stems}")
        if ridden:
            raise PresetError(preset.source, f"the dialogue plan has no {', '.join(ridden)} to ride: the automation "
                                             "rides stems it folds into one background; use --plan stems")
        return _dialogue_plan(preset, "asked for (plan dialogue)")
    if ridden:
        return RemixPlan("stems", f"the automation rides {', '.join(ridden)} on their own", preset)
    if separator.dialogue_engine != "deepfilternet":
        return RemixPlan("stems", "TUSS serves the dialogue, and makes the other stems in the same pass", preset)
    if separator.stem_split.trusted:
        return RemixPlan("stems", f"the model splits music from effects: {separator.stem_split.reason}", preset)
    return _dialogue_plan(preset, f"the model cannot be trusted to split music from effects: "
                                  f"{separator.stem_split.reason}")


def describe_plans(separator: Separator) -> str:
    """What a dialogue/music/effects preset runs on this model, and why (tuss-fx info)."""
    plan = choose_plan(Preset("dme", DMX_PROMPTS, "dialogue/music/effects"), separator)
    return f"dialogue/music/effects presets run the {plan.describe()}"


def background_settings(preset: Preset) -> StemSettings:
    """The preset's [background], else one gain for everything but the dialogue: the power mean of its
    non-dialogue stems' gains (the level their sum would keep if they were equally loud; -inf when
    all are muted). The residual is not among them: under the stems plan it is what the model
    missed, not a source the preset balances."""
    if preset.background is not None:
        return preset.background
    return StemSettings(power_mean_db([preset.stem(name).gain_db for name, prompt
                                       in zip(preset.stem_names, preset.prompts) if prompt != SPEECH_PROMPT]))


def power_mean_db(gains_db: Sequence[float]) -> float:
    """The level a sum of equally loud sources keeps at these gains (dB; -inf when all are muted)."""
    power = float(np.mean([0.0 if gain == -math.inf else 10 ** (gain / 10) for gain in gains_db]))
    return -math.inf if power == 0.0 else 10 * math.log10(power)


def _needs_stems(preset: Preset) -> str | None:
    """Why only the stems plan serves this preset, or None when the dialogue plan can."""
    speech = preset.prompts.count(SPEECH_PROMPT)
    others = sorted({prompt for prompt in preset.prompts if prompt not in (SPEECH_PROMPT, *BACKGROUND_PROMPTS)})
    if others:
        return f"its stems ({', '.join(others)}) need TUSS"
    if speech == 0:
        return "it has no dialogue stem to keep apart"
    if speech > 1:
        return f"it splits {speech} talkers, which only TUSS does"
    return None


def _dialogue_plan(preset: Preset, why: str) -> RemixPlan:
    background = background_settings(preset)
    chains_dropped = [name for name in (*preset.stem_names, RESIDUAL)
                      if name != SPEECH_PROMPT and preset.stem(name).chain] if preset.background is None else []
    gain = "muted" if background.gain_db == -math.inf else f"{background.gain_db:+.1f} dB"
    what = f"dialogue, and the rest (mix - dialogue) as one background at {gain}"
    if chains_dropped:
        what += f" (the chains of {', '.join(chains_dropped)} do not apply; a [background] chain would)"
    collapsed = replace(preset, prompts=(SPEECH_PROMPT,),
                        stems={SPEECH_PROMPT: preset.stem(SPEECH_PROMPT), BACKGROUND: background},
                        residual_name=BACKGROUND, background=None)
    return RemixPlan("dialogue", f"{why}; {what}", collapsed, tuple(preset.source_names))
