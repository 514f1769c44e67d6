"""What processing each source range once saves over processing each clip on its own.

Usage: python benchmarks/bench_conform.py [--preset dialogue-boost] [--checkpoint default] [--timeline AAF]

The timeline (default: Avid's multitrack.aaf from the AAF adapter's samples, tests/timelines/) gets
media synthesized at its referenced names and lengths: 48 kHz stereo real speech over real music
(examples/make_film_clip.py's film soundtrack) in films, as an editor's sources are. Rows, in this
one process with one model:
  per clip: every clip's own range (its in/out with 2 s handles), one at a time, as a dialogue
            editor's clip-by-clip pass does (the baseline)
  conform:  tuss_fx.timeline.conform: each source range once, uses merged
Prints the audio seconds each processed, the wall seconds, and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
from make_film_clip import film_soundtrack, write_clip  # noqa: E402

from tuss_fx.batch.jobs import BatchJob  # noqa: E402
from tuss_fx.media.audio_io import probe  # noqa: E402
from tuss_fx.timeline.conform import ConformJob, run_conform  # noqa: E402
from tuss_fx.timeline.edit import read_timeline  # noqa: E402
from tuss_fx.timeline.media import file_name, locate_media, url_path  # noqa: E402
from tuss_fx.timeline.plan import plan_conform  # noqa: E402
from tuss_fx.timeline.ranges import plan_ranges  # noqa: E402

RATE = 48000


def synthesize(timeline, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for track in timeline.audio_tracks():
        for clip in track.find_clips():
            path = folder / file_name(url_path(clip.media_reference.target_url))
            if not path.exists():
                seconds = clip.media_reference.available_range.duration.to_seconds()
                write_clip(path, [film_soundtrack(seconds, RATE)], RATE, "pcm_s24le" if path.suffix == ".mov" else
                           "alac", subtitle=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeline", type=Path, default=ROOT / "tests" / "timelines" / "multitrack.aaf")
    parser.add_argument("--preset", default="dialogue-boost")
    parser.add_argument("--checkpoint", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        synthesize(read_timeline(args.timeline), work / "media")
        plan = plan_conform(args.timeline, media_roots=[work / "media"])
        engine = BatchJob("remix", work / "conform", args.preset, checkpoint=args.checkpoint, device="cpu")
        separator = engine.load_separator()
        # the baseline: one range per clip (merging nothing), each processed on its own
        located = locate_media(plan.uses, args.timeline, [work / "media"])
        infos = {path: probe(path) for path in set(located.values())}
        per_clip = [replace(item, key=f"clip{index:02d}") for index, use in enumerate(plan.uses)
                    for item in plan_ranges([use], located, infos, {}, where=args.timeline)]
        baseline = ConformJob(replace(engine, out_dir=work / "per-clip"), tuple(per_clip), "bench")
        started = time.perf_counter()
        for item in per_clip:
            entry = baseline.process(separator, item.key)
            assert entry["status"] == "done", entry["error"]
        per_clip_seconds = time.perf_counter() - started
        started = time.perf_counter()
        summary = run_conform(ConformJob(engine, plan.ranges, "bench"))
        conform_seconds = time.perf_counter() - started
        assert summary.processed == len(plan.ranges) and not summary.failed
    audio = {name: sum(item.num_frames for item in items) / RATE
             for name, items in (("per clip", per_clip), ("conform", plan.ranges))}
    print(f"{args.timeline.name}: {plan.describe()}; preset {args.preset}")
    print(f"{'':10s} {'ranges':>6s} {'audio s':>8s} {'wall s':>7s} {'ratio':>6s}")
    print(f"{'per clip':10s} {len(per_clip):6d} {audio['per clip']:8.1f} {per_clip_seconds:7.1f} {1.0:6.2f}")
    print(f"{'conform':10s} {len(plan.ranges):6d} {audio['conform']:8.1f} {conform_seconds:7.1f} "
          f"{conform_seconds / per_clip_seconds:6.2f}")


if __name__ == "__main__":
    main()
