"""Replace a stem, measured (#49's gates): a "dub" of each real scene's true dialogue placed back into it.

Usage: python benchmarks/bench_replace.py [--checkpoint default] [--dbr 0] [--seed 0] [--repeats 3]

Scenes: the real suite's readings over its orchestra, its strings with a robin and its trumpet with a robin
(tuss_fx.train.real_suite, the shipped recordings), stereo 48 kHz, each scaled to peak at -3 dBFS as a delivered
mix does (the suite renders them up to +3 dBFS, where the remix's limiter would act). The dub is the scene's true dialogue as a
studio would deliver it: the same words recorded flat, each line's level moved by a random -8..+8 dB and a
tilt EQ of a random -4..+4 dB across the band (low shelf at 250 Hz and high shelf at 4 kHz, opposite). Per
scene it runs the M&E (music-and-effects) and, with the dub replacing `speech` under the dme preset,
--match off, lines, and lines with --match-eq, and prints:
- per-line K-weighted loudness (pyloudnorm) of the dub as placed (the replaced dme remix minus the M&E)
  against the original dialogue as separated (the mix minus the M&E): the share of lines within 1 LU
  (gate: >= 90 % with lines) and the spread `off` starts from;
- the replacement's error against the original mix next to the M&E's against the true music + effects,
  both relative to the mix's energy (gate: at most 1 dB above, lines + EQ);
- the largest octave-band (125 Hz - 8 kHz) difference of the placed dub's long-term spectrum from the
  separated dialogue's, over the frames where both hold sound (gate: within 2 dB, with EQ; where the
  separation lost the dialogue for a moment, the dub speaks and the separated dialogue does not, and no EQ
  can make their spectra meet), and over the whole programme;
- the replaced remix's time over the plain dme remix's: on each 6 s scene once, and on the scenes end to end
  (36 s, as a reel is replaced: a remix's fixed costs weigh on 6 s), the median of --repeats interleaved
  runs (gate: <= 1.2x).
Prints the CPU with every figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pedalboard
import pyloudnorm
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audition import cpu_name  # noqa: E402

from tuss_fx.mix.presets import load_preset  # noqa: E402
from tuss_fx.mix.remix import remix_file  # noqa: E402
from tuss_fx.mix.replace import Replacement  # noqa: E402
from tuss_fx.mix.request import RemixRequest  # noqa: E402
from tuss_fx.mix.tone_match import EQ_CENTRES_HZ  # noqa: E402
from tuss_fx.recordings import RECORDINGS_DIR  # noqa: E402
from tuss_fx.separation.separator import Separator  # noqa: E402
from tuss_fx.train.real_suite import SPEECH, Recordings, Scene, render  # noqa: E402

RATE = 48000
BACKGROUNDS = (("orchestra", None), ("strings", "robin"), ("trumpet", "robin"))
LINE_GAP_SECONDS = 0.25  # silence that separates two lines of a true dialogue
MIN_LINE_SECONDS = 0.5
SPECTRUM_FRAME = 8192
PEAK_DBFS = -3.0  # each scene's mix peak
BOTH_SPEAK_DB = 30.0


def true_lines(speech: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) samples of each line of a clean dialogue: runs of 50 ms frames within 40 dB of its peak
    frame, joined across gaps shorter than LINE_GAP_SECONDS."""
    hop = RATE // 20
    frames = speech[: speech.size // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)
    active = level > level.max() - 40
    lines, start, quiet = [], None, 0
    for index, on in enumerate(active):
        if on:
            start = index if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * hop >= LINE_GAP_SECONDS * RATE:
                lines.append((start * hop, (index - quiet + 1) * hop))
                start = None
    if start is not None:
        lines.append((start * hop, len(active) * hop))
    return [(a, b) for a, b in lines if b - a >= MIN_LINE_SECONDS * RATE]


def make_dub(speech: np.ndarray, lines: list[tuple[int, int]], rng: np.random.Generator) -> np.ndarray:
    """(L,) the dialogue as a dub: each line moved by -8..+8 dB, the whole tilted by -4..+4 dB."""
    dub = np.zeros_like(speech)
    for a, b in lines:
        dub[a:b] = speech[a:b] * 10 ** (rng.uniform(-8, 8) / 20)
    tilt = rng.uniform(-4, 4)
    board = pedalboard.Pedalboard([pedalboard.LowShelfFilter(cutoff_frequency_hz=250, gain_db=tilt / 2),
                                   pedalboard.HighShelfFilter(cutoff_frequency_hz=4000, gain_db=-tilt / 2)])
    return board(dub[None].astype(np.float32), RATE)[0]


def octave_levels(signal: np.ndarray, chosen: np.ndarray | None = None) -> np.ndarray:
    """(bands,) dB: the long-term octave levels of a mono signal, over its SPECTRUM_FRAME frames (`chosen` of
    them: a bool per frame)."""
    power = frame_powers(signal)
    power = (power if chosen is None else power[chosen]).sum(axis=0)
    freqs = np.fft.rfftfreq(SPECTRUM_FRAME, 1 / RATE)
    return np.array([10 * np.log10(power[(freqs >= c / 2 ** 0.5) & (freqs < c * 2 ** 0.5)].sum() + 1e-30)
                     for c in EQ_CENTRES_HZ])


def frame_powers(signal: np.ndarray) -> np.ndarray:
    """(frames, bins): the power spectrum of each Hann-windowed SPECTRUM_FRAME frame."""
    frames = signal[: signal.size // SPECTRUM_FRAME * SPECTRUM_FRAME].reshape(-1, SPECTRUM_FRAME)
    return np.abs(np.fft.rfft(frames * np.hanning(SPECTRUM_FRAME), axis=1)) ** 2


def both_speak(placed: np.ndarray, separated: np.ndarray) -> np.ndarray:
    """(frames,) bool: the frames where both dialogues hold sound, each within BOTH_SPEAK_DB of its loudest
    frame: where a separation lost the dialogue for a moment, the dub's tone has nothing to match."""
    energies = [frame_powers(signal).sum(axis=1) for signal in (placed, separated)]
    return np.logical_and(*(energy > energy.max() * 10 ** (-BOTH_SPEAK_DB / 10) for energy in energies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--dbr", type=float, default=0.0, help="dialogue-to-background ratio of the scenes, dB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings of the whole programme")
    args = parser.parse_args()
    separator = Separator.from_pretrained(args.checkpoint, device="cpu")
    recordings = Recordings(RECORDINGS_DIR)
    meter = pyloudnorm.Meter(RATE)
    rng = np.random.default_rng(args.seed)
    print(f"CPU: {cpu_name()}; model {args.checkpoint}; scenes at {args.dbr:+g} dB DBR; seed {args.seed}")
    within = {"off": [], "lines": [], "lines+eq": []}
    timings, programme, dubs = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for speech_name in SPEECH:
            for music, effects in BACKGROUNDS:
                scene = Scene(speech_name, music, effects, args.dbr)
                sources = render(scene, recordings)
                # as a delivered mix peaks, under the remix's ceiling: the limiter then acts on neither the plain
                # remix nor the M&E, and the figures are the matching's alone (the suite's scenes peak up to +3 dBFS)
                sources *= 10 ** (PEAK_DBFS / 20) / np.abs(sources.sum(axis=0)).max()
                stereo = lambda mono: np.stack([mono, mono])  # noqa: E731
                mix = stereo(sources.sum(axis=0))
                path = folder / "scene.wav"
                sf.write(path, mix.T, RATE, subtype="FLOAT")
                lines = true_lines(sources[0])
                dub = make_dub(sources[0], lines, rng)
                sf.write(folder / "dub.wav", dub, RATE, subtype="FLOAT")
                programme.append(mix)
                dubs.append(dub)
                plain_seconds = _timed(separator, path, RemixRequest(folder / "plain.wav", "wav32f", overwrite=True))
                remix_file(separator, load_preset("music-and-effects"), path,
                           RemixRequest(folder / "me.wav", "wav32f", overwrite=True))
                me = sf.read(folder / "me.wav", dtype="float64", always_2d=True)[0].T
                separated = mix - me  # the original dialogue as the tool separates it
                print(f"\n{scene.name}: {len(lines)} lines")
                for label, match, eq in (("off", "off", False), ("lines", "lines", False), ("lines+eq", "lines", True)):
                    request = RemixRequest(folder / "replaced.wav", "wav32f", overwrite=True, match=match, match_eq=eq,
                                           replacements=(Replacement("speech", folder / "dub.wav"),))
                    seconds = _timed(separator, path, request)
                    replaced = sf.read(folder / "replaced.wav", dtype="float64", always_2d=True)[0].T
                    placed = replaced - me
                    errors = [meter.integrated_loudness(placed[:, a:b].T) - meter.integrated_loudness(separated[:, a:b].T)
                              for a, b in lines]
                    within[label] += [abs(error) <= 1.0 for error in errors]
                    replaced_error = 10 * np.log10(np.sum((replaced - mix) ** 2) / np.sum(mix ** 2))
                    me_error = 10 * np.log10(np.sum((me - stereo(sources[1] + sources[2])) ** 2) / np.sum(mix ** 2))
                    dub_mono, original_mono = placed.mean(axis=0), separated.mean(axis=0)
                    spoken = both_speak(dub_mono, original_mono)
                    bands = octave_levels(dub_mono, spoken) - octave_levels(original_mono, spoken)
                    whole = octave_levels(dub_mono) - octave_levels(original_mono)
                    print(f"  {label:<9} per-line LU {' '.join(f'{e:+.1f}' for e in errors)}; error vs mix "
                          f"{replaced_error:.1f} dB (M&E vs true M+E {me_error:.1f} dB); octave bands within "
                          f"{np.abs(bands).max():.1f} dB where both speak ({' '.join(f'{b:+.1f}' for b in bands)}; "
                          f"{spoken.mean():.0%} of frames), {np.abs(whole).max():.1f} dB over the whole; "
                          f"{seconds / plain_seconds:.2f}x the plain remix's time")
                    if label == "lines+eq":
                        timings.append(seconds / plain_seconds)
        print()
        for label, flags in within.items():
            print(f"{label:<9} lines within 1 LU: {np.mean(flags):.0%} of {len(flags)}")
        print(f"time, each {len(programme[0][0]) / RATE:.0f} s scene once: replaced remix (lines + EQ) over the plain "
              f"remix: median {np.median(timings):.2f}x, max {np.max(timings):.2f}x")
        path = folder / "programme.wav"
        sf.write(path, np.concatenate(programme, axis=1).T, RATE, subtype="FLOAT")
        sf.write(folder / "dub.wav", np.concatenate(dubs), RATE, subtype="FLOAT")
        replacing = RemixRequest(folder / "replaced.wav", "wav32f", overwrite=True, match_eq=True,
                                 replacements=(Replacement("speech", folder / "dub.wav"),))
        plain = RemixRequest(folder / "plain.wav", "wav32f", overwrite=True)
        pairs = [(_timed(separator, path, plain), _timed(separator, path, replacing)) for _ in range(args.repeats)]
        plain_seconds, replaced_seconds = np.median(pairs, axis=0)
        print(f"time, the scenes end to end ({sum(m.shape[1] for m in programme) / RATE:.0f} s), median of "
              f"{args.repeats} interleaved runs: plain {plain_seconds:.2f} s, replaced (lines + EQ) "
              f"{replaced_seconds:.2f} s: {replaced_seconds / plain_seconds:.2f}x")


def _timed(separator: Separator, path: Path, request: RemixRequest) -> float:
    """Seconds a dme remix of `path` takes as `request` asks."""
    start = time.perf_counter()
    remix_file(separator, load_preset("dme"), path, request)
    return time.perf_counter() - start

if __name__ == "__main__":
    main()
