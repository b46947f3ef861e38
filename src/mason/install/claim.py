"""One build of a package at a time per prefix, across mason processes (issue 16.7).

Two ``mason install`` runs on one prefix with overlapping packages must not build the
same package twice. Before building a package, a run takes ``var/lock/build/<name>.lock``
(``flock``, exclusive; the holder writes its pid into it). A run that finds it taken says
so ("being built by pid N, waiting") and waits; once it has the lock, if the other run
merged that version meanwhile it uses the result instead of building again, and if the
other run failed or was killed (``flock`` locks vanish with their process) it builds the
package itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mason.build.groups import BUILDS
from mason.errors import MasonError
from mason.layout import LOCK_DIR

POLL_SECONDS = 0.05


class StoppedWaiting(MasonError):
    """The run was stopped (Ctrl-C, SIGTERM) while waiting for another run's build."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: stopped while waiting for another mason run to build it")


def _wait_for(fd: int, name: str) -> None:
    """Block until the lock is ours; a stopped run (Ctrl-C) stops waiting."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if BUILDS.stopping:
                raise StoppedWaiting(name) from None
            time.sleep(POLL_SECONDS)


def lock_path(prefix: Path, name: str) -> Path:
    return prefix / LOCK_DIR / "build" / f"{name}.lock"


@contextmanager
def build_claim(prefix: Path, name: str, on_wait: Callable[[str], None]) -> Iterator[bool]:
    """Hold the build lock of ``name``; yields whether another process held it first
    (``on_wait`` was called with who, before waiting).

    The lock file is removed when released (a refused package leaves the prefix as it
    was), so a lock taken on a file that was removed meanwhile is dropped and taken again
    on the current one.
    """
    path = lock_path(prefix, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not waited:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                on_wait(f"being built by pid {holder} (another mason run), waiting")
            waited = True
            try:
                _wait_for(fd, name)  # until the holder ends: merged, failed or killed
            except BaseException:
                os.close(fd)
                raise
        if _is_current(fd, path):
            break
        os.close(fd)  # the holder removed it when done: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield waited
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)  # drops the lock


def _is_current(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
