"""The TUSS network."""

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
