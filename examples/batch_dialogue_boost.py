"""Post-production batch from Python: dialogue-boost every audio file under a folder, resumably.

Usage: python examples/batch_dialogue_boost.py IN_DIR OUT_DIR [--preset dialogue-boost]
       [--checkpoint PATH] [--target-lufs -24] [--workers 1]

The batch API behind `tuss-fx batch`: IN_DIR is searched recursively, each worker loads the model
once and remixes with the preset (streamed, so file length does not matter), and OUT_DIR gets
<name>.wav per input plus manifest.jsonl, which records every file (hashes, loudness, outputs,
seconds). A rerun skips exactly the files whose outputs verify, so an interrupted batch resumes
where it stopped. A bad file is reported and the batch goes on; the exit status is 1 if any failed.
"""

import argparse
import sys
from pathlib import Path

from tuss_fx import TussFxError
from tuss_fx.batch import BatchJob, collect_inputs, run_batch


def report(entry: dict) -> None:
    name = Path(entry["input"]).name
    if entry["status"] == "skipped":
        print(f"skip  {name} (done)")
    elif entry["status"] == "failed":
        print(f"error: {entry['error']}", file=sys.stderr)
    else:
        print(f"done  {name}: {entry['input_lufs']:.1f} -> {entry['output_lufs']['remix']:.1f} LUFS "
              f"in {entry['seconds']:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("in_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--preset", default="dialogue-boost")
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--target-lufs", type=float, default=None)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    overrides = (f"master.target_lufs={args.target_lufs}",) if args.target_lufs is not None else ()
    job = BatchJob("remix", args.out_dir.absolute(), args.preset, overrides, checkpoint=args.checkpoint)
    try:
        summary = run_batch(job, collect_inputs([args.in_dir]), args.workers, on_entry=report)
    except TussFxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{summary.done} done, {summary.skipped} skipped, {summary.failed} failed; see {summary.manifest}")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
