"""The TUSS network (config, blocks, band-split encoder and decoder, prompts, assembly) and ops,
the exact PyTorch references of its fused ops and the one place that dispatches to the Triton
kernels (tuss_fx.kernels).

Floor 3: may import tuss_fx.errors, measure and media; kernels and deepfilternet sit beside it.
"""

from tuss_fx.model.config import BlockConfig, ConfigError, FFNConfig, STFTConfig, TussConfig
from tuss_fx.model.prompts import UnknownPromptError
from tuss_fx.model.separator import TussModel, TussSeparator

__all__ = [
    "BlockConfig",
    "ConfigError",
    "FFNConfig",
    "STFTConfig",
    "TussConfig",
    "TussModel",
    "TussSeparator",
    "UnknownPromptError",
]
