"""Every snippet of README.md and docs/ that is not marked skip runs, as written, on small generated media.

Marked `docs`: the suite's default run leaves it out (it starts a process per command, minutes in all);
`.ci/run` runs it as its own step, `python -m pytest -m docs`. Each page's snippets run in order in one
working folder holding the media the manual names (movie.wav, movie.mov, scene.wav, ...: real speech
under real music from the shipped recordings, a few seconds long) and links to examples/, benchmarks/ and
presets/, as a reader's clone has them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.snippets import collect, pages, run
from tuss_fx.recordings import RECORDINGS_DIR

ROOT = Path(__file__).resolve().parents[1]
CLIP_SECONDS = "6"
# the media the manual's commands name: clips made by the manual's own example script (real speech under
# real music), copied where a command wants a folder, and a made-up show's stems for `finetune`
CLIPS = {"movie.wav": [], "movie.mov": [], "scene.wav": [], "scene.mov": [], "reel3.wav": [],
         "episode-104.mov": ["--timecode", "01:00:00:00"]}
COPIES = {"movie.wav": ["archive/a.wav", "archive/b.wav", "season-1/e01.wav", "season-1/e02.wav", "ep09.wav"],
          "scene.wav": ["more/reel1/c.flac"]}
# show/epNN/{dx,fx,mx}.wav: a reading, an effect and music from the shipped recordings at other offsets per episode
SHOW_SOURCES = {"dx": ["librispeech-198-209-0000.ogg", "ljspeech-LJ050-0131.ogg"], "fx": ["inspectorj-robin.ogg"],
                "mx": ["hungarian-dance-5-strings.ogg", "kevin-macleod-sugar-plum-fairy.ogg"]}
SHOW_EPISODES = 3

pytestmark = pytest.mark.docs

SNIPPETS = [s for page in pages(ROOT) for s in collect(page) if not s.skip and not s.ci_run]


@pytest.fixture(scope="session")
def media_kit(tmp_path_factory) -> Path:
    kit = tmp_path_factory.mktemp("media")
    for name, extra in CLIPS.items():
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_film_clip.py"), str(kit / name),
                        "--seconds", CLIP_SECONDS, *extra], check=True, capture_output=True, timeout=120)
    for source, copies in COPIES.items():
        audio, rate = sf.read(kit / source, dtype="float32")
        for copy in copies:
            (kit / copy).parent.mkdir(parents=True, exist_ok=True)
            sf.write(kit / copy, audio, rate)
    _write_show(kit / "show")
    return kit


def _write_show(show: Path, seconds: float = 4.0, rate: int = 48000) -> None:
    for episode in range(SHOW_EPISODES):
        folder = show / f"ep{episode + 1:02d}"
        folder.mkdir(parents=True)
        for stem, sources in SHOW_SOURCES.items():
            audio, source_rate = sf.read(RECORDINGS_DIR / sources[episode % len(sources)], dtype="float32",
                                         always_2d=True)
            audio = soxr.resample(audio.mean(axis=1), source_rate, rate)
            length = round(seconds * rate)
            audio = np.resize(audio, max(len(audio), length + episode * rate))  # the robin's call, looped
            excerpt = audio[episode * rate:episode * rate + length]
            sf.write(folder / f"{stem}.wav", 0.3 * excerpt, rate, subtype="FLOAT")


@pytest.fixture(scope="session")
def workdirs(tmp_path_factory, media_kit) -> dict[Path, Path]:
    """One working folder per page, made on first use and kept for the page's later snippets."""
    made: dict[Path, Path] = {}
    root = tmp_path_factory.mktemp("pages")

    def workdir(page: Path) -> Path:
        if page not in made:
            home = root / "-".join(page.relative_to(ROOT).with_suffix("").parts)
            work = home / "work"
            work.mkdir(parents=True)
            for folder in ("examples", "benchmarks", "presets", "tests"):
                (work / folder).symlink_to(ROOT / folder)
            shutil.copytree(media_kit, work, dirs_exist_ok=True, symlinks=True)
            made[page] = work
        return made[page]

    return workdir


@pytest.fixture(scope="session")
def snippet_env(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TUSS_FX_HOME"] = str(tmp_path_factory.mktemp("tuss-fx-home"))
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.where for s in SNIPPETS])
def test_snippet_runs(snippet, workdirs, snippet_env):
    workdir = workdirs(snippet.page)
    result = run(snippet, workdir, snippet_env)
    assert result.returncode == 0, f"{snippet.where} exited {result.returncode}:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    broken = snippet.broken_promises(Path(__file__).resolve().parents[1] if snippet.in_clone else workdir,
                                     result.stdout + result.stderr)
    assert not broken, f"{snippet.where}: {'; '.join(broken)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
