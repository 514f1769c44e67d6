"""The read-ahead thread: order, errors where they happened, and a clean stop when abandoned."""

import threading
import time

import pytest

from tuss_fx.separation.prefetch import prefetched


def test_items_arrive_in_order_and_ahead_of_the_consumer():
    produced = []

    def source():
        for index in range(20):
            produced.append(index)
            yield index

    seen = []
    for item in prefetched(source(), depth=3):
        time.sleep(0.01)
        seen.append(item)
        if item == 0:
            time.sleep(0.1)
            assert len(produced) >= 4  # the producer ran ahead while the consumer was busy
    assert seen == list(range(20))


def test_a_producer_error_is_raised_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(source(), depth=2):
            seen.append(item)
    assert seen == [1, 2]


def test_abandoning_the_consumer_stops_and_closes_the_producer():
    closed = threading.Event()

    def endless():
        try:
            index = 0
            while True:
                yield index
                index += 1
        finally:
            closed.set()

    stream = prefetched(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # an error downstream or a signal does this
    assert closed.is_set()
    assert not any(t.name == "tuss-fx-prefetch" and t.is_alive() for t in threading.enumerate())
