"""Assembly of TUSS: the spectral separator (official state-dict root) and the waveform model around it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tuss_fx.model.blocks import build_stack
from tuss_fx.model.config import TussConfig
from tuss_fx.model.encoder import STFT, BandSplitModule
from tuss_fx.model.prompts import check_prompts, condition_on_prompts, prepend_tokens

VARIANCE_EPS = 1e-8  # added to the mixture's std before dividing (official SeparationModel)

PromptBatch = Sequence[str] | Sequence[Sequence[str]]


def _per_item(prompts: PromptBatch, batch: int) -> list[list[str]]:
    """One prompt list for every batch item; a flat list applies to all."""
    if prompts and isinstance(prompts[0], str):
        return [list(prompts)] * batch  # type: ignore[list-item]
    rows = [list(row) for row in prompts]
    if len(rows) != batch or len({len(r) for r in rows}) != 1:
        raise ValueError("per-item prompts need one list per batch item, all of the same length")
    return rows


class TussSeparator(nn.Module):
    """Complex STFT of a mono mixture + prompts -> one masked STFT per prompt (TUSS.md 3-9)."""

    def __init__(self, config: TussConfig) -> None:
        super().__init__()
        self.config = config
        self.cross_prompt_module = build_stack(
            config.conf_cross_prompt_module, config.nblocks_cross_prompt_module, config.eps
        )
        self.cond_tse_module = build_stack(config.conf_cond_tse_module, config.nblocks_cond_tse_module, config.eps)
        self.band_split_module = BandSplitModule(config.emb_dim, config.stft_size, config.sample_rate)
        self.prompts = nn.ParameterDict({name: nn.Parameter(torch.randn(config.emb_dim, 1, 1)) for name in config.prompts})
        self.sos_token = nn.Parameter(torch.randn(config.emb_dim, 1, 1)) if config.use_sos_token else None

    def forward(self, spec: torch.Tensor, prompts: PromptBatch, outputs: Sequence[int] | None = None) -> torch.Tensor:
        """spec: (B, T, F) complex mixture STFT -> (B, O, T, F) complex source estimates of the prompts
        at `outputs` (default all P). Every prompt steers the cross-prompt module; only the wanted
        ones run through the TSE module and the decoder.

        Raises:
            UnknownPromptError: a prompt the model does not know.
        """
        batch, frames, num_bins = spec.shape
        rows = _per_item(prompts, batch)
        check_prompts([p for row in rows for p in row], self.config.prompts)
        num_prompts = len(rows[0])

        x = self.band_split_module.band_split(torch.view_as_real(spec))  # (B, T, K, D)
        x = prepend_tokens(x, self.prompts, rows, self.sos_token)  # (B, P+1+T, K, D)
        for block in self.cross_prompt_module:
            x = block(x)
        x = condition_on_prompts(x, num_prompts, self.sos_token is not None, outputs)  # (B·O, T, K, D)
        num_prompts = num_prompts if outputs is None else len(outputs)
        for block in self.cond_tse_module:
            x = block(x)
        real, imag = self.band_split_module.bandwise_decoding(x)  # (B·P, T, F) each
        mask = torch.complex(real.float(), imag.float()).view(batch, num_prompts, frames, num_bins)
        return spec.unsqueeze(1) * mask


class TussModel(nn.Module):
    """Waveform in, waveforms out: variance normalisation, STFT, separator, iSTFT (TUSS.md 1-2, 9)."""

    def __init__(self, config: TussConfig) -> None:
        super().__init__()
        self.config = config
        self.stft = STFT(config.stft)
        self.separator = TussSeparator(config)

    def forward(self, mixture: torch.Tensor, prompts: PromptBatch, outputs: Sequence[int] | None = None) -> torch.Tensor:
        """mixture: (B, L) at config.sample_rate -> (B, O, L) float32: the sources of the prompts at
        `outputs` (default all P).

        One forward pass over the whole input, as the official model does for one segment;
        the official output is a few samples longer (whole hops) and is trimmed to L here.
        """
        length = mixture.shape[-1]
        mixture = mixture.float()
        std = mixture.std(dim=-1, keepdim=True) + VARIANCE_EPS if self.config.variance_normalization else None
        if std is not None:
            mixture = mixture / std
        estimates = self.separator(self.stft.forward(mixture), prompts, outputs)  # (B, O, T, F)
        waves = self.stft.inverse(estimates.flatten(0, 1)).unflatten(0, estimates.shape[:2])
        if std is not None:
            waves = waves * std.unsqueeze(1)
        return waves[..., :length]
