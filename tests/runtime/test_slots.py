from __future__ import annotations

import threading
import time

import pytest

from livefilter.runtime.slots import BoundedQueue, LatestSlot


def test_put_latest_drops_the_oldest_and_counts_it() -> None:
    queue = BoundedQueue[int](3)
    dropped = [queue.put_latest(i) for i in range(10)]
    assert sum(dropped) == 7 and len(queue) == 3 and queue.peak == 3
    assert [queue.get(0.0) for _ in range(4)] == [7, 8, 9, None]


def test_put_wait_blocks_until_room_and_gives_up_on_stop() -> None:
    queue, stop = BoundedQueue[int](1), threading.Event()
    assert queue.put_wait(1, stop)
    threading.Timer(0.05, queue.get, args=(0.0,)).start()
    assert queue.put_wait(2, stop)  # room was made by the consumer
    assert queue.get(0.0) == 2

    queue.put_wait(3, stop)
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    assert not queue.put_wait(4, stop)
    assert time.monotonic() - started < 1.0 and len(queue) == 1


def test_get_newest_skips_older_items() -> None:
    queue = BoundedQueue[int](4)
    for i in range(4):
        queue.put_latest(i)
    assert queue.get_newest(0.0) == (3, 3)
    assert queue.get_newest(0.0) == (None, 0)


def test_finished_only_after_close_and_drain() -> None:
    queue = BoundedQueue[int](2)
    queue.put_latest(1)
    queue.close()
    assert not queue.finished
    assert queue.get(0.0) == 1
    assert queue.finished
    with pytest.raises(RuntimeError, match="after close"):
        queue.put_latest(2)


def test_consume_waits_for_items_until_the_producer_closes_or_stop() -> None:
    queue, stop = BoundedQueue[int](2), threading.Event()

    def produce() -> None:
        for i in range(5):
            queue.put_wait(i, stop)
            time.sleep(0.01)  # the consumer finds the queue empty in between
        queue.close()

    threading.Thread(target=produce).start()
    assert list(queue.consume(stop)) == [0, 1, 2, 3, 4]

    endless = BoundedQueue[int](2)  # never closed: only stop ends it
    endless.put_latest(7)
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert list(endless.consume(stop)) == [7]
    assert time.monotonic() - started < 2.0


def test_get_wakes_up_when_an_item_arrives() -> None:
    queue = BoundedQueue[int](1)
    threading.Timer(0.05, queue.put_latest, args=(5,)).start()
    assert queue.get(5.0) == 5


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity >= 1"):
        BoundedQueue(capacity)


def test_latest_slot_keeps_only_the_newest() -> None:
    slot = LatestSlot[int]()
    for i in range(100):
        slot.put(i)
    assert slot.get() == 99
