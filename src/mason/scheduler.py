"""Running a DAG of jobs (package builds) under one global job budget.

The budget is a :class:`~mason.jobserver.Jobserver` of ``N`` slots. The first running job
uses the implicit slot; the scheduler takes a token from the pool for each further job it
runs at the same time and gives it back when that job ends, so packages and the ``make``
jobs inside them share the same ``N`` slots. Among ready jobs, the one with the longest
remaining critical path (its weight plus the heaviest chain of dependents) starts first.

``work(name)`` runs in a worker thread and raises on failure. A job whose heavy part is over
(a package's build scripts ran; what is left is the scan, the merge and the record, which
need no build slot) calls :func:`release_slot` from its thread: from then on it no longer
counts against the budget, and its slot goes to the next ready job. Without ``keep_going`` the
first failure stops new starts and lets running jobs finish; with it, every job that does
not depend on a failure still runs. Dependents of a failure are *skipped* (naming it);
jobs left out otherwise (no ``-k``, Ctrl-C) are *not started*.
"""

from __future__ import annotations

import heapq
import os
import queue
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Literal

from mason.jobgraph import BadJobGraph, Job, critical_paths, dependents, validate
from mason.jobserver import Jobserver

__all__ = [
    "BadJobGraph",
    "Job",
    "Outcome",
    "SchedulerEvent",
    "critical_paths",
    "release_slot",
    "run",
    "validate",
]

EventKind = Literal["started", "finished", "failed", "skipped", "not_started"]


@dataclass(frozen=True)
class SchedulerEvent:
    """Something happened to a job; ``time`` is ``time.time()`` when it happened."""

    kind: EventKind
    job: str
    time: float
    error: BaseException | None = None
    """The exception ``work`` raised (``failed`` only)."""
    blocked_by: str | None = None
    """The failed job this one depends on (``skipped`` only)."""


@dataclass(frozen=True)
class Outcome:
    """What a :func:`run` did to every job."""

    done: tuple[str, ...]
    """Jobs that succeeded, in the order they finished."""
    failed: Mapping[str, BaseException]
    skipped: Mapping[str, str]
    """Job -> the failed job it (transitively) depends on."""
    not_started: tuple[str, ...]
    """Jobs never started because the run stopped (a failure without -k, or Ctrl-C)."""
    interrupted: bool = False
    signal: int = 0
    """The signal that stopped the run (SIGINT or SIGTERM; 0 if none did)."""
    lost_tokens: int = 0
    """Tokens found missing from the pool when all jobs were idle, and put back."""

    @property
    def ok(self) -> bool:
        """True if every job succeeded."""
        return not (self.failed or self.skipped or self.not_started or self.interrupted)


