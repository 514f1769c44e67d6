"""The official TUSS loss: negative SNR, soft-capped at snr_max, with zero-reference handling; no PIT."""

from __future__ import annotations

import torch


def snr_loss(
    estimate: torch.Tensor, reference: torch.Tensor, snr_max: float = 30.0, zero_ref_weight: float = 0.1,
    eps: float = 1e-7,
) -> torch.Tensor:
    """Per-source loss in dB (lower is better); prompts fix the order, so no permutation search.

    Active reference r (‖r‖² > 0):  10·log10(‖ŝ - r‖² + τ‖r‖² + eps) - 10·log10(‖r‖² + eps)
    Silent reference:               zero_ref_weight · 10·log10(‖ŝ‖² + τ‖x‖² + eps), x = Σ references
    with τ = 10^(-snr_max/10): an active source's loss flattens at -snr_max dB, and a silent
    target is pushed towards silence relative to the mixture's level.

    Args:
        estimate, reference: (B, P, L).

    Returns:
        (B, P) losses.
    """
    ref_power = reference.square().sum(-1)
    mix_power = reference.sum(1, keepdim=True).square().sum(-1).expand_as(ref_power)
    active = ref_power > 0
    scale = torch.where(active, ref_power, mix_power)
    noise_power = (estimate - reference).square().sum(-1)
    loss = 10 * torch.log10(noise_power + 10 ** (-snr_max / 10) * scale + eps)
    loss = loss - 10 * torch.log10(scale + eps) * active
    return torch.where(active, loss, zero_ref_weight * loss)
