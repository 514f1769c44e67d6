"""What the speech detector costs the ride: `remix --preset dialogue-ride` in this tree against an earlier
tree's, whole commands in their own processes, interleaved, on the same file, in the same run.

Usage: python benchmarks/bench_ride_speed.py --baseline-tree PATH [--seconds 60] [--repeats 3] [--preset NAME] [--mono]

PATH: a checkout of main before the change (e.g. `git worktree add /tmp/before <commit>`). The file:
--seconds of 48 kHz stereo, a real reading over real strings (bench_dialogue_engine.scene). Prints the best
of --repeats for each tree and the ratio (the speech-presence issue's gate: at most 1.1x), with the CPU.
--preset times another shipped preset the same way (dialogue-boost: what a change to the engine gives);
--mono writes the left channel alone (where the dialogue engine runs a file's timeline in spans on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audition import cpu_name  # noqa: E402
from bench_dialogue_engine import scene  # noqa: E402
from bench_remix_plans import RATE, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-tree", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="dialogue-ride", help="a shipped preset's name")
    parser.add_argument("--mono", action="store_true", help="the left channel alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "stereo.wav"
        sf.write(audio, scene(args.seconds)[:1 if args.mono else 2].T, RATE, subtype="FLOAT")
        out = Path(tmp) / "out.wav"
        now = before = float("inf")
        for _ in range(args.repeats):  # interleaved: a slow spell of the machine hits both trees
            now = min(now, timed(["remix", audio, "--preset", args.preset, "-o", out], 1))
            before = min(before, timed(["remix", audio, "--preset", args.baseline_tree / "presets" / f"{args.preset}.toml",
                                        "-o", out], 1, args.baseline_tree))
    print(f"CPU: {cpu_name()}; {args.seconds:g} s of 48 kHz {'mono' if args.mono else 'stereo'}, best of {args.repeats}")
    print(f"remix --preset {args.preset}, this tree:     {now:6.2f} s")
    print(f"remix --preset {args.preset}, baseline tree: {before:6.2f} s")
    print(f"ratio: {now / before:.3f}x" + (" (gate <= 1.10x)" if args.preset == "dialogue-ride" else ""))


if __name__ == "__main__":
    main()
