"""A bounded read-ahead: items of an iterator produced by a background thread while the caller
computes (decoding, resampling and disk reads release the GIL)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
_DONE = object()
# how often a blocked producer checks whether the consumer went away (seconds)
_POLL_SECONDS = 0.1


def prefetched(items: Iterable[Item], depth: int) -> Iterator[Item]:
    """Yield `items` in order, produced up to `depth` ahead in a daemon thread.

    An exception raised by the producer is raised here, after the items before it. Closing this
    generator early (an error downstream, a signal) stops the producer at its next item.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    source = iter(items)

    def produce() -> None:
        try:
            for item in source:
                if not _put(ready, item, stop):
                    return
            _put(ready, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            _put(ready, _Failure(exc), stop)
        finally:
            getattr(source, "close", lambda: None)()  # a generator's files close now, not at GC

    worker = threading.Thread(target=produce, name="tuss-fx-prefetch", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.exception
            yield item
    finally:
        stop.set()
        worker.join()


class _Failure:
    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


def _put(ready: queue.Queue, item, stop: threading.Event) -> bool:
    """Queue item unless the consumer stopped; False when it did."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False
