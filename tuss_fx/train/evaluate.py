"""Held-out evaluation: SI-SNR improvement and SNR per prompt class (torchmetrics)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import torch
from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio, signal_noise_ratio

from tuss_fx.model import TussModel

Example = tuple[np.ndarray, np.ndarray, list[str]]  # mixture (L,), sources (P, L), prompts


@torch.inference_mode()
def evaluate(model: TussModel, examples: Iterable[Example]) -> dict[str, dict[str, float]]:
    """Mean SI-SNR of the estimate, SI-SNR improvement over the mixture, and SNR, per prompt.

    Silent references are skipped (SI-SNR is undefined for them).

    Returns:
        prompt -> {"si_snr", "si_snri", "snr", "count"}; values in dB.
    """
    scores: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    model.eval()
    for mixture, sources, prompts in examples:
        estimate = model(torch.from_numpy(mixture)[None], prompts)[0]  # (P, L)
        reference = torch.from_numpy(sources)
        mix = torch.from_numpy(mixture).expand_as(reference)
        si_snr = scale_invariant_signal_noise_ratio(estimate, reference)
        baseline = scale_invariant_signal_noise_ratio(mix, reference)
        snr = signal_noise_ratio(estimate, reference)
        for index, prompt in enumerate(prompts):
            if reference[index].abs().max() > 0:
                scores[prompt].append((float(si_snr[index]), float(si_snr[index] - baseline[index]), float(snr[index])))
    return {
        prompt: {"si_snr": float(np.mean([v[0] for v in values])), "si_snri": float(np.mean([v[1] for v in values])),
                 "snr": float(np.mean([v[2] for v in values])), "count": len(values)}
        for prompt, values in sorted(scores.items())
    }


def format_table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'prompt':<10} {'SI-SNRi':>8} {'SI-SNR':>8} {'SNR':>8} {'n':>5}"]
    for prompt, row in results.items():
        lines.append(f"{prompt:<10} {row['si_snri']:8.2f} {row['si_snr']:8.2f} {row['snr']:8.2f} {row['count']:5d}")
    return "\n".join(lines)
