"""The process groups of the recipe scripts running in this process.

Each script runs in a process group of its own (``process_group=0``), so that stopping a
build stops everything it started (``make -j``, compilers, test programs) and nothing
else, and so that a Ctrl-C on the terminal reaches mason alone: mason decides what to
stop (the builds) and what to finish (a merge in progress). :data:`BUILDS` is the
registry; :meth:`ProcessGroups.stop` signals every group, and a script started after
that is signalled at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class GroupLeader(Protocol):
    """A started script: a :class:`subprocess.Popen`, or one the sandbox started."""

    @property
    def pid(self) -> int | None: ...


class ProcessGroups:
    """Running scripts' process groups; thread-safe (builds run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        self._stop_signal: int | None = None

    @contextmanager
    def running(self, proc: GroupLeader) -> Iterator[None]:
        """Register ``proc`` (a group leader) while it runs."""
        assert proc.pid is not None
        with self._lock:
            self._groups.add(proc.pid)
            late = self._stop_signal
        if late is not None:
            _signal_group(proc.pid, late)
        try:
            yield
        finally:
            with self._lock:
                self._groups.discard(proc.pid)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` to every running group, and to any started later; returns how
        many groups were signalled."""
        with self._lock:
            self._stop_signal = signum
            groups = sorted(self._groups)
        for pgid in groups:
            _signal_group(pgid, signum)
        return len(groups)

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (and not :meth:`reset` since)."""
        with self._lock:
            return self._stop_signal is not None

    def reset(self) -> None:
        """Let scripts run again (a new run in the same process)."""
        with self._lock:
            self._stop_signal = None


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it just ended
        os.killpg(pgid, signum)


BUILDS = ProcessGroups()
