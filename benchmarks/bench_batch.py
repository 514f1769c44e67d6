"""Files per hour of `tuss-fx batch`: one worker, --workers 2, and Ray with two local actors, same inputs.

Usage: python benchmarks/bench_batch.py [--files 8] [--seconds 30] [--checkpoint default]
       [--mode separate|remix] [--no-ray]

Writes FILES stereo 48 kHz noise files of SECONDS each, runs the batch engine (tuss_fx.batch.local,
the code path of `tuss-fx batch`, manifest included) once per configuration into a fresh output
folder, and prints files per hour, real-time factor and the ratio to one worker measured in the
same run. Each configuration's time includes loading its models, which is the overhead a batch
pays per worker or actor. Ray runs on a local instance this script starts with 2 CPUs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from tuss_fx.batch.jobs import BatchJob
from tuss_fx.batch.local import run_batch


def write_inputs(folder: Path, files: int, seconds: float) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for index in range(files):
        path = folder / f"take{index:02d}.wav"
        sf.write(path, (rng.standard_normal((int(seconds * 48000), 2)) * 0.1).astype(np.float32), 48000,
                 subtype="PCM_16")
        paths.append(path)
    return paths


def timed(job: BatchJob, inputs: list[Path], workers: int, ray_address: str | None) -> float:
    start = time.perf_counter()
    summary = run_batch(job, inputs, workers, ray_address)
    elapsed = time.perf_counter() - start
    if summary.done != len(inputs):
        raise SystemExit(f"{summary.failed} files failed; see {summary.manifest}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--checkpoint", default="default")
    parser.add_argument("--mode", choices=["separate", "remix"], default="separate")
    parser.add_argument("--no-ray", action="store_true", help="Skip the Ray configuration.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = write_inputs(Path(tmp), args.files, args.seconds)
        configurations = [("1 worker", 1, None), ("--workers 2", 2, None)]
        if not args.no_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            configurations.append(("Ray, 2 actors", 2, "auto"))
        audio_seconds = args.files * args.seconds
        baseline = None
        print(f"{args.files} files x {args.seconds:g} s, {args.mode}, checkpoint {args.checkpoint}")
        for name, workers, address in configurations:
            job = BatchJob(args.mode, Path(tmp) / name.replace(" ", "_"), checkpoint=args.checkpoint)
            elapsed = timed(job, inputs, workers, address)
            baseline = baseline or elapsed
            print(f"{name:<15} {elapsed:7.1f} s  {args.files / elapsed * 3600:8.0f} files/h  "
                  f"{audio_seconds / elapsed:5.1f}x real time  {baseline / elapsed:5.2f}x one worker")


if __name__ == "__main__":
    main()
