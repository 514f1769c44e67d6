"""Learnable prompt tokens: prepended to the band-split features, split off after the cross-prompt module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


# the prompt sets of the two tasks tuss-fx exposes most (TUSS.md, Prompts and tasks)
DMX_PROMPTS = ("speech", "sfxbg", "musicbg")  # dialogue / effects / music (CASS)
STEM_PROMPTS = ("vocals", "drums", "bass", "other")  # music source separation (MSS)


class UnknownPromptError(KeyError):
    """A prompt name the model was not trained with."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_prompts(prompts: Sequence[str], known: Sequence[str]) -> None:
    """Raise UnknownPromptError naming every unknown prompt and listing the model's prompts."""
    unknown = [p for p in prompts if p not in known]
    if unknown or not prompts:
        what = f"unknown prompt(s) {', '.join(map(repr, unknown))}" if unknown else "no prompts given"
        raise UnknownPromptError(f"{what}; this model knows: {', '.join(known)}")


def prepend_tokens(
    features: torch.Tensor, prompt_bank: nn.ParameterDict, prompts: Sequence[Sequence[str]], sos_token: torch.Tensor | None
) -> torch.Tensor:
    """[prompt_1 … prompt_P, SOS, frame_1 … frame_T] along time (TUSS.md 4).

    Args:
        features: (B, T, K, D) band-split mixture.
        prompt_bank: name -> (D, 1, 1) learnable prompt vector (official layout).
        prompts: B lists of P names (one list per batch item, equal lengths).
        sos_token: (D, 1, 1), or None when the model has no SOS token.

    Returns:
        (B, P + [1] + T, K, D); each token is broadcast over the K bands.
    """
    batch, _, num_bands, emb_dim = features.shape
    tokens = torch.stack([torch.stack([prompt_bank[name].view(emb_dim) for name in row]) for row in prompts])
    parts = [tokens.unsqueeze(2).expand(-1, -1, num_bands, -1)]  # (B, P, K, D)
    if sos_token is not None:
        parts.append(sos_token.view(1, 1, 1, emb_dim).expand(batch, 1, num_bands, emb_dim))
    return torch.cat([*parts, features], dim=1)


def condition_on_prompts(sequence: torch.Tensor, num_prompts: int, has_sos: bool,
                         outputs: Sequence[int] | None = None) -> torch.Tensor:
    """Split prompt vectors from frames and multiply the frames by each (TUSS.md 6).

    Args:
        sequence: (B, P + [1] + T, K, D) output of the cross-prompt module.
        outputs: the prompts (indices) whose sources are wanted, O of them; None: all P. Each
            prompt's source depends on the others only through the cross-prompt module, so leaving
            one out here changes none of the rest.

    Returns:
        (B·O, T, K, D): one copy of the mixture features per wanted prompt, batch-major.
    """
    prompt_vectors = sequence[:, :num_prompts]  # (B, P, K, D)
    if outputs is not None:
        prompt_vectors = prompt_vectors[:, list(outputs)]  # (B, O, K, D)
    frames = sequence[:, num_prompts + int(has_sos) :]  # (B, T, K, D)
    conditioned = frames.unsqueeze(1) * prompt_vectors.unsqueeze(2)  # (B, P, T, K, D)
    return conditioned.flatten(0, 1)
