"""How close each preset's remix comes to the ideal remix: the same preset applied to the true stems.

Usage: python benchmarks/remix_quality.py [--checkpoint default] [--dbr 0 --dbr -6] [--json out.json]
           [--ambience FILE] [--speech FILE] [--preset NAME ...]

Scenes are the real suite's (tuss_fx.train.real_suite): real readings over a real orchestra, string
orchestra + robin and solo trumpet + ambience, with their true speech, effects and music stems, at
each --dbr. Every preset runs through the real `remix` path (remix_file, its chains, gains, loudness
normalisation and limiter) under each plan:
  main:     the stem plan with today's main's presets (music-and-effects muted the residual);
  stems:    every stem separated (dialogue by the model's dialogue engine, music and effects by TUSS);
  dialogue: the dialogue separated, mix - dialogue as one background (no TUSS).
The ideal is the preset's stems plan applied to the true stems (chains and gains, before the master).
Mastering is one gain and a limiter that rarely engages, so the score is SI-SNR against the ideal
(scale-invariant); the mix itself is the floor. Prints SI-SNR, and its improvement over the floor,
per preset and plan, the mean per DBR, and the seconds each plan took.

--surround builds each scene as a 5.1 film mix instead (surround_mix: dialogue in the centre with
some in left and right, music across the front and surrounds, effects everywhere, the LFE a low-
passed share of both) and compares which channels the engines get (`--engine-channels`: all but the
LFE, the front three, the centre alone) under the default plan; SI-SNR over all six channels.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

from tuss_fx.mix.presets import load_preset
from tuss_fx.mix.remix import RemixStream, remix_file
from tuss_fx.mix.request import RemixRequest
from tuss_fx.separation.separator import Separator
from tuss_fx.train.real_suite import MODEL_RATE, Recordings, default_scenes, render, si_snr
from tuss_fx.recordings import RECORDINGS_DIR

MEDIA = RECORDINGS_DIR  # the shipped real recordings (tuss_fx/recordings/ATTRIBUTION.md)
PRESETS = ("dialogue-boost", "music-and-effects", "dialogue-only")
# today's main's presets, where they differ from the shipped ones
MAIN_OVERRIDES = {"music-and-effects": ["stems.residual.gain_db=-inf"]}
PLANS = ("main", "stems", "dialogue")
ENGINE_CHANNELS = ("all", "front", "center")
# 5.1 in SMPTE order FL FR FC LFE BL BR: each source's gain per channel, and a delay in samples per
# channel that decorrelates the beds (a dialogue line is one coherent source: no delays)
SPEECH_PAN = (0.35, 0.35, 1.0, 0.0, 0.0, 0.0)  # centre, with the divergence many mixes give L and R
MUSIC_PAN = (1.0, 1.0, 0.3, 0.0, 0.5, 0.5)
EFFECTS_PAN = (0.6, 0.6, 0.3, 0.0, 0.6, 0.6)
BED_DELAYS = (0, 311, 157, 0, 733, 1021)
LFE_GAIN, LFE_CUTOFF_HZ = 0.5, 120.0


def surround_mix(sources: np.ndarray) -> np.ndarray:
    """(3, L) speech/sfxbg/musicbg mono stems -> (3, 6, L) 5.1 stems, panned as a film mix would."""
    lfe = butter(4, LFE_CUTOFF_HZ, fs=MODEL_RATE, output="sos")
    out = np.zeros((3, 6, sources.shape[1]), np.float32)
    for index, pan in enumerate((SPEECH_PAN, EFFECTS_PAN, MUSIC_PAN)):
        for channel, gain in enumerate(pan):
            delay = BED_DELAYS[channel] if index else 0
            out[index, channel] = gain * np.roll(sources[index], delay)
        if index:
            out[index, 3] = LFE_GAIN * sosfilt(lfe, sources[index])
    return out


def ideal_remix(preset_name: str, sources: np.ndarray) -> np.ndarray:
    """(C, L) the preset's stems plan on the true (3, C, L) speech/sfxbg/musicbg stems, before the master."""
    preset = load_preset(preset_name)
    mixer = RemixStream.from_preset(preset, MODEL_RATE, sources.shape[1])
    head = mixer.push(sources.sum(axis=0), sources)
    return np.concatenate([head, mixer.finish()], axis=1)


