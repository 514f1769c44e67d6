"""Where dialogue is, by each detector, on real scenes with known stems: recall, false alarms, the
dialogue-gated loudness they give, and the hangover that trades one against the other.

Usage: python benchmarks/speech_presence.py [--dbr 0 --dbr -6] [--hangover 0.3 ...] [--min-run 10 ...]
       [--stem-silent 0.3 --stem-silent 0 ...] [--unvoiced-reach 1.5 --unvoiced-reach off ...] [--phone]
       [--json out.json]

Scenes: benchmarks/ride_gates.py's (the real suite's two readings over its orchestra, strings and trumpet,
two 3 s lines in 22 s, at each --dbr). Truth per 400 ms window (one every 100 ms): the true dialogue's
energy in it within 30 dB of its loudest window. The dialogue engine (DeepFilterNet3) makes the stem of
the mix, and of the background alone. Detectors (tuss_fx.measure.speech):
  silero-mix       Silero VAD on the mix alone
  silero-stem      Silero VAD on the dialogue engine's stem alone
  mix|stem>=-15dB  the shipped rule: the mix's speech, or the stem's where the stem holds at least
                   -15 dB of the programme's energy (--share-db adds other floors), at each --hangover,
                   windows in runs of at least --min-run (10 shipped; 1: every window), the mix's speech
                   overruled where the stem's probability is under --stem-silent (0.3 shipped; 0: never)
                   and the stem under -10 dB of the frame, the stem's speech alone counted only within
                   --unvoiced-reach seconds of a consonant in the stem (1.5 shipped; off: anywhere)
  engine-gate      the stem gated by its level (within 15 LU of its own loudness): what decided until now
Recall: true windows flagged, from the mix; false alarm: windows flagged when the background alone is the
programme (not digital silence). Dialogue-gated loudness of the mix by each, against the mix's loudness
over the true dialogue windows (the gate: within 1 LU). --phone band-limits the dialogue to a telephone's
300-3400 Hz (4th-order Butterworth, its loudness kept): the case the consonant rule costs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ride_gates import scene  # noqa: E402

from tuss_fx.measure.loudness import LoudnessMeter, block_mean_squares, dialogue_gated_loudness  # noqa: E402
from tuss_fx.measure.meters import HOP_SECONDS  # noqa: E402
from tuss_fx.measure.speech import (MIN_RUN_WINDOWS, MIX, SPEECH_THRESHOLD, STEM, STEM_SHARE_DB,  # noqa: E402
                                     STEM_SILENT_PROBABILITY, UNVOICED_REACH_SECONDS, SpeechPresence,
                                     speech_windows)
from tuss_fx.separation.separator import Separator  # noqa: E402
from tuss_fx.train.real_suite import MODEL_RATE, MUSIC, SPEECH  # noqa: E402

HOPS = 4  # a 400 ms window in 100 ms hops
TRUTH_WITHIN_DB = 30.0


def meter(signal: np.ndarray) -> LoudnessMeter:
    measured = LoudnessMeter(MODEL_RATE, 1, HOP_SECONDS)
    measured.push(signal[None].astype(np.float32))
    return measured


def truth(dialogue: np.ndarray) -> np.ndarray:
    """(K,) bool: the true dialogue's window energy within TRUTH_WITHIN_DB of its loudest window."""
    energy = block_mean_squares(meter(dialogue), HOPS)
    return energy > 0 if not energy.any() else energy >= energy.max() * 10 ** (-TRUTH_WITHIN_DB / 10)


def detect(programme: np.ndarray, stem: np.ndarray) -> SpeechPresence:
    detector = SpeechPresence(MODEL_RATE, 1)
    for start in range(0, programme.size, 65536):
        detector.push(*(signal[None, start:start + 65536].astype(np.float32) for signal in (programme, stem)))
    detector.finish()
    return detector


def engine_gate(programme: np.ndarray, stem: np.ndarray) -> np.ndarray:
    return dialogue_gated_loudness(meter(programme), meter(stem)).dialogue


def dialogue_stem(separator: Separator, signal: np.ndarray) -> np.ndarray:
    regions = separator.separate_regions([signal[None].astype(np.float32)], MODEL_RATE, 1, signal.size, ("speech",))
    return np.concatenate([stems[0, 0] for _, stems in regions])


def telephone(dialogue: np.ndarray) -> np.ndarray:
    """The dialogue through a telephone's 300-3400 Hz band (4th-order Butterworth, no phase shift), at its
    own RMS."""
    from scipy.signal import butter, sosfiltfilt

    band = sosfiltfilt(butter(4, [300.0, 3400.0], "bandpass", fs=MODEL_RATE, output="sos"), dialogue)
    return band * np.sqrt(np.mean(dialogue ** 2) / np.mean(band ** 2))


