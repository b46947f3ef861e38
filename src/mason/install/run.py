"""A run: the plan's packages go to :func:`mason.scheduler.run` with a
:class:`~mason.jobserver.Jobserver` of ``jobs`` slots (shared by the builds' ``make``),
each through :func:`mason.install.pipeline.install_package`, while the run holds what they
share (:class:`~mason.install.context.RunContext`): the guards of the live stores, the
trash, the Python session and a short thread switch interval."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mason.build.groups import BUILDS
from mason.catalog import Catalog
from mason.events import Event, EventSink, Phase, ignore
from mason.install.context import RunContext
from mason.install.guard import RunGuard, StrayCheck, StrayWriteGuard
from mason.install.options import InstallOptions, default_upstream, short_error
from mason.install.pipeline import install_package
from mason.install.python import PythonSession
from mason.install.weights import estimates
from mason.jobgraph import critical_paths
from mason.jobserver import Jobserver
from mason.plan import Plan
from mason.scheduler import Job, Outcome, SchedulerEvent
from mason.store import Prefix, Record
from mason.trash import Trash
from mason.trees import Trees, locate_venv

STOP_GRACE = 10.0
"""Seconds a stopped build's processes get to exit on SIGTERM before SIGKILL."""
if TYPE_CHECKING:
    from mason.binarycache.session import CacheSession


class Installer:
    """Installs planned packages of ``catalog`` into ``prefix``."""

    def __init__(
        self,
        catalog: Catalog,
        prefix: Prefix,
        options: InstallOptions,
        on_event: EventSink = ignore,
        cache: CacheSession | None = None,
    ) -> None:
        self.cache = cache  # the binary cache (mason.binarycache.session)
        self.catalog = catalog
        self.prefix = prefix
        self.options = options
        # the venv's place; a second store when it lies outside the prefix (mason.trees)
        self.trees = Trees(prefix, locate_venv(prefix.root, options.venv))
        self.emit = on_event
        self.upstream = options.upstream or default_upstream(catalog)
        self._escalation: threading.Timer | None = None

    def run(self, plan: Plan) -> Outcome:
        """Build and merge every step of ``plan``, dependencies first, within the budget."""
        from mason import scheduler

        self._start_compile_server(plan)
        records = self.trees.records()
        weights = estimates(self.catalog, self.upstream, plan.prerequisites, records)
        jobs = {
            step.name: Job(step.name, deps=frozenset(step.prerequisites), weight=weights[step.name])
            for step in plan
        }
        self.emit(Event("planned", message=f"{len(jobs)} package(s) to install"))
        if self.cache is not None:
            self.cache.prefetch(jobs)  # pulls of every planned package start at once
        with (
            Jobserver(self.options.jobs) as jobserver,
            self._context(jobserver, records, critical_paths(jobs)) as ctx,
            _short_switch_interval(),
        ):

            def work(name: str) -> None:
                install_package(ctx, name)

            BUILDS.reset()
            try:
                return scheduler.run(
                    jobs,
                    work,
                    jobserver=jobserver,
                    keep_going=self.options.keep_going,
                    on_event=self._scheduler_event,
                    on_stop=self._stop,
                    prepare_ahead=self.options.jobs,
                    start_early=True,  # pipeline: dependencies_done() before the scripts
                )
            finally:
                if self._escalation is not None:
                    self._escalation.cancel()

    def _start_compile_server(self, plan: Plan) -> None:
        """With wheels to stage on several cores, the compile workers' forkserver starts
        now, while the run gets going (not when the first wheel is fetched)."""
        kinds = {self.catalog[step.name].kind for step in plan}
        if self.options.jobs > 1 and kinds & {"wheel", "pip"}:
            from mason.python.compilepool import start_server

            start_server()

    def _stop(self, signum: int, count: int) -> None:
        """Ctrl-C or SIGTERM during the run (on the main thread): every build's process
        group gets SIGTERM, and SIGKILL from the second signal on or after
        :data:`STOP_GRACE` seconds. A merge in progress is not a build: it finishes, as
        does the merge of a build that already ended; nothing new starts."""
        if count > 1:
            BUILDS.stop(signal.SIGKILL)
            return
        BUILDS.stop(signal.SIGTERM)
        self._escalation = threading.Timer(STOP_GRACE, BUILDS.stop, (signal.SIGKILL,))
        self._escalation.daemon = True
        self._escalation.start()

    def install_one(self, name: str) -> Record:
        """Build ``name`` and merge it, outside a run (no job budget; builds are checked
        by snapshots); raise :class:`~mason.install.InstallFailed`."""
        with self._context(None, None) as ctx:
            return install_package(ctx, name)

    @contextmanager
    def _context(
        self,
        jobserver: Jobserver | None,
        previous: dict[str, Record] | None,
        priority: dict[str, float] | None = None,
    ) -> Iterator[RunContext]:
        """What the packages share: in a run (``jobserver`` given) a running trash and a
        watch per live store; outside one, snapshots and an immediate trash."""
        from mason.build.staged import SnapshotGuard

        in_run = jobserver is not None
        with ExitStack() as stack:
            trash = Trash(self.prefix.root)
            guards: dict[Path, StrayWriteGuard] = {}
            # a sandboxed build cannot write into a live store: nothing to watch
            watched = () if self.options.sandbox is not None else self.trees.live
            for store in watched:
                if in_run:
                    guards[store.root] = stack.enter_context(RunGuard(store.root))
                else:
                    guards[store.root] = SnapshotGuard(store.root)
            if in_run:
                stack.enter_context(trash)
            stray = StrayCheck()
            python = stack.enter_context(PythonSession(self.trees, self.options, trash, stray))
            yield RunContext(
                catalog=self.catalog,
                trees=self.trees,
                options=self.options,
                upstream=self.upstream,
                emit=self.emit,
                trash=trash,
                python=python,
                jobserver=jobserver,
                store_guards=guards,
                stray=stray,
                previous=previous,
                cache=self.cache,
                priority=priority or {},
            )

    def _scheduler_event(self, event: SchedulerEvent) -> None:
        if event.kind == "slots":  # for the report's line of build slots against -j
            self.emit(Event("slots", message=str(event.slots), time=event.time))
            return
        recipe = self.catalog.recipes[event.job]

        def report(message: str) -> None:
            phase: Phase = "failed" if event.kind == "failed" else "skipped"
            self.emit(Event(phase, recipe.name, recipe.version, message))

        if event.kind == "skipped":
            report(f"dependency {event.blocked_by} failed")
        elif event.kind == "failed":
            report(short_error(event.error))
        elif event.kind == "not_started":
            report("not started (an earlier package failed)")


@contextmanager
def _short_switch_interval(seconds: float = 0.0005) -> Iterator[None]:
    """The job threads mostly make system calls (link, lstat, rename, fsync): a thread
    whose call returned waits for the GIL until the holder's switch interval ends (5 ms by
    default). A shorter interval gives it back sooner (about 5% of a run of cached wheels,
    see docs/benchmarks.md)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)
