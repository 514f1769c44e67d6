"""The dialogue engine on every core: channel lanes and time spans against the one stream, same run.

Usage: python benchmarks/bench_dialogue_lanes.py [--stereo-seconds 60] [--repeats 2] [--span 60] [--warm-up 12]

Prints the CPU and torch's threads, then:
  lanes   --stereo-seconds of 48 kHz stereo (the real suite's first scene, looped, the right channel
          offset) through one DeepFilterNet3Stream of both channels, then through LanedStream (a lane
          per channel, each on its own thread): seconds (best of --repeats), ratio, largest difference;
  spans   the ride_gates scenes (two readers over the orchestra, strings and trumpet at 0 and -6 dB,
          22 s each, 264 s in all) one after another as one mono file, through the one stream and
          through SpanLanes (the timeline in spans side by side where threads outnumber channels):
          seconds, ratio; per scene the SNR of the spans' output against the stream's (the long-films
          issue's gate: >= 40 dB) and the dialogue's SI-SNRi against the true reading from both
          (gate: unchanged within 0.1 dB).
On a machine whose threads do not outnumber a mono file's one channel there are no spans to measure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audition import cpu_name  # noqa: E402
from bench_int8 import snr_db  # noqa: E402
from ride_gates import SCENE_SECONDS, scene  # noqa: E402

from tuss_fx.deepfilternet import DeepFilterNet3Stream, LanedStream, load_network  # noqa: E402
from tuss_fx.deepfilternet.lanes import SPAN_SECONDS, WARM_UP_SECONDS, SpanLanes, spans_per_round  # noqa: E402
from tuss_fx.train.real_suite import MODEL_RATE, MUSIC, SPEECH, si_snr  # noqa: E402

BLOCK = 65536  # samples per push, as a file's reader hands them over


def run(engine, signal: np.ndarray) -> np.ndarray:
    parts = [engine.push(signal[:, start:start + BLOCK]) for start in range(0, signal.shape[1], BLOCK)]
    return np.concatenate(parts + [engine.finish()], axis=1)


def timed(make, signal: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeats):
        engine = make()
        start = time.perf_counter()
        out = run(engine, signal)
        best = min(best, time.perf_counter() - start)
    return best, out


def stereo_lanes(network, programme: np.ndarray, seconds: float, repeats: int) -> None:
    first = np.resize(programme[0, : int(SCENE_SECONDS * MODEL_RATE)], int(seconds * MODEL_RATE))
    stereo = np.stack([first, np.roll(first, 12345)]).astype(np.float32)
    one, reference = timed(lambda: DeepFilterNet3Stream(network, 2), stereo, repeats)
    laned, out = timed(lambda: LanedStream(network, 2), stereo, repeats)
    print(f"\n{seconds:g} s of stereo: one stream {one:.2f} s, {LanedStream(network, 2).lanes} lanes "
          f"{laned:.2f} s = {one / laned:.2f}x; largest difference {np.abs(out - reference).max():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stereo-seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--span", type=float, default=SPAN_SECONDS, help="seconds per span")
    parser.add_argument("--warm-up", type=float, default=WARM_UP_SECONDS, help="seconds of warm-up per fresh span")
    parser.add_argument("--no-stereo", action="store_true", help="spans only")
    args = parser.parse_args()
    network = load_network()
    threads = torch.get_num_threads()
    print(f"CPU: {cpu_name()}, torch threads {threads}")

    scenes = [(speech, music, dbr) for speech in SPEECH for music in MUSIC for dbr in (0.0, -6.0)]
    parts = [scene(*key) for key in scenes]
    dialogue = np.concatenate([part[0] for part in parts]).astype(np.float32)
    programme = np.concatenate([part[0] + part[1] for part in parts]).astype(np.float32)[None]

    run(DeepFilterNet3Stream(network, 1), programme[:, :MODEL_RATE])  # warm the kernels
    if not args.no_stereo:
        stereo_lanes(network, programme, args.stereo_seconds, args.repeats)
    spans = spans_per_round(1)
    print(f"\n{programme.shape[1] / MODEL_RATE:g} s of mono (the {len(scenes)} ride_gates scenes): "
          f"{spans} spans of {args.span:g} s side by side, {args.warm_up:g} s of warm-up")
    if spans == 1:
        print("  one thread: no spans to run side by side")
        return
    one, reference = timed(lambda: DeepFilterNet3Stream(network, 1), programme, args.repeats)
    spanned, out = timed(lambda: SpanLanes(network, 1, span_seconds=args.span, warm_up_seconds=args.warm_up),
                         programme, args.repeats)
    print(f"  one stream {one:.2f} s, spans {spanned:.2f} s = {one / spanned:.2f}x")
    print(f"  {'scene':36s} {'SNR vs stream':>14s} {'SI-SNRi stream':>15s} {'spans':>7s}")
    length = int(SCENE_SECONDS * MODEL_RATE)
    changes, matches = [], []
    for index, key in enumerate(scenes):
        part = slice(index * length, (index + 1) * length)
        truth, mix = dialogue[part], programme[0, part]
        base = si_snr(mix, truth)
        streamed, spanned_score = si_snr(reference[0, part], truth) - base, si_snr(out[0, part], truth) - base
        changes.append(spanned_score - streamed)
        matches.append(snr_db(reference[0, part], out[0, part]))
        print(f"  {' / '.join(f'{k:g}' if isinstance(k, float) else k for k in key):36s} "
              f"{matches[-1]:11.1f} dB {streamed:12.2f} dB {spanned_score:7.2f}")
    print(f"  whole file: {snr_db(reference, out):.1f} dB SNR against the stream, worst scene {min(matches):.1f} dB; "
          f"SI-SNRi change mean "
          f"{np.mean(changes):+.3f} dB, largest {max(changes, key=abs):+.3f} dB (gates: >= 40 dB, within 0.1 dB)")


if __name__ == "__main__":
    main()
