"""Running a batch: the manifest decides what is left, then N local worker processes (one model
each) or a Ray cluster do it, and every result comes back to the one process that writes the manifest.

Local workers are spawned (a fresh interpreter: no forked torch thread pools, and the one start method
Windows and macOS both have), split the CPU threads between them, and turn SIGTERM/SIGHUP into a clean
stop as the CLI does. A batch that stops asks its workers to stop through an event they look at with
every block they write (signals.stop_when), and on POSIX with SIGTERM too, which also interrupts a
worker between blocks; on Windows a SIGTERM would kill the worker without its clean-up. A worker that dies with
an input in flight (a crash, an out-of-memory kill) gets that input recorded as failed.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tuss_fx.batch.jobs import BatchJob, Manifest, Result, check_outputs_distinct, failed_entry, run_identity
from tuss_fx.mix.presets import load_preset
from tuss_fx.separation.checkpoint import weights_digest
from tuss_fx.separation.separator import Separator
from tuss_fx.signals import Terminated, signals_reach_other_processes, stop_when, terminate_by_exception

STOP_TIMEOUT_SECONDS = 30  # a worker finishing its clean-up after SIGTERM; then it is killed


@dataclass(frozen=True)
class BatchSummary:
    done: int
    skipped: int
    failed: int
    manifest: Path


def run_batch(job: BatchJob, inputs: Sequence[Path], workers: int = 1, ray_address: str | None = None,
              on_entry: Result | None = None) -> BatchSummary:
    """Run `job` on every input not already done (Manifest.is_done), recording each result.

    on_entry receives every input's manifest entry as it finishes, and {"input", "status":
    "skipped"} for the ones a previous run finished.

    Raises:
        BatchError: two inputs would write one output. CheckpointError / PresetError / PromptError:
            a bad model, preset or prompt, before any work starts.
    """
    check_outputs_distinct(job, inputs)
    separator = Separator.from_pretrained(job.checkpoint, device="cpu")
    if job.mode == "separate":
        separator.check_prompts(job.prompts)
    else:
        load_preset(job.preset, job.overrides).check_prompts(separator.prompts)
    identity = run_identity(job, weights_digest(separator.model))
    del separator  # each worker loads its own
    manifest = Manifest(job.out_dir)
    counts = {"done": 0, "skipped": 0, "failed": 0}
    todo = []
    for path in inputs:
        if manifest.is_done(path, identity):
            counts["skipped"] += 1
            if on_entry:
                on_entry({"input": str(path), "status": "skipped"})
        else:
            todo.append(path)

    def record(entry: dict) -> None:
        entry = {**entry, **identity}
        manifest.append(entry)
        counts[entry["status"]] += 1
        if on_entry:
            on_entry(entry)

    if ray_address:
        from tuss_fx.batch.ray_cluster import run_ray

        run_ray(job, todo, ray_address, record, actors=workers)
    else:
        run_local(job, todo, workers, record)
    return BatchSummary(counts["done"], counts["skipped"], counts["failed"], manifest.path)


def run_local(job: BatchJob, inputs: Sequence[Path | str], workers: int, on_result: Result) -> None:
    """Process every item (an input file; a conform's range key: any job with load_separator() and
    process(separator, item)), calling on_result(entry) in the calling process as each one finishes."""
    if workers == 1 or len(inputs) <= 1:
        separator = job.load_separator()
        for path in inputs:
            on_result(job.process(separator, str(path)))
        return
    context = multiprocessing.get_context("spawn")
    tasks, results = context.Queue(), context.Queue()
    for path in inputs:
        tasks.put(str(path))
    threads = max(1, (os.cpu_count() or 1) // workers)
    stop = context.Event()
    processes = [context.Process(target=_worker, args=(job, threads, tasks, results, stop), daemon=True)
                 for _ in range(min(workers, len(inputs)))]
    for _ in processes:
        tasks.put(None)
    for process in processes:
        process.start()
    try:
        _collect(processes, results, {str(path) for path in inputs}, on_result)
    finally:
        _stop(processes, stop)


def _collect(processes, results, unreported: set[str], on_result: Result) -> None:
    in_flight: dict[int, str] = {}  # worker pid -> input
    while unreported:
        try:
            kind, pid, payload = results.get(timeout=0.5)
        except queue.Empty:
            for process in processes:
                if not process.is_alive() and process.pid in in_flight:
                    lost = in_flight.pop(process.pid)
                    unreported.discard(lost)
                    on_result(failed_entry(lost, f"the worker process died (exit status {process.exitcode})"))
            if not any(process.is_alive() for process in processes):
                for lost in sorted(unreported):
                    on_result(failed_entry(lost, "no worker process left to run it"))
                return
            continue
        if kind == "start":
            in_flight[pid] = payload
        else:
            in_flight.pop(pid, None)
            unreported.discard(payload["input"])
            on_result(payload)


def _stop(processes, stop) -> None:
    """Ask live workers to stop (they remove their temporary files), then wait; kill the stuck."""
    stop.set()
    for process in processes:
        if process.is_alive() and signals_reach_other_processes():
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(STOP_TIMEOUT_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def _worker(job: BatchJob, threads: int, tasks, results, stop) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        with terminate_by_exception(), stop_when(stop.is_set):
            separator = job.load_separator()
            while (item := tasks.get()) is not None:
                results.put(("start", os.getpid(), item))
                results.put(("done", os.getpid(), job.process(separator, item)))
    except (Terminated, KeyboardInterrupt):
        return  # stopped by the batch (or Ctrl-C): the input in flight cleaned up after itself
