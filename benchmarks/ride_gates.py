"""The dialogue ride's gates on real scenes with known stems: what the rides do to the true DBR.

Usage: python benchmarks/ride_gates.py [--dbr 0 --dbr -6] [--preset dialogue-ride] [--estimated] [--json out.json]

Scenes: the real suite's two readings over its orchestra, strings and trumpet (tuss_fx.train.real_suite's
recordings), 22 s long: the music throughout, the reading cut into two 3 s lines spoken at 3 s and
13 s, the music scaled so the lines sit at each --dbr. For each scene the ride is computed as remix computes
it, from the stems (the true ones: dialogue = the reading, background = the rest; with --estimated, the
dialogue engine's stem of the mix and mix - stem) and the speech detector on the mix and that stem
(tuss_fx.measure.speech), applied to the true background, and the result metered again (BS.1770
K-weighted 400 ms windows every 100 ms): the share of dialogue windows (on the true stems: where the true
dialogue's level is within 15 LU of its loudness) that reach the target or come within 1 dB of it, against the same share for a static boost (the
`dialogue-boost` gains: dialogue +5 dB, background -5 dB) and for nothing done; outside dialogue (more
than 0.5 s from either line), the share of 100 ms steps where the background's gain stays within 1 dB
of its median there (the music swells the ride must leave alone); inside the lines (from 0.3 s after a
line starts to 0.3 s before it ends), how far the background's fader rises in all, in dB per line (what a
listener hears as pumping between the words); and the fastest fall and rise of the ride's gain, against its
attack and release.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_fx.measure.dbr import dialogue_clarity
from tuss_fx.measure.loudness import LoudnessMeter
from tuss_fx.measure.meters import HOP_SECONDS
from tuss_fx.mix.automation import GainAutomation
from tuss_fx.mix.presets import load_preset
from tuss_fx.measure.speech import HANGOVER_SECONDS, SpeechPresence
from tuss_fx.mix.ride import GRID_SECONDS, lane_events, ride_curve
from tuss_fx.separation.separator import Separator
from tuss_fx.media.resample import resample
from tuss_fx.train.real_suite import MODEL_RATE, MUSIC, REFERENCE_RMS, SPEECH
from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
STATIC_LIFT_DB = 10.0  # dialogue-boost: dialogue +5 dB, background -5 dB
SCENE_SECONDS, LINE_SECONDS, LINES_AT_SECONDS = 22.0, 3.0, (3.0, 13.0)


def _recording(name: str, start_seconds: float, seconds: float) -> np.ndarray:
    """(L,) mono at 48 kHz from start_seconds, looped to `seconds`."""
    audio, rate = sf.read(MEDIA / name, dtype="float32", always_2d=True)
    mono = resample(audio.mean(axis=1)[None], rate, MODEL_RATE)[0][int(start_seconds * MODEL_RATE):]
    return np.resize(mono, int(seconds * MODEL_RATE)).astype(np.float64)


def scene(speech: str, music: str, dbr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(dialogue, background) of one scene: two lines of the reading over the music."""
    name, start = SPEECH[speech]
    reading = _recording(name, start, 2 * LINE_SECONDS)
    dialogue = np.zeros(int(SCENE_SECONDS * MODEL_RATE))
    line = int(LINE_SECONDS * MODEL_RATE)
    for index, at in enumerate(LINES_AT_SECONDS):
        dialogue[int(at * MODEL_RATE):][:line] = reading[index * line:(index + 1) * line]
    dialogue *= REFERENCE_RMS / np.sqrt(np.mean(reading ** 2))
    background = _recording(*MUSIC[music], SCENE_SECONDS)
    background *= REFERENCE_RMS * 10 ** (-dbr_db / 20) / np.sqrt(np.mean(background ** 2))
    return dialogue, background


def clarity_of(dialogue: np.ndarray, background: np.ndarray, target_lu: float, speech: np.ndarray):
    meters = [LoudnessMeter(MODEL_RATE, 1, HOP_SECONDS) for _ in range(3)]
    for meter, signal in zip(meters, (dialogue + background, dialogue, background)):
        meter.push(signal[None])
    return dialogue_clarity(*meters, threshold_lu=target_lu, speech=speech)


def speech_of(programme: np.ndarray, dialogue: np.ndarray, hangover_seconds: float = HANGOVER_SECONDS) -> np.ndarray:
    """The speech detector's windows, as remix finds them: on the programme and its dialogue stem."""
    detector = SpeechPresence(MODEL_RATE, 1)
    for start in range(0, programme.size, 65536):
        detector.push(programme[None, start:start + 65536].astype(np.float32),
                      dialogue[None, start:start + 65536].astype(np.float32))
    detector.finish()
    return detector.windows(int(np.ceil(programme.size / MODEL_RATE / HOP_SECONDS)), HOP_SECONDS,
                            hangover_seconds=hangover_seconds)