def run_plan(separator: Separator, preset_name: str, plan: str, source: Path, target: Path,
             engine_channels: str = "all"):
    overrides = MAIN_OVERRIDES.get(preset_name, []) if plan == "main" else []
    start = time.perf_counter()
    request = RemixRequest(target, "wav32f", overwrite=True, plan="stems" if plan == "main" else plan,
                           engine_channels=engine_channels)
    report = remix_file(separator, load_preset(preset_name, overrides), source, request)
    seconds = time.perf_counter() - start
    return sf.read(target, dtype="float32", always_2d=True)[0].T, seconds, report.limited


def score(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SNR in dB over every channel of (C, L) signals at once."""
    return si_snr(estimate.reshape(-1), reference.reshape(-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--dbr", dest="dbrs_db", type=float, action="append", help="[default: 0 and -6]")
    parser.add_argument("--preset", dest="presets", action="append", help=f"[default: {', '.join(PRESETS)}]")
    parser.add_argument("--ambience", type=Path, action="append", default=[])
    parser.add_argument("--speech", type=Path, action="append", default=[])
    parser.add_argument("--surround", action="store_true", help="5.1 scenes; compare --engine-channels")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    runs = ENGINE_CHANNELS if args.surround else PLANS
    recordings = Recordings(MEDIA, tuple(args.ambience), tuple(args.speech))
    scenes = [s for s in default_scenes(recordings, args.dbrs_db or (0.0, -6.0)) if np.isfinite(s.dbr_db)]
    separator = Separator.from_pretrained(args.checkpoint, device="cpu")
    print(f"{args.checkpoint}: speech by {separator.dialogue_engine}; split: {separator.stem_split.reason}")
    rows, seconds = [], defaultdict(float)
    with tempfile.TemporaryDirectory() as tmp:
        for scene in scenes:
            sources = render(scene, recordings)[:, None]  # (3, 1, L)
            if args.surround:
                sources = surround_mix(sources[:, 0])
            mixture = sources.sum(axis=0)
            source = Path(tmp) / "scene.wav"
            sf.write(source, mixture.T, MODEL_RATE, subtype="FLOAT", format="WAVEX" if args.surround else "WAV")
            for preset_name in args.presets or PRESETS:
                ideal = ideal_remix(preset_name, sources)
                floor = score(mixture, ideal)
                done = {}
                for run in runs:
                    if run == "stems" and preset_name not in MAIN_OVERRIDES:
                        done[run] = done["main"]  # the same preset under the same plan: main's run
                    elif args.surround:
                        done[run] = run_plan(separator, preset_name, "auto", source, Path(tmp) / "out.wav", run)
                    else:
                        done[run] = run_plan(separator, preset_name, run, source, Path(tmp) / "out.wav")
                    out, took, limited = done[run]
                    seconds[run] += took
                    value = score(out, ideal)
                    rows.append({"scene": scene.name, "dbr_db": scene.dbr_db, "preset": preset_name, "plan": run,
                                 "si_snr_db": value, "mix_si_snr_db": floor, "si_snri_db": value - floor,
                                 "limited": limited})
                print(f"{scene.name:<52} {preset_name:<18} " + "  ".join(
                    f"{r['plan']} {r['si_snri_db']:+6.2f}" for r in rows[-len(runs):]), flush=True)
    print()
    print(f"{'preset':<18} {'DBR':>5} {'mix':>7} " + " ".join(f"{p + ' SI-SNR':>15} {'(i)':>7}" for p in runs))
    for preset_name in args.presets or PRESETS:
        for dbr in [*sorted({r["dbr_db"] for r in rows}, reverse=True), None]:
            chosen = [r for r in rows if r["preset"] == preset_name and (dbr is None or r["dbr_db"] == dbr)]
            cells = []
            for plan in runs:
                mine = [r for r in chosen if r["plan"] == plan]
                cells.append(f"{np.mean([r['si_snr_db'] for r in mine]):15.2f} "
                             f"{np.mean([r['si_snri_db'] for r in mine]):+7.2f}")
            floor = np.mean([r["mix_si_snr_db"] for r in chosen if r["plan"] == runs[0]])
            print(f"{preset_name:<18} {'all' if dbr is None else f'{dbr:+.0f}':>5} {floor:7.2f} " + " ".join(cells))
    print("seconds per run, all scenes and presets: " + ", ".join(f"{p} {s:.1f}" for p, s in seconds.items()))
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": args.checkpoint, "command": " ".join(sys.argv),
                                         "rows": rows, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
