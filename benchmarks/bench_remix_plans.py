"""What the remix plans cost: whole `tuss-fx` commands, each in its own process, same files, same run.

Usage: python benchmarks/bench_remix_plans.py [--seconds 60] [--surround-seconds 30]
           [--baseline-tree PATH] [--repeats 1]

Rows, on --seconds of 48 kHz stereo (a real reading over real strings, looped):
  separate -p speech -p sfxbg -p musicbg --dialogue-engine tuss (TUSS makes every stem; the gate's yardstick)
  remix --preset dialogue-boost (the default: its plan as chosen for the shipped model)
  remix --preset dialogue-boost --plan stems (every stem separated, as today's main did)
  remix --preset dialogue-ride (the dialogue ride: a measuring pass, then the ridden remix)
and on --surround-seconds of 5.1 (the same scene panned as a film mix, LFE included):
  remix --preset dialogue-boost (default plan, the engines on the front channels)
  remix --preset dialogue-boost --plan stems --engine-channels all
With --baseline-tree (a checkout of an earlier main, e.g. `git worktree add /tmp/main-before <commit>`),
its `remix --preset dialogue-boost` runs on both files too, with its own preset file.
Prints seconds (best of --repeats) and ratios to the yardstick and to the baseline.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dialogue_engine import scene  # noqa: E402
from remix_quality import surround_mix  # noqa: E402

RATE = 48000
CLI = "from tuss_fx.cli import main; main()"


def timed(args: list[str], repeats: int, tree: Path | None = None) -> float:
    """Best wall seconds of `tuss-fx ARGS` in a fresh process (model loading included)."""
    env = dict(os.environ, **({"PYTHONPATH": str(tree)} if tree else {}))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", CLI, *map(str, args), "--overwrite", "-q"], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tree or None)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--surround-seconds", type=float, default=30.0)
    parser.add_argument("--baseline-tree", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stereo, surround = Path(tmp) / "stereo.wav", Path(tmp) / "surround.wav"
        sf.write(stereo, scene(args.seconds).T, RATE, subtype="FLOAT")
        mono = scene(args.surround_seconds)[0]
        # timing only: the scene as the dialogue's pan, delayed copies as the beds (surround_mix wants 3 stems)
        sources = np.stack([mono, 0.3 * np.roll(mono, 4800), 0.3 * np.roll(mono, 9600)])
        sf.write(surround, surround_mix(sources).sum(axis=0).T, RATE, subtype="FLOAT", format="WAVEX")
        out = Path(tmp) / "out.wav"
        rows = [
            ("stereo", "separate 3 stems, TUSS serving speech",
             timed(["separate", stereo, "-p", "speech", "-p", "sfxbg", "-p", "musicbg", "--dialogue-engine", "tuss",
                    "-o", Path(tmp) / "stems"], args.repeats)),
            ("stereo", "remix dialogue-boost (default plan)",
             timed(["remix", stereo, "--preset", "dialogue-boost", "-o", out], args.repeats)),
            ("stereo", "remix dialogue-boost --plan stems",
             timed(["remix", stereo, "--preset", "dialogue-boost", "--plan", "stems", "-o", out], args.repeats)),
            ("stereo", "remix dialogue-ride (two passes, no TUSS)",
             timed(["remix", stereo, "--preset", "dialogue-ride", "-o", out], args.repeats)),
            ("5.1", "remix dialogue-boost (default plan, front channels)",
             timed(["remix", surround, "--preset", "dialogue-boost", "-o", out], args.repeats)),
            ("5.1", "remix dialogue-boost --plan stems --engine-channels all",
             timed(["remix", surround, "--preset", "dialogue-boost", "--plan", "stems", "--engine-channels", "all",
                    "-o", out], args.repeats)),
        ]
        if args.baseline_tree:
            preset = args.baseline_tree / "presets" / "dialogue-boost.toml"
            for name, path in (("stereo", stereo), ("5.1", surround)):
                rows.append((name, "baseline tree: remix dialogue-boost",
                             timed(["remix", path, "--preset", preset, "-o", out], args.repeats, args.baseline_tree)))
    yardstick = rows[0][2]
    baselines = {name: seconds for name, label, seconds in rows if label.startswith("baseline")}
    print(f"{args.seconds:g} s stereo and {args.surround_seconds:g} s 5.1 at 48 kHz, best of {args.repeats}")
    for name, label, seconds in rows:
        ratios = [f"{seconds / yardstick:5.2f}x the 3-stem separate"]
        if name in baselines:
            ratios.append(f"{seconds / baselines[name]:5.2f}x the baseline")
        print(f"{name:<7} {label:<56} {seconds:7.2f} s  " + "  ".join(ratios))


if __name__ == "__main__":
    main()
