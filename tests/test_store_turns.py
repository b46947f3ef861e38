"""The prefix's thread lock (:class:`mason.store.turns.TurnLock`): when it is freed, the
waiter with the highest priority gets it (the merge the critical path waits for), in
arrival order among equals; and it still lets one thread in at a time."""

from __future__ import annotations

import threading
import time

import pytest

from mason.store.turns import TurnLock


def _queued(lock: TurnLock, n: int) -> None:
    """Wait until ``n`` threads wait for ``lock`` (not a timing assertion: a bound on a hang)."""
    deadline = time.monotonic() + 60
    while lock.waiting() < n:
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.001)


def _waiter(lock: TurnLock, priority: float, order: list[str], name: str) -> threading.Thread:
    def take() -> None:
        with lock.turn(priority):
            order.append(name)

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def test_the_most_urgent_waiter_goes_first_then_arrival_order() -> None:
    lock = TurnLock()
    order: list[str] = []
    lock.acquire()
    threads = []
    for n, (name, priority) in enumerate(
        [("short", 1.0), ("critical", 20.0), ("first-of-two", 5.0), ("second-of-two", 5.0)]
    ):
        threads.append(_waiter(lock, priority, order, name))
        _queued(lock, n + 1)  # one at a time: their arrival order is known
    lock.release()
    for thread in threads:
        thread.join()
    assert order == ["critical", "first-of-two", "second-of-two", "short"]
    assert lock.waiting() == 0


def test_one_thread_at_a_time() -> None:
    lock = TurnLock()
    inside: list[int] = []
    most = [0]
    start = threading.Barrier(8)

    def work(priority: float) -> None:
        start.wait()
        for _ in range(200):
            with lock.turn(priority):
                inside.append(1)
                most[0] = max(most[0], len(inside))
                inside.pop()

    threads = [threading.Thread(target=work, args=(float(i % 3),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    assert lock.waiting() == 0


def test_a_free_lock_is_taken_at_once_and_a_release_without_it_is_an_error() -> None:
    lock = TurnLock()
    with lock:
        assert lock.waiting() == 0
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
