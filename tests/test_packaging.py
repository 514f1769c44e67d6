"""The wheel a user installs holds what the package reads at run time and the licences of what it ships
(issue #47): the MIT licence, the third-party notices, the weights' and recordings' attributions."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LICENCES = ["LICENSE", "THIRD_PARTY_NOTICES.md", "tuss_fx/weights/ATTRIBUTION.md",
            "tuss_fx/weights/DEEPFILTERNET3-LICENSE-MIT", "tuss_fx/weights/DEEPFILTERNET3-LICENSE-APACHE",
            "tuss_fx/recordings/ATTRIBUTION.md"]
# what the package opens at run time, one of each kind
PACKAGE_DATA = ["tuss_fx/weights/default.safetensors", "tuss_fx/weights/deepfilternet3.safetensors",
                "tuss_fx/builtin_presets/dialogue-boost.toml", "tuss_fx/kernels/measured.json",
                "tuss_fx/recordings/librispeech-198-209-0000.ogg", "tuss_fx/audition/page/index.html"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], check=True,
                   timeout=300, capture_output=True)
    return zipfile.ZipFile(next(out.glob("tuss_fx-*.whl")))


def test_the_wheel_carries_the_licence_and_every_notice(wheel):
    names = wheel.namelist()
    info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
    for licence in LICENCES:
        assert f"{info}/licenses/{licence}" in names, licence
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata
    assert "Requires-Dist: triton>=3.0; sys_platform == \"linux\"" in metadata


def test_the_wheel_holds_what_the_package_reads(wheel):
    names = set(wheel.namelist())
    assert not [name for name in PACKAGE_DATA if name not in names]
    assert not [name for name in names if name.startswith("tests/")]  # the parity vectors stay in the repository