def estimated_dialogue(separator, mix: np.ndarray) -> np.ndarray:
    regions = separator.separate_regions([mix[None].astype(np.float32)], MODEL_RATE, 1, mix.size, ("speech",))
    return np.concatenate([stems[0, 0] for _, stems in regions]).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dbr", dest="dbrs_db", type=float, action="append")
    parser.add_argument("--preset", default="dialogue-ride")
    parser.add_argument("--estimated", action="store_true", help="ride from the dialogue engine's stems of the mix")
    parser.add_argument("--key", choices=("speech", "level"), default="speech",
                        help="what says where dialogue is: the speech detector (now), or the dialogue stem's level "
                             "(before the speech-presence issue), for the same scenes and measures")
    parser.add_argument("--hangover", type=float, default=HANGOVER_SECONDS, help="the detector's, in seconds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    separator = Separator.from_pretrained("default", device="cpu") if args.estimated else None
    preset = load_preset(args.preset)
    ride, lift = preset.ride, preset.stem("speech").gain_db - preset.stem("residual").gain_db
    rows = []
    for speech, music, dbr in [(s, m, d) for d in (args.dbrs_db or (0.0, -6.0)) for s in SPEECH for m in MUSIC]:
        dialogue, background = scene(speech, music, dbr)
        mix = dialogue + background
        # the dialogue windows the ride is judged on, as before the speech detector: the true dialogue's own
        # level (within 15 LU of its loudness), which on a true stem is where the reading speaks
        heard = clarity_of(dialogue, background, ride.target_lu, None).dialogue
        stem = estimated_dialogue(separator, mix) if separator else dialogue
        measured = clarity_of(stem, mix - stem, ride.target_lu, speech_of(mix, stem, args.hangover) if args.key == "speech" else None)
        curve = ride_curve(measured, ride, len(dialogue) / MODEL_RATE, lift)
        automation = GainAutomation({"residual": lane_events(curve, 0.0)})
        gains = automation.envelope("residual", 0, len(dialogue), MODEL_RATE, 0.0)
        ridden = clarity_of(dialogue * 10 ** (lift / 20), background * gains, ride.target_lu, heard)
        static = clarity_of(dialogue * 10 ** (STATIC_LIFT_DB / 20), background, ride.target_lu, heard)
        speaking = heard
        reach = (lambda clarity: float(np.mean(clarity.dbr_lu[speaking] >= ride.target_lu - 1.0)))
        steps = np.arange(0.0, SCENE_SECONDS, HOP_SECONDS)
        outside = np.all([np.abs(steps - (at + LINE_SECONDS / 2)) > LINE_SECONDS / 2 + 0.5 for at in LINES_AT_SECONDS],
                         axis=0)
        step_db = 20 * np.log10(np.maximum(gains[(steps * MODEL_RATE).astype(int)], 1e-12))[outside]
        slope = np.diff(curve) / GRID_SECONDS
        fader_db = 20 * np.log10(np.maximum(gains[::int(GRID_SECONDS * MODEL_RATE)], 1e-12))
        grid = np.arange(fader_db.size) * GRID_SECONDS
        rises = [np.sum(np.maximum(np.diff(fader_db[(grid >= at + 0.3) & (grid <= at + LINE_SECONDS - 0.3)]), 0.0))
                 for at in LINES_AT_SECONDS]
        rows.append({"scene": f"{speech} over {music} at {dbr:+.0f} dB", "dbr_db": dbr, "dialogue_windows": int(speaking.sum()),
                     "reach_none": reach(clarity_of(dialogue, background, ride.target_lu, heard)),
                     "reach_static_boost": reach(static), "reach_ride": reach(ridden),
                     "background_steady_outside_dialogue": float(np.mean(np.abs(step_db - np.median(step_db)) <= 1.0)),
                     "fader_rise_inside_lines_db": float(np.mean(rises)),
                     "fastest_fall_db_per_s": float(-slope.min()), "fastest_rise_db_per_s": float(slope.max())})
        row = rows[-1]
        print(f"{row['scene']:<50} windows {row['dialogue_windows']:3d}  reach: none {row['reach_none']:4.0%} "
              f"static {row['reach_static_boost']:4.0%} ride {row['reach_ride']:4.0%}  "
              f"steady outside {row['background_steady_outside_dialogue']:4.0%}  "
              f"rise inside lines {row['fader_rise_inside_lines_db']:4.1f} dB  "
              f"fall {row['fastest_fall_db_per_s']:5.1f} rise {row['fastest_rise_db_per_s']:5.1f} dB/s", flush=True)
    for dbr in sorted({r["dbr_db"] for r in rows}, reverse=True):
        chosen = [r for r in rows if r["dbr_db"] == dbr]
        windows = sum(r["dialogue_windows"] for r in chosen)
        mean = (lambda key: sum(r[key] * r["dialogue_windows"] for r in chosen) / windows)
        print(f"DBR {dbr:+.0f} dB: dialogue windows within 1 dB of {ride.target_lu:g} LU or above: nothing "
              f"{mean('reach_none'):.0%}, static boost {mean('reach_static_boost'):.0%}, ride {mean('reach_ride'):.0%}")
    print(f"{'estimated' if args.estimated else 'true'} stems, keyed by {args.key}; background within 1 dB of its median gain more than "
          f"0.5 s from any line: {np.mean([r['background_steady_outside_dialogue'] for r in rows]):.0%} (mean of "
          f"scenes), {min(r['background_steady_outside_dialogue'] for r in rows):.0%} (worst scene), "
          f"{sum(r['background_steady_outside_dialogue'] >= 0.95 for r in rows)} of {len(rows)} scenes at 95 % or more; "
          f"the fader rises {np.mean([r['fader_rise_inside_lines_db'] for r in rows]):.1f} dB per line inside the lines "
          f"({max(r['fader_rise_inside_lines_db'] for r in rows):.1f} at most); fastest fall "
          f"{max(r['fastest_fall_db_per_s'] for r in rows):.1f} dB/s (attack {ride.attack_db_per_second:g}), fastest "
          f"rise {max(r['fastest_rise_db_per_s'] for r in rows):.1f} dB/s (release {ride.release_db_per_second:g})")
    if args.json:
        args.json.write_text(json.dumps({"preset": args.preset, "estimated": args.estimated, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
