"""Does the dialogue engine go faster cut into chunks run as one batch? Measured before building it.

Usage: python benchmarks/dfn_chunking.py [--seconds 120] [--chunk 10 --chunk 30] [--warm-up 2 --warm-up 8 ...]

The long-films issue proposed DeepFilterNet3 offline in chunks: each chunk of a file run from a fresh
state after a warm-up overlap (the samples before it), the chunks and channels as one batch, the
warm-up's output dropped. Two things decide it, both printed here with the CPU and torch's threads:
  speed   the same 2 x N seconds of stereo through one DeepFilterNet3Stream as batches of 2, 4, ... 64
          signals (no warm-up): whether a wider batch is cheaper per sample on this machine; then the
          chunked engine (with its warm-up) against the stream, as a ratio of times in this run;
  match   the chunked output against the stream's (SNR in dB), on real scenes (a reading over the real
          suite's orchestra, strings and trumpet, 0 dB, one after another, the right channel offset).
The file's first chunk starts where the stream does, from the initial state with no warm-up (an earlier
version fed it a warm-up of silence, whose state then differed most: the error it measured grew with the
warm-up). The others need a long warm-up: the GRUs and the running feature normalisation remember some
10 s (on 120 s of the real scenes: about 30 dB with 2 s of warm-up, 40 dB or more from 8 s on).
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
from ride_gates import scene  # noqa: E402

from tuss_fx.deepfilternet import enhance, load_network  # noqa: E402
from tuss_fx.deepfilternet.features import HOP_SIZE  # noqa: E402
from tuss_fx.train.real_suite import MODEL_RATE, MUSIC  # noqa: E402

LOOKAHEAD_SAMPLES = 4 * HOP_SIZE  # past the chunk's end: covers the engine's 1440-sample look-ahead


def chunked(network, signal: np.ndarray, chunk_seconds: float, warm_up_seconds: float) -> np.ndarray:
    """(C, n) -> (C, n): every chunk from a fresh state after its warm-up, all chunks as one batch."""
    length = int(chunk_seconds * MODEL_RATE) // HOP_SIZE * HOP_SIZE
    warm_up = int(warm_up_seconds * MODEL_RATE) // HOP_SIZE * HOP_SIZE
    channels, total = signal.shape
    span = warm_up + length + LOOKAHEAD_SAMPLES
    pieces, offsets = [], []
    for start in range(0, total, length):
        first = max(0, start - warm_up)  # the first chunk starts where the stream does, with no warm-up
        piece = np.zeros((channels, span), np.float32)
        last = min(total, first + span)
        piece[:, :last - first] = signal[:, first:last]
        pieces.append(piece)
        offsets.append(start - first)
    out = enhance(network, np.concatenate(pieces), lanes=1).reshape(len(pieces), channels, -1)
    return np.concatenate([part[:, offset:offset + length] for part, offset in zip(out, offsets)], axis=1)[:, :total]


def timed(function, *args, repeats: int = 2) -> tuple[float, np.ndarray]:
    """Best of `repeats` (single runs on this machine moved by up to 1.5x between calls) and the result."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--chunk", dest="chunks", type=float, action="append")
    parser.add_argument("--warm-up", dest="warm_ups", type=float, action="append")
    args = parser.parse_args()
    network = load_network()
    samples = int(args.seconds * MODEL_RATE)
    programme = np.concatenate([sum(scene("ljspeech-female", music, 0.0)) for music in MUSIC])
    mono = np.resize(programme, samples).astype(np.float32)
    stereo = np.stack([mono, np.roll(mono, 12345)])
    enhance(network, stereo[:, :MODEL_RATE])  # warm the kernels
    print(f"{cpu_name()}, torch threads {torch.get_num_threads()}, {args.seconds:g} s of stereo")
    stream_seconds, reference = timed(lambda signal: enhance(network, signal, lanes=1), stereo)
    print(f"stream (batch 2): {stream_seconds:.2f} s")
    for batch in (4, 8, 16, 32, 64):
        seconds, _ = timed(lambda signal: enhance(network, signal, lanes=1), stereo.reshape(batch, -1))
        print(f"batch {batch:2d} of {args.seconds * 2 / batch:5.2f} s: {seconds:.2f} s = "
              f"{stream_seconds / seconds:.2f}x the stream")
    for chunk in args.chunks or [10.0, 30.0]:
        for warm_up in args.warm_ups or [2.0, 8.0, 12.0, 16.0]:
            seconds, out = timed(chunked, network, stereo, chunk, warm_up)
            snr = 10 * np.log10(np.sum(reference ** 2) / np.sum((out - reference) ** 2))
            print(f"chunks of {chunk:g} s, warm-up {warm_up:g} s: {seconds:.2f} s = {stream_seconds / seconds:.2f}x "
                  f"the stream, {snr:.1f} dB SNR against it")


if __name__ == "__main__":
    main()
