"""Kernel tests run the Triton kernels on CPU tensors through Triton's interpreter.

TRITON_INTERPRET must be set before any kernel module is imported (the jit decorator reads it
when the module is executed), so it is set here, at collection, before the tests import them.
"""

import importlib.util
import os
import sys

os.environ.setdefault("TRITON_INTERPRET", "1")

# Triton publishes wheels for Linux only: on macOS and Windows the kernels have nothing to run on, and every
# op takes its PyTorch reference (tests/test_platforms.py checks that); on Linux the dev install brings it
if sys.platform != "linux" and importlib.util.find_spec("triton") is None:
    collect_ignore_glob = ["test_*.py"]
