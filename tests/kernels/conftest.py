"""Kernel tests run the Triton kernels on CPU tensors through Triton's interpreter.

TRITON_INTERPRET must be set before any kernel module is imported (the jit decorator reads it
when the module is executed), so it is set here, at collection, before the tests import them.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
