"""tuss-fx: prompt-driven source separation (TUSS) for audio post-production."""

from tuss_fx.errors import TussFxError
from tuss_fx.separator import Separator

__all__ = ["Separator", "TussFxError"]
