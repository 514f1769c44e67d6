"""The repository is self-contained (issue #47): a clone in a folder of its own runs its tests, examples,
manual and benchmarks. No file reads outside the repository: none names a `shared/` folder beside it,
and no Python file climbs from its own path above the repository's root."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PARITY_DIR
from tuss_fx.recordings import RECORDINGS_DIR, recording

ROOT = Path(__file__).resolve().parents[1]
# build outputs and tools' caches a developer's tree may hold; none is part of the repository
NOT_OURS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "site", "build", "dist", ".whl", ".gl",
            "runs"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".sh", ".json", ".cfg", ".txt", ".html", ".js", ""}
# the sibling folder the project's own machines hold, however a file would name it
SIBLING_SHARED = re.compile(r"\.\./shared\b|[\"']shared[\"']\s*/|/\s*[\"']shared[\"']|\bshared/(media|fixtures|tools|docs)\b")
# Path(__file__).resolve().parents[N] or .parent chains: how a file names a folder relative to itself
CLIMB = re.compile(r"__file__\)(?:\.resolve\(\))?(?:\.parents\[(?P<index>\d+)\]|(?P<chain>(?:\.parent(?!s))+))")
# what the tests, the example film and the real suite read
RECORDINGS = ("librispeech-198-209-0000.ogg", "kevin-macleod-sugar-plum-fairy.ogg", "hungarian-dance-5-strings.ogg",
              "inspectorj-robin.ogg", "ljspeech-LJ050-0131.ogg", "sorohanro-solo-trumpet.ogg")


def _repository_files() -> list[Path]:
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_OURS and not name.endswith(".egg-info")]
        files += [Path(folder) / name for name in names]
    return files


def _text_files() -> list[Path]:
    return [path for path in _repository_files()
            if path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000]


def test_no_file_names_a_shared_folder_beside_the_repository():
    offenders = []
    for path in _text_files():
        text = path.read_text(errors="replace")
        offenders += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                      for m in SIBLING_SHARED.finditer(text)]
    assert not offenders, "files that read outside the repository:\n" + "\n".join(offenders)


def test_no_python_file_climbs_above_the_repository():
    offenders = []
    for path in _text_files():
        if path.suffix != ".py":
            continue
        depth = len(path.relative_to(ROOT).parts)  # parents[depth - 1] is the root
        for match in CLIMB.finditer(path.read_text()):
            level = int(match["index"]) if match["index"] else match["chain"].count(".parent") - 1
            if level >= depth:
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not offenders, "files that climb above the repository's root:\n" + "\n".join(offenders)


# the examples are assembled here so that this file does not itself read as one that reaches outside
SIBLING, FILE = "shared", "__file__"


@pytest.mark.parametrize("text,outside", [
    (f'MEDIA = Path({FILE}).resolve().parents[2] / "{SIBLING}" / "media"', True),
    (f"python ../{SIBLING}/tools/quality_probe.py", True),
    (f"a {SIBLING}/media folder", True),
    ("paths must be shared storage", False),
    ("safe on a shared machine", False),
])
def test_the_shared_pattern_tells_a_sibling_folder_from_the_word(text, outside):
    assert bool(SIBLING_SHARED.search(text)) is outside


def test_the_climb_pattern_reads_levels():
    level = lambda text: [m["index"] or m["chain"] for m in CLIMB.finditer(text)]  # noqa: E731
    assert level(f"Path({FILE}).resolve().parents[2]") == ["2"]
    assert level(f"Path({FILE}).parent.parent") == [".parent.parent"]
    assert level(f"Path({FILE}).resolve().parent / 'fixtures'") == [".parent"]


def test_the_recordings_ship_with_their_attribution():
    attribution = (RECORDINGS_DIR / "ATTRIBUTION.md").read_text()
    for name in RECORDINGS:
        assert recording(name).stat().st_size > 10_000
        assert name in attribution
    assert sorted(p.name for p in RECORDINGS_DIR.glob("*.ogg")) == sorted(RECORDINGS)
    with pytest.raises(FileNotFoundError, match="shipped: hungarian"):
        recording("absent.ogg")


def test_the_parity_fixture_is_in_the_repository():
    assert PARITY_DIR.is_relative_to(ROOT)
    for name in ("hparams.yaml", "io.safetensors", "prompt_sets.json", "checkpoints/model.pth", "README.md"):
        assert (PARITY_DIR / name).is_file(), name
