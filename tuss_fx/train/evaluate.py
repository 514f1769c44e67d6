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
    return {prompt: _means(values) for prompt, values in sorted(scores.items())}


def _means(values: list[tuple[float, float, float]]) -> dict[str, float]:
    """(SI-SNR, SI-SNRi, SNR) per example -> their means and the count."""
    si_snr, si_snri, snr = np.mean(values, axis=0)
    return {"si_snr": float(si_snr), "si_snri": float(si_snri), "snr": float(snr), "count": len(values)}


@torch.inference_mode()
def evaluate_deepfilternet(examples: Iterable[Example]) -> dict[str, float] | None:
    """The DFN3 dialogue engine's speech scores on the examples that ask for speech (one talker):
    {"si_snr", "si_snri", "snr", "count"} as evaluate() gives per prompt; None if none ask for it."""
    from tuss_fx.deepfilternet import enhance, load_network

    network, values = load_network(), []
    for mixture, sources, prompts in examples:
        if prompts.count("speech") != 1 or not np.abs(sources[prompts.index("speech")]).max() > 0:
            continue
        reference = torch.from_numpy(sources[prompts.index("speech")])
        estimate = torch.from_numpy(enhance(network, mixture[None].astype(np.float32))[0])
        si_snr = float(scale_invariant_signal_noise_ratio(estimate, reference))
        baseline = float(scale_invariant_signal_noise_ratio(torch.from_numpy(mixture), reference))
        values.append((si_snr, si_snr - baseline, float(signal_noise_ratio(estimate, reference))))
    return _means(values) if values else None


def dialogue_engine_record(tuss_speech: dict[str, float] | None, dfn_speech: dict[str, float] | None,
                           measured_on: str) -> dict | None:
    """The model JSON's `dialogue_engine` record: the engine with the higher speech SI-SNRi, with both
    scores; None when there was no speech to measure."""
    if tuss_speech is None or dfn_speech is None:
        return None
    choice = "deepfilternet" if dfn_speech["si_snri"] > tuss_speech["si_snri"] else "tuss"
    return {"choice": choice, "measured_on": measured_on,
            "speech si_snri_db": {"tuss": tuss_speech["si_snri"], "deepfilternet": dfn_speech["si_snri"]}}


def format_table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'prompt':<10} {'SI-SNRi':>8} {'SI-SNR':>8} {'SNR':>8} {'n':>5}"]
    for prompt, row in results.items():
        lines.append(f"{prompt:<10} {row['si_snri']:8.2f} {row['si_snr']:8.2f} {row['snr']:8.2f} {row['count']:5d}")
    return "\n".join(lines)