def run(
    jobs: Mapping[str, Job],
    work: Callable[[str], None],
    *,
    jobserver: Jobserver,
    keep_going: bool,
    on_event: Callable[[SchedulerEvent], None] | None = None,
    on_stop: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Run ``work(name)`` for every job, dependencies first, within ``jobserver``'s budget.

    While it runs, the scheduler owns ``jobserver.acquire``/``release`` in this process.
    ``on_event`` is called on the calling thread, in order, and must not raise.
    Called from the main thread with Python's default SIGINT handler, a first Ctrl-C stops
    new starts and waits for running jobs (on a terminal their processes got the signal
    too) and the outcome says ``interrupted``; a second one raises KeyboardInterrupt.

    With ``on_stop``, SIGTERM is caught too, and every SIGINT or SIGTERM calls
    ``on_stop(signal, how many so far)`` on the main thread instead (the caller stops
    its jobs' processes, harder each time); running jobs are still waited for, so a job
    that must not be cut short (a merge) always finishes. The outcome's ``signal`` is the
    first one. After a run stopped that way, the handlers stay: later signals still go to
    ``on_stop``, so the caller reports what was done and exits in order.
    """
    validate(jobs)
    return _Run(jobs, work, jobserver, keep_going, on_event, on_stop).execute()


_current = threading.local()


def release_slot() -> None:
    """Give the calling job's slot back before the job ends (once; no-op outside a job).

    Called from a job's own thread when what is left of the job needs no share of the
    budget (no ``make``, no compiler): the scheduler starts the next ready job in its place.
    """
    release: Callable[[], None] | None = getattr(_current, "release", None)
    if release is not None:
        _current.release = None
        release()


class _Released:
    """The marker a job puts in the completion queue when it gives its slot back."""


RELEASED = _Released()


class _Run:
    """The mutable state of one :func:`run`; only the calling thread touches it."""

    def __init__(
        self,
        jobs: Mapping[str, Job],
        work: Callable[[str], None],
        jobserver: Jobserver,
        keep_going: bool,
        on_event: Callable[[SchedulerEvent], None] | None,
        on_stop: Callable[[int, int], None] | None = None,
    ) -> None:
        self.jobs, self.work, self.js, self.keep_going = jobs, work, jobserver, keep_going
        self.on_event = on_event
        self.on_stop = on_stop
        self.signals: list[int] = []
        self.priority = critical_paths(jobs)
        self.dependents = dependents(jobs)
        self.waiting = {name: set(job.deps) for name, job in jobs.items()}
        self.ready: list[tuple[float, str]] = []
        self.running: set[str] = set()  # jobs holding a slot
        self.alive: set[str] = set()  # jobs whose thread has not ended (running or finishing)
        self.threads: list[threading.Thread] = []
        self.done: list[str] = []
        self.failed: dict[str, BaseException] = {}
        self.skipped: dict[str, str] = {}
        self.stopping = self.interrupted = False
        self.lost_tokens = 0
        # (job, None) succeeded, (job, error) failed, (job, RELEASED) gave its slot back
        self.completions: queue.SimpleQueue[tuple[str, BaseException | _Released | None]] = (
            queue.SimpleQueue()
        )
        self.wake_r, self.wake_w = os.pipe()
        self._make_ready(name for name, deps in self.waiting.items() if not deps)

    def execute(self) -> Outcome:
        catching = self._catch_sigint()
        saved_term = self._catch_sigterm()
        try:
            while self._step():
                pass
        finally:
            # A run stopped by a signal, with on_stop: further signals keep going to
            # on_stop, so that the caller can report what was done and exit in order.
            late = self.on_stop is not None and self.interrupted
            if catching:
                signal.signal(signal.SIGINT, self._late if late else signal.default_int_handler)
            if saved_term is not None:
                signal.signal(signal.SIGTERM, self._late if late else saved_term)
            self._release_spare()
            if not self.alive:
                # A finished worker may not have written its wake-up byte yet: closing the
                # pipe under it would make it write to a closed (or reused) descriptor.
                for thread in self.threads:
                    thread.join()
                os.close(self.wake_r)
                os.close(self.wake_w)
        return self._outcome()

    def _catch_sigint(self) -> bool:
        """Turn the first Ctrl-C into "stop starting" instead of a KeyboardInterrupt.

        A KeyboardInterrupt could land between two updates of the state (a job marked
        running whose thread never started) and hang the run; a flag cannot. Only done
        where Python's default handler is in place, which is only the main thread's.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, self._on_sigint)
        return True

    def _catch_sigterm(
        self,
    ) -> signal.Handlers | Callable[[int, FrameType | None], object] | int | None:
        """With ``on_stop``, SIGTERM stops the run like Ctrl-C; returns the old handler."""
        if self.on_stop is None or threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(signal.SIGTERM, self._on_sigint)

    def _late(self, signum: int, frame: FrameType | None) -> None:
        """A signal after a stopped run returned: passed on, never an exception."""
        self.signals.append(signum)
        if self.on_stop is not None:
            self.on_stop(signum, len(self.signals))

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = self.stopping = True
        self.signals.append(signum)
        if self.on_stop is None:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one interrupts
        else:
            self.on_stop(signum, len(self.signals))
        os.write(self.wake_w, b"!")

    def _step(self) -> bool:
        """Handle finished jobs, start what the budget allows, wait; False when all is over."""
        self._collect()
        if not self.running:
            # Every build is idle: no client may hold a token, so refill what crashes lost.
            self.lost_tokens += self.js.restore()
            if not self.alive and (self.stopping or not self.ready):
                return False
        self._start_ready()
        self._release_spare()
        self._wait()
        return True

    def _collect(self) -> None:
        while True:
            try:
                name, error = self.completions.get_nowait()
            except queue.Empty:
                return
            self.running.discard(name)
            if isinstance(error, _Released):
                continue
            self.alive.discard(name)
            if error is None:
                self._succeed(name)
            else:
                self._fail(name, error)

    def _succeed(self, name: str) -> None:
        self.done.append(name)
        self._emit("finished", name)
        unblocked = []
        for dependent in self.dependents[name]:
            self.waiting[dependent].discard(name)
            if not self.waiting[dependent] and dependent not in self.skipped:
                unblocked.append(dependent)
        self._make_ready(unblocked)

    def _fail(self, name: str, error: BaseException) -> None:
        self.failed[name] = error
        self._emit("failed", name, error=error)
        if not self.keep_going:
            self.stopping = True
        todo = list(self.dependents[name])
        while todo:
            dependent = todo.pop()
            if dependent not in self.skipped:
                self.skipped[dependent] = name
                self._emit("skipped", dependent, blocked_by=name)
                todo.extend(self.dependents[dependent])

    def _make_ready(self, names: Iterable[str]) -> None:
        for name in names:
            heapq.heappush(self.ready, (-self.priority[name], name))

    def _start_ready(self) -> None:
        while self.ready and not self.stopping:
            if self.running and not self._take_token():
                return
            _, name = heapq.heappop(self.ready)
            self.running.add(name)
            self.alive.add(name)
            self._emit("started", name)
            thread = threading.Thread(
                target=self._work, args=(name,), name=f"mason-job-{name}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def _take_token(self) -> bool:
        """A token for one more concurrent job: a spare one we hold, or one from the pool."""
        spare = self.js.held - (len(self.running) - 1)
        return spare > 0 or self.js.acquire(timeout=0)

    def _release_spare(self) -> None:
        while self.js.held > max(len(self.running) - 1, 0):
            self.js.release()

    def _wait(self) -> None:
        poller = select.poll()  # not select(): descriptors may be above FD_SETSIZE
        poller.register(self.wake_r, select.POLLIN)
        if self.ready and not self.stopping:
            poller.register(self.js.fileno(), select.POLLIN)  # a token may come back first
        readable = {fd for fd, _ in poller.poll()}
        if self.wake_r in readable:
            os.read(self.wake_r, 4096)

    def _work(self, name: str) -> None:
        def release() -> None:
            self.completions.put((name, RELEASED))
            os.write(self.wake_w, b".")

        _current.release = release
        error: BaseException | None = None
        try:
            self.work(name)
        except BaseException as e:  # a failure of any kind is the job's failure
            error = e
        finally:
            _current.release = None
        self.completions.put((name, error))
        os.write(self.wake_w, b".")

    def _emit(
        self,
        kind: EventKind,
        name: str,
        *,
        error: BaseException | None = None,
        blocked_by: str | None = None,
    ) -> None:
        if self.on_event is not None:
            self.on_event(SchedulerEvent(kind, name, time.time(), error, blocked_by))

    def _outcome(self) -> Outcome:
        finished = set(self.done) | self.failed.keys() | self.skipped.keys() | self.alive
        not_started = tuple(sorted(self.jobs.keys() - finished))
        for name in not_started:
            self._emit("not_started", name)
        return Outcome(
            done=tuple(self.done),
            failed=dict(self.failed),
            skipped=dict(self.skipped),
            not_started=not_started,
            interrupted=self.interrupted,
            signal=self.signals[0] if self.signals else 0,
            lost_tokens=self.lost_tokens,
        )
