"""TUSS inside a pedalboard-style chain: clean up dialogue, pull the music down, master it.

Usage: python examples/pedalboard_chain.py INPUT OUTPUT [--checkpoint PATH]

The tuss-fx Chain runs native pedalboard plugins and tuss-fx processors in one list (a native
Pedalboard cannot host Python plugins). TUSSRemix separates dialogue / effects / music, runs a
native Pedalboard on the dialogue, re-balances the stems and adds the residual back.
"""

import argparse

import numpy as np
from pedalboard import Compressor, Gain, HighpassFilter, Limiter, Pedalboard, PeakFilter
from pedalboard.io import AudioFile

from tuss_fx import Separator
from tuss_fx.plugin import Chain, TUSSRemix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--checkpoint", default="default")
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
    with AudioFile(args.input) as source:
        audio, sample_rate = source.read(source.frames), source.samplerate
    processed = chain(audio.astype(np.float32), sample_rate)
    with AudioFile(args.output, "w", sample_rate, processed.shape[0]) as sink:
        sink.write(processed)
    print(args.output)


if __name__ == "__main__":
    main()
