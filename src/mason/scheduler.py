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
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from mason.jobgraph import (
    BadJobGraph,
    EventKind,
    Job,
    Outcome,
    SchedulerEvent,
    critical_paths,
    dependents,
    validate,
)
from mason.jobserver import Jobserver
from mason.slots import (
    RELEASED,
    WANTED,
    Marker,
    SlotCancelled,
    Told,
    acquire_slot,
    release_slot,
    run_job,
    wait_for_dependencies,
)
from mason.stopsignals import StopSignals

__all__ = [
    "BadJobGraph",
    "Job",
    "Outcome",
    "SchedulerEvent",
    "SlotCancelled",
    "acquire_slot",
    "critical_paths",
    "release_slot",
    "run",
    "validate",
    "wait_for_dependencies",
]


def run(
    jobs: Mapping[str, Job],
    work: Callable[[str], None],
    *,
    jobserver: Jobserver,
    keep_going: bool,
    on_event: Callable[[SchedulerEvent], None] | None = None,
    on_stop: Callable[[int, int], None] | None = None,
    prepare_ahead: int = 0,
    start_early: bool = False,
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

    With ``prepare_ahead`` (``P``), up to ``P`` ready jobs that find no free slot start
    anyway, *without* a slot: their ``work`` prepares what needs no share of the budget
    (a package's fetch, extraction, patches) and then calls :func:`acquire_slot`, which
    blocks until the scheduler gives it a slot (the highest critical path among the jobs
    asking and the ready ones first). A run that stops (a failure without ``-k``, a
    signal) gives none: :func:`acquire_slot` raises :class:`SlotCancelled`, and the job,
    which must let it through, counts as not started.

    A job that gave its slot back keeps it for a dependent waiting for it alone when that
    dependent is more critical than every job that could take the slot. With
    ``start_early`` the dependent gets it at once instead: its ``work`` starts while the
    job finishes, prepares, and calls :func:`wait_for_dependencies` before anything that
    needs its dependencies; that raises :class:`SlotCancelled` if the job failed (the
    dependent is skipped) or the run stopped (not started).
    """
    validate(jobs)
    return _Run(
        jobs, work, jobserver, keep_going, on_event, on_stop, prepare_ahead, start_early
    ).execute()


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
        prepare_ahead: int = 0,
        start_early: bool = False,
    ) -> None:
        self.jobs, self.work, self.js, self.keep_going = jobs, work, jobserver, keep_going
        self.on_event = on_event
        self.stops = StopSignals(on_stop, self._stopped_by_signal, self._wake)
        self.priority = critical_paths(jobs)
        self.dependents = dependents(jobs)
        self.waiting = {name: set(job.deps) for name, job in jobs.items()}
        self.ready: list[tuple[float, str]] = []
        self.running: set[str] = set()  # jobs holding a slot
        self.slots_told = 0  # len(running) as on_event last heard it
        self.prepare_ahead = prepare_ahead
        self.ahead: set[str] = set()  # jobs started without a slot that have not got one
        self.wanting: list[tuple[float, str]] = []  # those of them asking for one
        self.grants: dict[str, threading.Event] = {}
        self.start_early = start_early
        self.early: dict[str, threading.Event] = {}  # started early: set when deps end
        self.cancelled: set[str] = set()
        self.alive: set[str] = set()  # jobs whose thread has not ended (running or finishing)
        self.threads: list[threading.Thread] = []
        self.done: list[str] = []
        self.failed: dict[str, BaseException] = {}
        self.skipped: dict[str, str] = {}
        self.stopping = self.interrupted = False
        self.lost_tokens = 0
        # what each job's thread told: see mason.slots.Told
        self.completions: queue.SimpleQueue[tuple[str, Told]] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        self._make_ready(name for name, deps in self.waiting.items() if not deps)

    def execute(self) -> Outcome:
        self.stops.catch()
        try:
            while self._step():
                pass
        finally:
            self.stops.restore(self.interrupted)
            self._release_spare()
            if not self.alive:
                # A finished worker may not have written its wake-up byte yet: closing the
                # pipe under it would make it write to a closed (or reused) descriptor.
                for thread in self.threads:
                    thread.join()
                os.close(self.wake_r)
                os.close(self.wake_w)
        return self._outcome()

    def _stopped_by_signal(self) -> None:
        self.interrupted = self.stopping = True

    def _wake(self) -> None:
        os.write(self.wake_w, b"!")

    def _step(self) -> bool:
        """Handle finished jobs, start what the budget allows, wait; False when all is over."""
        self._collect()
        if not self.running:
            # Every build is idle: no client may hold a token, so refill what crashes lost.
            self.lost_tokens += self.js.restore()
            if not self.alive and (self.stopping or not self.ready):
                self._tell_slots()
                return False
        self._start_ready()
        self._tell_slots()
        self._release_spare()
        self._wait()
        return True

    def _tell_slots(self) -> None:
        """A ``slots`` event when the number of jobs holding a slot changed: told once per
        step, after the slots given back went to the next jobs, so never above the budget."""
        if len(self.running) != self.slots_told:
            self.slots_told = len(self.running)
            self._emit("slots", "", slots=self.slots_told)

    def _collect(self) -> None:
        while True:
            try:
                name, error = self.completions.get_nowait()
            except queue.Empty:
                return
            if error is WANTED:
                heapq.heappush(self.wanting, (-self.priority[name], name))
                continue
            if error is RELEASED:
                heir = self._heir(name)
                if heir is None or self.start_early:
                    self.running.discard(name)
                if heir is not None and self.start_early and not self.stopping:
                    self.early[heir] = threading.Event()
                    self._start(heir, slot=True)  # the slot of `name`, handed on
                continue
            self.running.discard(name)
            self.alive.discard(name)
            self.ahead.discard(name)
            if isinstance(error, Marker):  # CANCELLED: never got its slot
                self.cancelled.add(name)
            elif error is None:
                self._succeed(name)
            else:
                self._fail(name, error)

    def _heir(self, name: str) -> str | None:
        """The dependent a job that gave its slot back keeps it for: one waiting for it
        alone (:meth:`_left_to_merge`), more critical than any job that could take it."""
        after = [
            d
            for d in self.dependents[name]
            if d not in self.skipped and d not in self.alive and self._left_to_merge(d, name)
        ]
        best = max(after, key=lambda d: (self.priority[d], d), default=None)
        others = [-q[0][0] for q in (self.ready, self.wanting) if q]
        if best is None or not all(self.priority[best] > p for p in others):
            return None
        return best

    def _left_to_merge(self, dependent: str, name: str) -> bool:
        """``dependent`` waits for ``name`` alone (``start_early``: and jobs past their scripts)."""
        if not self.start_early:
            return self.waiting[dependent] == {name}
        return name in self.waiting[dependent] and all(
            w == name or (w in self.alive and w not in self.running and w not in self.ahead)
            for w in self.waiting[dependent]
        )

    def _let_go(self, name: str, *, cancel: bool) -> None:
        """A job started early may go on (its dependencies ended), or is cancelled."""
        if cancel:
            self.cancelled.add(name)
        self.early.pop(name).set()

    def _succeed(self, name: str) -> None:
        self.done.append(name)
        self._emit("finished", name)
        unblocked = []
        for dependent in self.dependents[name]:
            self.waiting[dependent].discard(name)
            if not self.waiting[dependent] and dependent not in self.skipped:
                if dependent in self.early:
                    self._let_go(dependent, cancel=False)
                else:
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
            if dependent in self.early:
                self._let_go(dependent, cancel=True)
            if dependent not in self.skipped:
                self.skipped[dependent] = name
                self._emit("skipped", dependent, blocked_by=name)
                todo.extend(self.dependents[dependent])

    def _make_ready(self, names: Iterable[str]) -> None:
        for name in names:
            heapq.heappush(self.ready, (-self.priority[name], name))

    def _start_ready(self) -> None:
        """Free slots to the best of the jobs asking and the ready ones; then ready jobs
        ahead, without a slot, up to ``prepare_ahead``. A stopped run cancels the asking."""
        if self.stopping:
            for name in list(self.early):
                self._let_go(name, cancel=True)
            while self.wanting:
                _, name = heapq.heappop(self.wanting)
                self.cancelled.add(name)
                self.grants[name].set()
            return
        while self.ready or self.wanting:
            if self.running and not self._take_token():
                break
            if self.wanting and (not self.ready or self.wanting[0] <= self.ready[0]):
                _, name = heapq.heappop(self.wanting)
                self.ahead.discard(name)
                self.running.add(name)
                self.grants[name].set()
            else:
                self._start(heapq.heappop(self.ready)[1], slot=True)
        while self.ready and len(self.ahead) < self.prepare_ahead:
            self._start(heapq.heappop(self.ready)[1], slot=False)

    def _start(self, name: str, *, slot: bool) -> None:
        (self.running if slot else self.ahead).add(name)
        self.alive.add(name)
        if not slot:
            self.grants[name] = threading.Event()
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
        if (self.ready or self.wanting) and not self.stopping:
            poller.register(self.js.fileno(), select.POLLIN)  # a token may come back first
        readable = {fd for fd, _ in poller.poll()}
        if self.wake_r in readable:
            os.read(self.wake_r, 4096)

    def _work(self, name: str) -> None:
        def tell(what: Told) -> None:
            self.completions.put((name, what))
            os.write(self.wake_w, b".")

        grant, deps_ended = self.grants.get(name), self.early.get(name)
        run_job(lambda: self.work(name), tell, grant, deps_ended, lambda: name in self.cancelled)

    def _emit(
        self,
        kind: EventKind,
        name: str,
        *,
        error: BaseException | None = None,
        blocked_by: str | None = None,
        slots: int = 0,
    ) -> None:
        if self.on_event is not None:
            self.on_event(SchedulerEvent(kind, name, time.time(), error, blocked_by, slots))

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
            signal=self.stops.signals[0] if self.stops.signals else 0,
            lost_tokens=self.lost_tokens,
        )
