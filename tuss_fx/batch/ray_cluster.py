"""Jobs on a Ray cluster: one model per actor, one item in flight per actor, a lost task retried once.
A job is a batch's BatchJob (items: input files) or a conform's ConformJob (items: source ranges):
anything picklable with load_separator() and process(separator, item) -> its manifest entry.

Paths are shared storage, as on a render farm: the driver lists the inputs and writes the
manifest, actors read and write the files. Each node needs tuss-fx installed (`pip install
"tuss-fx[ray]"`). A bad file is not retried (process_input records it); a task that dies with
its actor (a node lost, a crash) is run once more on a live actor, then recorded as failed.
Ctrl-C or SIGTERM cancels the tasks in flight and stops. Ray's cancel of a running actor task only sets
a flag (the task is not interrupted); the actor hands it to signals.stop_when, so the task stops at its
next written block and removes its temporary files as Ctrl-C would.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from tuss_fx.batch.jobs import BatchError, BatchJob, Result, failed_entry
from tuss_fx.signals import Terminated, handled_signals, stop_when

CANCEL_GRACE_SECONDS = 30  # tasks finishing their clean-up after a cancel; then actors are killed
WAIT_SLICE_SECONDS = 0.5  # the longest a Ctrl-C or SIGTERM waits to be seen while tasks run
# an actor not started by then was not placed (the cluster lacks what it asks) or cannot load its model:
# an error naming the resources, never a batch that waits forever
PLACEMENT_SECONDS = 600


class _Worker:
    """The actor: loads the model once, then processes one item per call."""

    def __init__(self, job: BatchJob) -> None:
        self._job = job
        self._separator = job.load_separator()

    def run(self, item: str) -> dict:
        import ray

        with stop_when(ray.get_runtime_context().is_canceled):
            return self._job.process(self._separator, item)

    def ready(self) -> bool:
        """Answers once the actor is placed and its model loaded."""
        return True


def actor_share(cluster: dict[str, float], actors: int) -> tuple[float, float]:
    """(CPUs, GPUs) each of `actors` asks for: one CPU, and on a cluster with GPUs one GPU each while
    there are enough, else an equal fraction of them (Ray places fractional GPUs on one device), so that
    every actor fits; likewise a fraction of the CPUs where there are fewer CPUs than actors."""
    cpus = min(1.0, cluster.get("CPU", 1.0) / actors)
    gpus = min(1.0, cluster.get("GPU", 0.0) / actors)
    return cpus, gpus


def run_ray(job: BatchJob, inputs: Sequence[Path | str], address: str, on_result: Result, actors: int = 1) -> None:
    """Process every item (an input file, a range key) on the cluster at `address` ("auto", "host:port"
    or "ray://host:10001").

    Raises:
        BatchError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise BatchError("--ray", "Ray is not installed: pip install \"tuss-fx[ray]\"") from None
    handlers = {signum: signal.getsignal(signum) for signum in handled_signals()}
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BatchError(address, f"cannot connect to the Ray cluster ({exc})") from None
    for signum, handler in handlers.items():  # Ray's core installs its own, which aborts the driver (exit -6)
        if handler is not None:
            signal.signal(signum, handler)
    count = max(1, min(actors, len(inputs)))
    cluster = ray.cluster_resources()
    cpus, gpus = actor_share(cluster, count)
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus)(_Worker)
    pool = [remote.remote(job) for _ in range(count)]
    _wait_placed(ray, pool, cpus, gpus, cluster)
    queue = [(str(path), 0) for path in inputs]
    running: dict = {}  # ObjectRef -> (input, attempt, actor)
    try:
        while queue or running:
            idle = [actor for actor in pool if actor not in {a for _, _, a in running.values()}]
            while queue and idle:
                path, attempt = queue.pop(0)
                actor = idle.pop()
                running[actor.run.remote(path)] = (path, attempt, actor)
            # in slices: a signal's handler runs only when Ray's C++ wait returns, so a wait for a task that
            # takes an hour would hold a SIGTERM that long
            done, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_SLICE_SECONDS)
            if not done:
                continue
            path, attempt, actor = running.pop(done[0])
            try:
                on_result(ray.get(done[0]))
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError) \
                    as exc:
                if isinstance(exc, ray.exceptions.RayActorError):  # gone for good: a fresh actor takes its place
                    pool[pool.index(actor)] = remote.remote(job)
                if attempt == 0:
                    queue.insert(0, (path, 1))
                else:
                    on_result(failed_entry(path, f"failed twice on the Ray cluster ({type(exc).__name__})"))
    except BaseException as exc:
        for ref in running:
            ray.cancel(ref)  # the task's stop flag: it stops at its next block and removes its temporaries
        ray.wait(list(running), num_returns=len(running), timeout=CANCEL_GRACE_SECONDS)
        stop = _stop_request(exc)
        if stop is not None and stop is not exc:
            raise stop from None  # the signal arrived inside Ray's C++ wait, which wrapped it in a SystemError
        raise
    finally:
        for actor in pool:
            ray.kill(actor)


def _wait_placed(ray, pool: list, cpus: float, gpus: float, cluster: dict[str, float],
                 timeout_seconds: float = PLACEMENT_SECONDS) -> None:
    """Wait until every actor is up; one that is not within the timeout is a BatchError naming what it asks."""
    pending = [actor.ready.remote() for actor in pool]
    ready, waiting = ray.wait(pending, num_returns=len(pending), timeout=timeout_seconds)
    if waiting:
        for actor in pool:
            ray.kill(actor)
        raise BatchError("--ray", f"{len(waiting)} of {len(pool)} actors not started after {timeout_seconds:g} s: each "
                                  f"asks {cpus:g} CPU and {gpus:g} GPU, the cluster has {cluster.get('CPU', 0):g} CPUs "
                                  f"and {cluster.get('GPU', 0):g} GPUs (or the model does not load there)")
    for done in ready:
        ray.get(done)  # an actor whose model failed to load raises here, as it would on its first item


def _stop_request(exc: BaseException | None) -> BaseException | None:
    """The Terminated or KeyboardInterrupt that `exc` is, or was raised while handling, if any."""
    while exc is not None:
        if isinstance(exc, (Terminated, KeyboardInterrupt)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
