"""Reader/writer locks on files in ``<prefix>/var/lock/`` (flock).

``flock`` locks belong to the open file description, so they vanish when the process
dies (no stale lock ever blocks the next mason) and closing some other descriptor of the
same file does not drop them (the trap of POSIX ``lockf`` locks). Each :class:`Lock`
keeps one descriptor open while held.

A process waiting longer than :data:`WAIT_NOTICE` is told who holds the lock (its pid and
command line, :class:`LockWait`, through the process's :class:`LockPolicy`, which the
command line sets: ``--lock-timeout``, and a message) and keeps waiting. The kernel knows
the holder (``/proc/locks`` names the pid holding a ``flock`` on the lock file's inode), so
nothing is written to find it out: taking a lock changes no file of the prefix.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mason.store.errors import LockHolder, LockTimeout

LockMode = Literal["shared", "exclusive"]

#: what opening a file for writing fails with on a read-only mount or without permission
READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


#: Seconds of waiting for a lock after which the waiter is told who holds it.
WAIT_NOTICE = 1.0


@dataclass(frozen=True)
class LockWait:
    """A process has waited :data:`WAIT_NOTICE` seconds for ``path`` (it keeps waiting)."""

    path: Path
    mode: LockMode
    holder: LockHolder | None  # None: the lock file does not say


@dataclass(frozen=True)
class LockPolicy:
    """How this process waits for locks: ``timeout`` seconds at most (``None``: forever)
    unless the caller gives one, telling ``on_wait`` once it has waited a while."""

    timeout: float | None = None
    on_wait: Callable[[LockWait], None] | None = None


_policy = LockPolicy()


def set_policy(policy: LockPolicy) -> None:
    """Set how every lock of this process waits (the command line does, once)."""
    global _policy
    _policy = policy


def read_holder(path: Path) -> LockHolder | None:
    """A process holding a lock on ``path`` other than this one (of several shared
    holders, the first the kernel lists); ``None`` when none is found."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            table = f.read().splitlines()
    except OSError:
        return None
    inode = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in table:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 12345 fe:00:2146642 0 EOF"; waiters have "->"
        if len(fields) < 6 or fields[1] != "FLOCK" or not fields[4].isdigit():
            continue
        parts = fields[5].split(":")
        try:
            where = (int(parts[0], 16), int(parts[1], 16), int(parts[2]))
        except (IndexError, ValueError):
            continue
        pid = int(fields[4])
        if where == inode and pid != os.getpid():
            return LockHolder(pid, _command_line(pid))
    return None


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "(command line unknown)"
    return shlex.join(args) if args else "(command line unknown)"


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
        """Take the lock; wait at most ``timeout`` seconds (``None``: the process's
        :class:`LockPolicy`, by default forever)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: lock already held by this object")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if mode == "exclusive" or e.errno not in READ_ONLY_ERRNOS:
                raise
            fd = self._read_only_fd()
        try:
            self._wait(fd, mode, timeout if timeout is not None else _policy.timeout)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.mode = mode

    def _read_only_fd(self) -> int:
        """A descriptor to take a shared lock on where the lock file cannot be written.

        flock works on a read-only descriptor. Where the lock file does not exist (a
        read-only copy of a prefix), the nearest existing directory above it stands in:
        no process can write this prefix through this mount to race with.
        """
        place = self.path
        while not place.exists() and place != place.parent:
            place = place.parent
        return os.open(place, os.O_RDONLY | os.O_CLOEXEC)

    def _wait(self, fd: int, mode: LockMode, timeout: float | None) -> None:
        op = fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX
        on_wait = _policy.on_wait
        if timeout is None and on_wait is None:
            fcntl.flock(fd, op)
            return
        start = time.monotonic()
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                # EWOULDBLOCK: another process holds a conflicting lock; poll with backoff.
                now = time.monotonic()
                if timeout is not None and now >= start + timeout:
                    holder = read_holder(self.path)
                    raise LockTimeout(str(self.path), mode, timeout, holder) from None
                if on_wait is not None and now - start >= WAIT_NOTICE:
                    on_wait(LockWait(self.path, mode, read_holder(self.path)))
                    on_wait = None  # once
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
