"""Put a new dialogue recording (a dub, ADR, a cleaner edit) into a programme in place of its own dialogue,
line by line as loud against the background as the original was, and with its tone.

    python examples/replace_dialogue.py INPUT NEW_DIALOGUE OUTPUT [--match lines|programme|off] [--match-eq]
        [--preset dme] [--checkpoint default]

The same as `tuss-fx remix INPUT --preset dme --replace speech=NEW_DIALOGUE -o OUTPUT`, from Python: a
RemixRequest names the replacement; the report says each line's gain and the EQ that was fitted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tuss_fx import RemixRequest, Separator, TussFxError, load_preset, remix_file, remix_film
from tuss_fx.media.remux import muxer_for
from tuss_fx.mix.replace import MATCHES, Replacement


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("dialogue", type=Path,
                        help="the new dialogue, placed by timecode where both carry one, else from the start")
    parser.add_argument("output", type=Path, help="a .wav/.flac, or a film container for a film input")
    parser.add_argument("--match", choices=MATCHES, default="lines")
    parser.add_argument("--match-eq", action="store_true", help="also match the original dialogue's tone")
    parser.add_argument("--preset", default="dme", help="the mix the new dialogue goes into (dme: at unity)")
    parser.add_argument("--checkpoint", default="default")
    args = parser.parse_args()
    separator = Separator.from_pretrained(args.checkpoint)
    request = RemixRequest(args.output, replacements=(Replacement("speech", args.dialogue),), match=args.match,
                           match_eq=args.match_eq)
    try:
        if muxer_for(args.output):
            report, _ = remix_film(separator, load_preset(args.preset), args.input, request)
        else:
            report = remix_file(separator, load_preset(args.preset), args.input, request)
    except TussFxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    replaced = report.replacements[0]
    for line in replaced["lines"]:
        print(f"line {line['start_seconds']:7.2f}-{line['end_seconds']:7.2f} s: {line['gain_db']:+.1f} dB")
    if replaced["eq_db"]:
        print("EQ: " + ", ".join(f"{centre} Hz {gain:+.1f} dB" for centre, gain in replaced["eq_db"].items()))
    print(f"{report.output}: {report.output_lufs:.1f} LUFS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