def gated_lufs(programme: np.ndarray, speech: np.ndarray) -> float:
    return dialogue_gated_loudness(meter(programme), meter(programme), speech).lufs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dbr", dest="dbrs_db", type=float, action="append")
    parser.add_argument("--hangover", dest="hangovers", type=float, action="append")
    parser.add_argument("--share-db", dest="shares_db", type=float, action="append")
    parser.add_argument("--min-run", dest="min_runs", type=int, action="append")
    parser.add_argument("--stem-silent", dest="stem_silents", type=float, action="append")
    parser.add_argument("--unvoiced-reach", dest="unvoiced_reaches", action="append",
                        type=lambda value: None if value == "off" else float(value))
    parser.add_argument("--phone", action="store_true", help="the dialogue in a telephone's band")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    hangovers = args.hangovers or [0.1, 0.2, 0.3, 0.5]
    separator = Separator.from_pretrained("default", device="cpu")
    rows = []
    for speech, music, dbr in [(s, m, d) for d in (args.dbrs_db or (0.0, -6.0)) for s in SPEECH for m in MUSIC]:
        dialogue, background = scene(speech, music, dbr)
        if args.phone:
            dialogue = telephone(dialogue)
        mix = dialogue + background
        true = truth(dialogue)
        count = true.size
        audible_background = block_mean_squares(meter(background), HOPS)[:count] > 0
        stem, background_stem = dialogue_stem(separator, mix), dialogue_stem(separator, background)
        on_mix, on_background = detect(mix, stem), detect(background, background_stem)
        pair = (lambda rule, **options: (rule(on_mix, **options), rule(on_background, **options)))
        alone = (lambda row: lambda found, **options: speech_windows(found.probabilities[row] >= SPEECH_THRESHOLD,
                                                                     count, HOP_SECONDS))
        flags = {"silero-mix": pair(alone(MIX)), "silero-stem": pair(alone(STEM))}
        for share in args.shares_db or [STEM_SHARE_DB]:
            for hangover in hangovers:
                for run in args.min_runs or [MIN_RUN_WINDOWS]:
                    for silent in args.stem_silents or [STEM_SILENT_PROBABILITY]:
                        for reach in args.unvoiced_reaches or [UNVOICED_REACH_SECONDS]:
                            flags[f"mix|stem>={share:g}dB {hangover:.1f}s run>={run} silent<{silent:g} "
                                  f"consonants {'off' if reach is None else f'{reach:g}s'}"] = pair(
                                lambda found, **o: found.windows(count, HOP_SECONDS, hangover_seconds=hangover,
                                                                 stem_share_db=share, min_run=run,
                                                                 stem_silent_probability=silent,
                                                                 unvoiced_reach_seconds=reach))
        flags["engine-gate"] = (engine_gate(mix, stem)[:count], engine_gate(background, background_stem)[:count])
        truth_lufs = gated_lufs(mix, true)
        row = {"scene": f"{speech} over {music} at {dbr:+.0f} dB", "true_windows": int(true.sum()),
               "truth_gated_lufs": truth_lufs, "detectors": {}}
        for name, (from_mix, from_background) in flags.items():
            row["detectors"][name] = {
                "recall": float(np.mean(from_mix[true])),
                "false_alarm": float(np.mean(from_background[audible_background])) if audible_background.any() else 0.0,
                "flagged_outside": float(np.mean(from_mix[~true])) if (~true).any() else 0.0,
                "gated_lufs_error_lu": gated_lufs(mix, from_mix) - truth_lufs}
        rows.append(row)
        print(row["scene"], flush=True)
        for name, found in row["detectors"].items():
            print(f"  {name:<18} recall {found['recall']:5.1%}  false alarm {found['false_alarm']:5.1%}  "
                  f"gated loudness {found['gated_lufs_error_lu']:+5.2f} LU", flush=True)
    print("\nall scenes (worst scene in brackets):")
    for name in rows[0]["detectors"]:
        values = [row["detectors"][name] for row in rows]
        print(f"  {name:<18} recall {np.mean([v['recall'] for v in values]):5.1%} "
              f"({min(v['recall'] for v in values):5.1%})  false alarm "
              f"{np.mean([v['false_alarm'] for v in values]):5.1%} ({max(v['false_alarm'] for v in values):5.1%})  "
              f"gated loudness error {max(abs(v['gated_lufs_error_lu']) for v in values):.2f} LU at most")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
