"""The lock a prefix's threads take turns through: the most urgent waiter goes first.

A run merges from up to ``-j`` threads (and more finishing at once), one at a time under
the prefix lock. With a plain lock the next merge is whichever thread the OS wakes; on a
loaded machine a merge waits 15-55 ms behind the others, and when it is the merge of the
package that the run's critical path waits for, all of that is added to the makespan
(``docs/benchmarks.md``, scheduling). :class:`TurnLock` gives the lock, when it is freed,
to the waiter with the highest ``priority`` (the caller's: the scheduler's critical path
of the package), in arrival order among equals.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TurnLock:
    """A mutual exclusion lock whose waiters go in order of priority (not reentrant)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held = False
        self._queue: list[tuple[float, int]] = []  # (-priority, arrival) of each waiter
        self._arrivals = itertools.count()

    def acquire(self, priority: float = 0.0) -> None:
        """Wait for the lock; among waiters, the highest ``priority`` gets it first."""
        with self._cond:
            if not self._held and not self._queue:
                self._held = True
                return
            me = (-priority, next(self._arrivals))
            heapq.heappush(self._queue, me)
            try:
                while self._held or self._queue[0] != me:
                    self._cond.wait()
            except BaseException:  # interrupted while waiting: leave the queue
                self._queue.remove(me)
                heapq.heapify(self._queue)
                self._cond.notify_all()
                raise
            heapq.heappop(self._queue)
            self._held = True

    def release(self) -> None:
        with self._cond:
            if not self._held:
                raise RuntimeError("release of a TurnLock that is not held")
            self._held = False
            self._cond.notify_all()

    def waiting(self) -> int:
        """How many threads wait for the lock now."""
        with self._cond:
            return len(self._queue)

    @contextmanager
    def turn(self, priority: float = 0.0) -> Iterator[None]:
        """Hold the lock for a block, waiting as ``priority``."""
        self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
