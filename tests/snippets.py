"""The shell, Python and TOML snippets of README.md and docs/: collected, and run as a reader would run them.

Standard library only: `.ci/run` calls it before any virtualenv exists, to run the README's own set-up
and test commands (`python3 tests/snippets.py block README.md setup`).

A snippet is a fenced block whose language is bash, python or toml. HTML comments on the lines just above
its fence (invisible in the rendered manual) say how CI treats it:

    <!-- snippet: skip REASON -->        not run; the reason says why (a download, a GPU, a person)
    <!-- snippet: ci OLD => NEW -->      run with OLD replaced by NEW (a smaller size, a shorter run)
    <!-- snippet: file NAME -->          the block's text is also saved as NAME for later snippets
    <!-- snippet: ci-run NAME -->        run by .ci/run itself under that name (the set-up, the tests)
    <!-- snippet: continues -->          a Python block run after the page's previous one, in one script
    <!-- snippet: in-clone -->           run in the repository's root, as a developer runs it (the tests)
    <!-- snippet: makes GLOB ... -->     what it promises to write: each glob (in its folder) matches a non-empty file
    <!-- snippet: prints REGEX -->       what it promises to say: the regex is found in its stdout or stderr

Every snippet that runs says what it promises, by `makes`, `prints` or (Python) its own `assert`
(tests/test_docs.py holds it): one that merely exits 0 proves little.

Bash runs with -euo pipefail, Python as a script, TOML is loaded as a remix preset; each in a working
folder shared by the page's snippets in order, so a page can build on what an earlier snippet wrote.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LANGUAGES = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "toml": "toml"}
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*snippet:\s*(skip|ci-run|ci|file|continues|in-clone|makes|prints)(?:\s+(.*?))?\s*-->\s*$")


@dataclass
class Snippet:
    """One fenced block of a page: where it is, its language and text, and what its markers say."""

    page: Path
    line: int  # of the opening fence, from 1
    language: str  # bash, python or toml
    code: str
    skip: str | None = None  # the reason it is not run
    ci_run: str | None = None  # the name .ci/run runs it under
    file: str | None = None
    prelude: str = ""  # the code of the blocks it continues
    in_clone: bool = False  # runs in the repository's root rather than the page's folder
    replacements: list[tuple[str, str]] = field(default_factory=list)
    makes: list[str] = field(default_factory=list)  # globs of the files it promises to write
    prints: list[str] = field(default_factory=list)  # regexes of what it promises to say

    @property
    def promises(self) -> bool:
        """Whether it says what a run must show beyond exit status 0."""
        asserts = self.language == "python" and "assert " in self.code
        return bool(self.makes or self.prints) or asserts or self.language == "toml"  # toml: the loader checks it

    def broken_promises(self, workdir: Path, output: str) -> list[str]:
        """What a finished run in `workdir`, which said `output`, did not keep of its promises."""
        broken = [f"wrote no non-empty file matching {pattern}" for pattern in self.makes
                  if not [path for path in workdir.glob(pattern) if path.is_file() and path.stat().st_size]]
        return broken + [f"did not print /{pattern}/" for pattern in self.prints
                         if not re.search(pattern, output, re.MULTILINE)]

    @property
    def where(self) -> str:
        """page:line, the page from the repository's root (docs/guide/remix.md:12)."""
        try:
            page = self.page.resolve().relative_to(Path(__file__).resolve().parents[1])
        except ValueError:  # a page outside the repository (the tests' broken ones)
            page = Path(self.page.name)
        return f"{page.as_posix()}:{self.line}"

    def code_for_ci(self) -> str:
        code = self.code
        for old, new in self.replacements:
            if old not in code:
                raise ValueError(f"{self.where}: `snippet: ci` replaces {old!r}, which the snippet does not hold")
            code = code.replace(old, new)
        return code


def collect(page: Path) -> list[Snippet]:
    """Every bash, python and toml block of a Markdown page, with its markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    snippets, index = [], 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{page.name}:{index + 1}: a fence that is never closed")
        language = LANGUAGES.get(fence.group(1))
        if language:
            snippet = Snippet(page, index + 1, language, "\n".join(lines[index + 1:end]) + "\n")
            if _read_markers(snippet, lines, index):
                previous = [s for s in snippets if s.language == snippet.language == "python"]
                if not previous:
                    raise ValueError(f"{snippet.where}: `snippet: continues` with no Python block before it")
                snippet.prelude = previous[-1].prelude + previous[-1].code
            snippets.append(snippet)
        index = end + 1
    return snippets


def _read_markers(snippet: Snippet, lines: list[str], fence_index: int) -> bool:
    """Apply the markers above the fence to `snippet`; True when it continues the page's previous block."""
    continues = False
    above = fence_index - 1
    while above >= 0 and lines[above].startswith("<!--"):
        marker = _MARKER.match(lines[above])
        if not marker:
            raise ValueError(f"{snippet.page.name}:{above + 1}: not a snippet marker: {lines[above]}")
        kind, value = marker.groups()
        if kind in ("continues", "in-clone"):
            continues = continues or kind == "continues"
            snippet.in_clone = snippet.in_clone or kind == "in-clone"
            above -= 1
            continue
        if not value:
            raise ValueError(f"{snippet.page.name}:{above + 1}: `snippet: {kind}` needs a value")
        if kind == "skip":
            snippet.skip = value
        elif kind == "ci-run":
            snippet.ci_run = value
        elif kind == "file":
            snippet.file = value
        elif kind == "makes":
            snippet.makes += value.split()
        elif kind == "prints":
            snippet.prints.append(value)
        else:
            old, arrow, new = value.partition(" => ")
            if not arrow:
                raise ValueError(f"{snippet.page.name}:{above + 1}: `snippet: ci` needs OLD => NEW")
            snippet.replacements.append((old, new))
        above -= 1
    return continues


def run(snippet: Snippet, workdir: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run one snippet in `workdir` (an in-clone one in the repository's root) as CI runs it; the caller
    checks the return code."""
    code = snippet.code_for_ci()
    if snippet.in_clone:
        workdir = Path(__file__).resolve().parents[1]
    if snippet.file:
        (workdir / snippet.file).write_text(code, encoding="utf-8")
    if snippet.language == "bash":
        argv = ["bash", "-euo", "pipefail", "-c", code]
    elif snippet.language == "python":
        script = workdir / f".snippet-{snippet.page.stem}-{snippet.line}.py"
        script.write_text(snippet.prelude + code, encoding="utf-8")
        argv = [sys.executable, script.name]
    else:
        preset = workdir / (snippet.file or f".snippet-{snippet.page.stem}-{snippet.line}.toml")
        preset.write_text(code, encoding="utf-8")
        argv = [sys.executable, "-c", "import sys; from tuss_fx import load_preset; load_preset(sys.argv[1])",
                str(preset)]
    return subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def pages(root: Path) -> list[Path]:
    """README.md and every page of the manual."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def main(argv: list[str]) -> int:
    """`block PAGE NAME`: print the code of the snippet marked `ci-run NAME` (for .ci/run to run)."""
    if len(argv) != 4 or argv[1] != "block":
        print("usage: snippets.py block PAGE NAME", file=sys.stderr)
        return 2
    found = [s for s in collect(Path(argv[2])) if s.ci_run == argv[3]]
    if len(found) != 1:
        print(f"{argv[2]}: {len(found)} snippets marked ci-run {argv[3]}, want 1", file=sys.stderr)
        return 1
    sys.stdout.write(found[0].code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
