"""Reader/writer locks on files in ``<prefix>/var/lock/`` (flock).

``flock`` locks belong to the open file description, so they vanish when the process
dies (no stale lock ever blocks the next mason) and closing some other descriptor of the
same file does not drop them (the trap of POSIX ``lockf`` locks). Each :class:`Lock`
keeps one descriptor open while held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from mason.store.errors import LockTimeout

LockMode = Literal["shared", "exclusive"]


class Lock:
    """A shared (readers) / exclusive (writers) lock on one file, with timeouts.

    Not reentrant: a process that holds it and asks again gets a second, independent
    lock on a new descriptor, which would deadlock for exclusive; callers take it once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.mode: LockMode | None = None

    def acquire(self, mode: LockMode, timeout: float | None = None) -> None:
        """Take the lock; wait at most ``timeout`` seconds (``None``: forever)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: lock already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            self._wait(fd, mode, timeout)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.mode = mode

    def _wait(self, fd: int, mode: LockMode, timeout: float | None) -> None:
        op = fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX
        if timeout is None:
            fcntl.flock(fd, op)
            return
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                # EWOULDBLOCK: another process holds a conflicting lock; poll with backoff.
                if time.monotonic() >= deadline:
                    raise LockTimeout(str(self.path), mode, timeout) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.mode = None

    @contextmanager
    def shared(self, timeout: float | None = None) -> Iterator[Lock]:
        """Hold the lock shared (readers) for the ``with`` block."""
        self.acquire("shared", timeout)
        try:
            yield self
        finally:
            self.release()

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[Lock]:
        """Hold the lock exclusive (one writer) for the ``with`` block."""
        self.acquire("exclusive", timeout)
        try:
            yield self
        finally:
            self.release()
