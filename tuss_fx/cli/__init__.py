"""The `tuss-fx` command line: `commands` holds the entry point `main` and the single-file commands,
one module per command group beside it (batch, loudness, models, train, finetune) and the options
they share (options).

Floor 9, the top: may import anything in tuss_fx; nothing imports it.
"""

from tuss_fx.cli.commands import main

__all__ = ["main"]
