"""Post-production batch: dialogue-boost every WAV/FLAC in a folder, skipping finished ones.

Usage: python examples/batch_dialogue_boost.py IN_DIR OUT_DIR [--preset dialogue-boost]
       [--checkpoint PATH] [--target-lufs -24]

Loads the model once, remixes each file with the preset (streamed, so file length does not
matter), writes OUT_DIR/<name>.wav plus a loudness report line per file, and skips outputs that
already exist, so an interrupted batch resumes where it stopped. A bad file is reported and
skipped; the exit status is 1 if any file failed.
"""

import argparse
import sys
from pathlib import Path

from tuss_fx import Separator, TussFxError
from tuss_fx.presets import load_preset
from tuss_fx.remix import remix_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("in_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--preset", default="dialogue-boost")
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--target-lufs", type=float, default=None)
    args = parser.parse_args()

    overrides = [f"master.target_lufs={args.target_lufs}"] if args.target_lufs is not None else []
    preset = load_preset(args.preset, overrides)
    separator = Separator.from_pretrained(args.checkpoint)
    failures = 0
    for source in sorted(p for p in args.in_dir.iterdir() if p.suffix.lower() in (".wav", ".flac")):
        target = args.out_dir / f"{source.stem}.wav"
        if target.exists():
            print(f"skip  {source.name} (done)")
            continue
        try:
            report = remix_file(separator, preset, source, target)
        except TussFxError as error:
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        print(f"done  {source.name}: {report.input_lufs:.1f} -> {report.output_lufs:.1f} LUFS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
