"""Hashing a staged tree's files: one open per file, on every core of the budget.

Each file is opened once (``O_NOFOLLOW``, ``O_NONBLOCK``: a path swapped for a link or a
fifo since the walk is refused, never followed nor waited on); its size, mode and link
count come from ``fstat`` of that descriptor and its digest from reading it.

With ``jobs > 1`` the paths are split between forked worker processes. Processes, not
threads: the files of a package are mostly small, and ``hashlib`` keeps the GIL for
inputs under 2 KiB, so threads hash one file at a time (docs/benchmarks.md, "merge"). A
process that already runs threads (a build's job threads) is never forked: it hashes in
threads instead, which is safe and still overlaps the system calls.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20
#: below this many files per worker, a worker costs more than it saves
MIN_PER_WORKER = 2000


#: What one open of a regular file told: its digest and its ``fstat``: ``(sha256 hex, size,
#: mode, nlink, dev, ino)``. Plain tuples: they cross the workers' pipes fast.
Hashed = tuple[str, int, int, int, int, int]
#: A file that could not be opened or read: ``(errno, reason)`` (errno 0: not a regular file).
Failed = tuple[int, str]
Result = Hashed | Failed


def failed(res: Result) -> Failed | None:
    """``res`` if the file could not be hashed, else None."""
    return res if len(res) == 2 else None


def hash_one(path: str) -> Result:
    """Open ``path`` once: its digest and metadata, or why it could not be read."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        return (e.errno or 0, e.strerror or str(e))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return (0, "is not a regular file")
        h = hashlib.sha256()
        left = st.st_size  # read what fstat saw: one read for a small file, not two
        while left > 0 and (chunk := os.read(fd, min(left, _CHUNK))):
            h.update(chunk)
            left -= len(chunk)
        return (h.hexdigest(), st.st_size, st.st_mode, st.st_nlink, st.st_dev, st.st_ino)
    except OSError as e:
        return (e.errno or 0, e.strerror or str(e))
    finally:
        os.close(fd)


def _serial(paths: Sequence[str]) -> list[Result]:
    return [hash_one(p) for p in paths]


def in_threads(paths: Sequence[str], jobs: int) -> list[Result]:
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(hash_one, paths, chunksize=256))


def in_processes(paths: Sequence[str], jobs: int) -> list[Result]:
    """Fork ``jobs - 1`` workers for contiguous slices; this process hashes the first one.

    A worker sends its pickled results through a pipe and exits without cleanup
    (``os._exit``); if one dies, its slice is hashed here.
    """
    bounds = [len(paths) * k // jobs for k in range(jobs + 1)]
    workers: list[tuple[int, int, int]] = []  # pid, read end, slice number
    for k in range(1, jobs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            try:
                os.close(r)
                data = pickle.dumps(_serial(paths[bounds[k] : bounds[k + 1]]), protocol=5)
                with os.fdopen(w, "wb") as out:
                    out.write(data)
            finally:
                os._exit(0)
        os.close(w)
        workers.append((pid, r, k))
    results = [_serial(paths[bounds[0] : bounds[1]])]
    for pid, r, k in workers:
        with os.fdopen(r, "rb") as f:
            data = f.read()
        os.waitpid(pid, 0)
        try:
            part: list[Result] = pickle.loads(data)
        except (pickle.UnpicklingError, EOFError):
            part = _serial(paths[bounds[k] : bounds[k + 1]])
        if len(part) != bounds[k + 1] - bounds[k]:
            part = _serial(paths[bounds[k] : bounds[k + 1]])
        results.append(part)
    return [res for part in results for res in part]


def hash_files(paths: Sequence[str], jobs: int = 1) -> list[Result]:
    """:func:`hash_one` of every path, in order, on up to ``jobs`` cores."""
    jobs = max(1, min(jobs, len(paths) // MIN_PER_WORKER))
    if jobs == 1:
        return _serial(paths)
    run: Callable[[Sequence[str], int], list[Result]] = (
        in_processes if threading.active_count() == 1 else in_threads
    )
    return run(paths, jobs)


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
