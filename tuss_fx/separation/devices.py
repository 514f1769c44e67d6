"""Which device a separation runs on: `--device auto` takes CUDA, then Apple Silicon's GPU (MPS), then the CPU.

On MPS, PyTorch runs each op the Metal backend lacks on the CPU instead (and says so once per op) when
PYTORCH_ENABLE_MPS_FALLBACK=1 was set before torch was imported: `import tuss_fx` sets it, unless the
user set it first. Without it such an op would end the run. MPS runs have not been measured on hardware
by this project.
"""

from __future__ import annotations

import os
import warnings

import torch

MPS_FALLBACK_ENV = "PYTORCH_ENABLE_MPS_FALLBACK"


class MpsFallbackOffWarning(UserWarning):
    """Separating on MPS with PyTorch's CPU fallback off: an op MPS lacks would end the run."""


def resolve_device(device: str) -> torch.device:
    """"auto" -> CUDA when available, else Apple Silicon's GPU (MPS) when available, else CPU; anything
    else as torch names it ("cpu", "cuda:1", "mps")."""
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    resolved = torch.device(device)
    if resolved.type == "mps" and os.environ.get(MPS_FALLBACK_ENV) != "1":
        warnings.warn(MpsFallbackOffWarning(
            f"{MPS_FALLBACK_ENV} is not 1, so an op Apple's GPU lacks would end the run; set it before torch is "
            f"imported (import tuss_fx first, or export {MPS_FALLBACK_ENV}=1)"), stacklevel=2)
    return resolved


def describe_device(device: torch.device) -> str:
    """One line on where the work runs and why, for stderr: "cuda:0 (NVIDIA H100 80GB HBM3)",
    "mps (Apple GPU; ops it lacks run on the CPU)", "cpu (no CUDA or Apple GPU found)"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        fallback = "ops it lacks run on the CPU" if os.environ.get(MPS_FALLBACK_ENV) == "1" else "no CPU fallback"
        return f"mps (Apple GPU; {fallback})"
    if device.type == "cpu":
        found = torch.cuda.is_available() or torch.backends.mps.is_available()
        return "cpu" if found else "cpu (no CUDA or Apple GPU found)"
    return str(device)
