"""Removing finished build directories off the critical path.

A successful package's work directory (build directory, emptied ``DESTDIR``) is renamed
into ``<prefix>/var/tmp/mason/.trash/`` (one rename) and removed by one background
thread, so the job slot goes to the next build at once instead of waiting for a few dozen
``unlink``/``rmdir`` calls, which on ext4 queue behind the journal commits of the merges'
``fsync`` calls (measured: a third of a trivial package's time at ``-j2``, see
``docs/benchmarks.md``). The disk space is given back moments later, not at the end of
the run. Whatever a killed run left in the trash is removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import uuid
from pathlib import Path

from mason import builddirs
from mason.layout import TRASH_DIR


class Trash:
    """A trash directory with one thread emptying it; use as a context manager."""

    def __init__(self, prefix: Path) -> None:
        self.directory = prefix / TRASH_DIR  # beside the work directories: one filesystem
        self._queue: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._empty, name="mason-trash", daemon=True)

    def __enter__(self) -> Trash:
        self.directory.mkdir(parents=True, exist_ok=True)
        for left in self.directory.iterdir():  # from a run that was killed
            self._queue.put(left)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Wait until everything put into the trash is removed."""
        self._queue.put(None)
        self._thread.join()
        with contextlib.suppress(OSError):  # another run on this prefix still uses it
            self.directory.rmdir()

    def put(self, path: Path) -> None:
        """Move ``path`` (a finished work directory on the prefix's filesystem) out of the
        way, with the kept work directories of earlier failed builds of the same package
        (:func:`mason.builddirs.older_of`); they are removed in the background. Without a
        running trash, remove them right away."""
        for older in builddirs.older_of(path):
            self._put(older)
        self._put(path)
        builddirs.release(path)

    def _put(self, path: Path) -> None:
        if not self._thread.is_alive():
            shutil.rmtree(path, ignore_errors=True)
            return
        target = self.directory / f"{path.name}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, target)
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            return
        self._queue.put(target)

    def _empty(self) -> None:
        while (path := self._queue.get()) is not None:
            shutil.rmtree(path, ignore_errors=True)
