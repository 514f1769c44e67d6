"""The manual keeps its promises: a README of one screen, snippets that run (tests/test_docs_snippets.py runs
them, and a broken one fails here), a reference that covers the public API and every preset key."""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import pytest

from tests.snippets import collect, pages, run

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 150
RUN_SHARE_MIN = 0.9
PUBLIC_PACKAGES = ("tuss_fx", "tuss_fx.plugin", "tuss_fx.batch", "tuss_fx.timeline", "tuss_fx.deepfilternet",
                   "tuss_fx.model")
ALL_SNIPPETS = [s for page in pages(ROOT) for s in collect(page)]


def test_readme_is_one_screen():
    assert len((ROOT / "README.md").read_text().splitlines()) <= README_MAX_LINES


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)", readme)
    assert targets, "the README links into the manual"
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert not missing


def test_most_snippets_run_and_every_skip_says_why():
    run_share = sum(not s.skip for s in ALL_SNIPPETS) / len(ALL_SNIPPETS)
    assert run_share >= RUN_SHARE_MIN, [s.where for s in ALL_SNIPPETS if s.skip]
    assert all(len(s.skip.split()) >= 4 for s in ALL_SNIPPETS if s.skip)


def test_every_snippet_that_runs_says_what_it_promises():
    """Exit status 0 alone proves little: each run snippet names the files it writes or what it prints, or
    (Python) asserts it."""
    silent = [s.where for s in ALL_SNIPPETS if not s.skip and not s.ci_run and not s.promises]
    assert not silent, silent


def test_a_broken_promise_is_seen(tmp_path):
    page = _one_snippet_page(tmp_path, "bash", "echo written > a.txt\necho done\n",
                             "<!-- snippet: makes a.txt b.txt -->\n<!-- snippet: prints ^done$ -->\n"
                             "<!-- snippet: prints ^never$ -->\n")
    (snippet,) = collect(page)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = run(snippet, tmp_path, env, timeout=60)
    assert result.returncode == 0
    assert snippet.broken_promises(tmp_path, result.stdout) == ["wrote no non-empty file matching b.txt",
                                                                 "did not print /^never$/"]


def test_ci_runs_the_readme_commands_and_the_manual_repeats_them_exactly():
    readme_blocks = {s.ci_run: s.code for s in collect(ROOT / "README.md") if s.ci_run}
    assert set(readme_blocks) == {"setup", "tests", "manual", "first-job"}
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(f"readme_block {name}" in ci for name in readme_blocks)
    assert readme_blocks["tests"].strip() == "python -m pytest"
    elsewhere = [s for s in ALL_SNIPPETS if s.ci_run and s.page.name != "README.md"]
    assert all(s.code == readme_blocks[s.ci_run] for s in elsewhere)


def _one_snippet_page(tmp_path: Path, language: str, code: str, markers: str = "") -> Path:
    page = tmp_path / "broken.md"
    page.write_text(f"A page.\n\n{markers}```{language}\n{code}```\n")
    return page


@pytest.mark.parametrize(("language", "code"), [
    ("bash", "echo one\nfalse\necho never\n"),
    ("bash", "tuss-fx remix no-such-file.wav --preset dialogue-boost\n"),
    ("python", "import tuss_fx\ntuss_fx.no_such_function()\n"),
    ("toml", 'name = "x"\nprompts = ["speech"]\n[master]\ntarget_lufs = "loud"\n'),
], ids=["bash-false", "bash-missing-file", "python-error", "toml-bad-preset"])
def test_a_broken_snippet_fails(tmp_path, language, code):
    (snippet,) = collect(_one_snippet_page(tmp_path, language, code))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert run(snippet, tmp_path, env, timeout=120).returncode != 0


def test_markers_are_read_and_checked(tmp_path):
    page = _one_snippet_page(tmp_path, "bash", "tuss-fx remix a.wav --minutes 30\n",
                             "<!-- snippet: ci --minutes 30 => --steps 2 -->\n<!-- snippet: file go.sh -->\n")
    (snippet,) = collect(page)
    assert snippet.code_for_ci() == "tuss-fx remix a.wav --steps 2\n" and snippet.file == "go.sh"
    stale = _one_snippet_page(tmp_path, "bash", "echo hi\n", "<!-- snippet: ci --minutes 30 => --steps 2 -->\n")
    with pytest.raises(ValueError, match="does not hold"):
        collect(stale)[0].code_for_ci()
    unknown = _one_snippet_page(tmp_path, "bash", "echo hi\n", "<!-- snippet: sometimes -->\n")
    with pytest.raises(ValueError, match="not a snippet marker"):
        collect(unknown)


def test_every_ci_replacement_still_matches_its_snippet():
    for snippet in ALL_SNIPPETS:
        snippet.code_for_ci()


def test_api_reference_covers_the_public_api():
    reference = (ROOT / "docs" / "reference" / "api.md").read_text()
    documented = {}
    for target in re.findall(r"^::: (\S+)$", reference, re.M):
        module, _, name = target.rpartition(".")
        documented[target] = getattr(importlib.import_module(module), name)
    for package in PUBLIC_PACKAGES:
        public = importlib.import_module(package)
        for name in public.__all__:
            assert any(obj is getattr(public, name) and target.endswith(f".{name}")
                       for target, obj in documented.items()), f"{package}.{name} is not in the API reference"


def test_presets_page_documents_every_key():
    from tuss_fx.mix import presets

    page = (ROOT / "docs" / "guide" / "presets.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)` \|", page, re.M))
    keys = set(presets._TOP_KEYS) - {"stems", "background", "ride", "master"}
    keys |= {f"stems.NAME.{key}" for key in presets._STEM_KEYS}
    keys |= {f"master.{key}" for key in presets._MASTER_KEYS} | {f"ride.{key}" for key in presets._RIDE_KEYS}
    keys |= {"[stems.NAME]", "[background]", "[ride]", "[master]"}
    assert keys <= rows, keys - rows


def test_every_example_script_runs_in_ci():
    tested = (ROOT / "tests" / "test_examples.py").read_text()
    run_snippets = "".join(s.code for s in ALL_SNIPPETS if not s.skip)
    for script in (ROOT / "examples").glob("*.py"):
        assert script.name in tested or f"examples/{script.name}" in run_snippets, script.name
