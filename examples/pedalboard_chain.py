"""TUSS inside a pedalboard-style chain: clean up dialogue, pull the music down, master it.

Usage: python examples/pedalboard_chain.py INPUT OUTPUT [--checkpoint PATH] [--overwrite]

The tuss-fx Chain runs native pedalboard plugins and tuss-fx processors in one list (a native
Pedalboard cannot host Python plugins). TUSSRemix separates dialogue / effects / music, runs a
native Pedalboard on the dialogue, re-balances the stems and adds the residual back.
process_file streams the input block by block (memory stays flat however long it is), flushes
the samples the chain holds back at the end, and writes OUTPUT (WAV or FLAC) whole or not at all.
"""

import argparse
import sys

from pedalboard import Compressor, Gain, HighpassFilter, Limiter, Pedalboard, PeakFilter

from tuss_fx import Separator, TussFxError
from tuss_fx.plugin import Chain, TUSSRemix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    args = parser.parse_args()

    separator = Separator.from_pretrained(args.checkpoint)
    dialogue = Pedalboard([HighpassFilter(cutoff_frequency_hz=80), PeakFilter(6500, -4.0, 2.0),
                           Compressor(threshold_db=-22, ratio=3)])
    chain = Chain([
        HighpassFilter(cutoff_frequency_hz=30),  # native pedalboard: subsonic rumble out first
        TUSSRemix(["speech", "sfxbg", "musicbg"], stem_chains={"speech": dialogue},
                  gains_db={"speech": 4.0, "musicbg": -8.0}, separator=separator),
        Gain(gain_db=-1.0),
        Limiter(threshold_db=-1.0),
    ])
    try:
        print(chain.process_file(args.input, args.output, overwrite=args.overwrite))
    except TussFxError as exc:
        sys.exit(f"error: {exc}")  # one line naming the file and the problem; exit status 1


if __name__ == "__main__":
    main()
