"""Shared fixtures: the official parity fixture, a tiny model, generated signals."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tuss_fx.separation.checkpoint import load_model
from tuss_fx.separation.separator import Separator

# the official implementation's outputs on a small random-weight model (fixtures/official-parity/README.md)
PARITY_DIR = Path(__file__).resolve().parent / "fixtures" / "official-parity"
# the fixture README: max abs error below 1e-4 relative to the output's peak, fp32 on CPU
PARITY_RTOL = 1e-4


def require(module: str, why: str):
    """Import a test dependency that the README's dev install provides. Under CI (CI=true) a missing
    one fails, so a broken install cannot turn the tests that need it into quiet skips; elsewhere
    the test skips and says why."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=why)


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    if not PARITY_DIR.exists():
        pytest.fail(f"official parity fixture missing at {PARITY_DIR} (it is tracked in the repository)")
    return PARITY_DIR


@pytest.fixture(scope="session")
def parity_io(parity_dir) -> dict[str, torch.Tensor]:
    return load_file(parity_dir / "io.safetensors")


@pytest.fixture(scope="session")
def prompt_sets(parity_dir) -> dict[str, list[str]]:
    return json.loads((parity_dir / "prompt_sets.json").read_text())


@pytest.fixture(scope="session")
def parity_model(parity_dir):
    return load_model(parity_dir)


@pytest.fixture()
def separator(parity_dir) -> Separator:
    """A real TUSS network (the fixture's small random-weight model) behind the public API."""
    return Separator.from_pretrained(parity_dir, device="cpu")


def max_rel_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max())


def noise(num_channels: int, num_frames: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((num_channels, num_frames)) * scale).astype(np.float32)
