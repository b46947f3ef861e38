"""The byte-compiling workers: a pool of processes that is also ``-j``'s budget of cores.

:func:`mason.python.bytecode.compile_rows` sends its rows here when a pool is given; the
wheel staging (:mod:`mason.python.pool`, :mod:`mason.python.compilestream`) submits whole
wheels and chunks of a big one.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from mason.python.bytecode import Chunk, Compiled, CompileJob, compile_chunk, job_row
from mason.python.pyccache import BytecodeCache

#: What the forkserver imports once, so that each worker is forked with it.
PRELOAD = ["mason.python.pool"]


def start_server() -> threading.Thread:
    """Start the forkserver the workers come from, in the background, now.

    Called as a run begins that will stage wheels: starting the server (an interpreter
    importing the staging code, 0.2-0.3 s) then overlaps the run's first steps (its
    estimates, the venv, fetching the first wheels), and :meth:`CompilePool.warm` later
    only forks the workers. A pool started meanwhile waits for the same server (the
    start is locked). A server no pool ends up using exits with mason. Returns the
    thread starting it."""
    thread = threading.Thread(target=_ensure_server, name="mason-forkserver", daemon=True)
    thread.start()
    return thread


def _ensure_server() -> None:
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    with suppress(OSError):  # the pool's own start reports it
        forkserver.ensure_running()


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: mason's own process handles it and stops
    # the pool; a worker dying of it would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class CompilePool:
    """Byte-compiles in up to ``workers`` processes, for any number of calling threads.

    The processes start on first use (forkserver: the caller has threads, and a forked
    child could inherit their locks). The pool is a budget of ``workers`` cores: a task
    runs in a worker only while fewer than ``workers`` are busy, and a calling thread that
    works in mason's own process (unpacking a big wheel) takes one of them too
    (:meth:`slot`), so the run never does more CPU work at once than ``-j`` allows. One
    calling thread at a time: the threads of mason's process share one GIL, so a second
    one unpacking would hold a core it can hardly use, which a worker then could not
    (two big wheels unpacked at once, the workers idle, half a second of a run).
    Waiting tasks go out compile chunks first (they finish a wheel that is being staged),
    then whole wheels, each kind in order. Each call is cut into chunks, so one large
    wheel is spread over every worker. With ``workers <= 1`` the caller compiles itself.
    :meth:`close` stops the workers. ``compiled`` counts the sources given to the
    compiler, ``peak`` the most cores of the budget ever busy at once.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._cond = threading.Condition()
        self._queues: tuple[deque[_Task], deque[_Task]] = (deque(), deque())
        self._busy = 0
        self._callers_waiting = 0
        self._in_process = False  # a caller holds a core (one at most: they share one GIL)
        self._holding = threading.local()
        self._warming: threading.Thread | None = None
        self.compiled = 0
        self.peak = 0

    def compile(
        self, jobs: Sequence[CompileJob], cache: BytecodeCache | None = None
    ) -> list[Compiled]:
        """Compile ``jobs`` (through ``cache``); per job the ``.pyc``'s sha256 and size."""
        return self.compile_rows([job_row(j) for j in jobs], cache)

    def compile_rows(self, rows: Chunk, cache: BytecodeCache | None = None) -> list[Compiled]:
        """:meth:`compile` of jobs given as rows."""
        if self.workers <= 1:
            self._count(len(rows))
            return compile_chunk(rows, cache)
        size = min(64, max(8, -(-len(rows) // self.workers)))
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        futures = [self.submit_chunk(chunk, cache) for chunk in chunks]
        return self.gather(chunks, futures, cache)

    def submit_chunk(
        self, rows: Chunk, cache: BytecodeCache | None = None
    ) -> Future[list[Compiled]]:
        """Compile ``rows`` in a worker as soon as a core of the budget is free."""
        self._count(len(rows))
        return self.submit(True, compile_chunk, rows, cache)

    def gather(
        self,
        chunks: Sequence[Chunk],
        futures: Sequence[Future[list[Compiled]]],
        cache: BytecodeCache | None,
    ) -> list[Compiled]:
        """The results of ``futures`` (of ``chunks``), in order. A chunk whose worker died
        (OOM killer, a signal) is compiled by the caller, once: one lost worker never
        fails a package (the next task gets new workers)."""
        self.give_back()  # a caller waiting on workers must not keep a core from them
        out: list[Compiled] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                out += future.result()
            except BrokenProcessPool:
                out += compile_chunk(chunk, cache)
        return out

    def submit(self, urgent: bool, fn: Callable[..., _T], *args: object) -> Future[_T]:
        """Run ``fn(*args)`` in a worker when a core of the budget is free (``urgent``:
        before the waiting tasks that are not). A dead worker's task fails with
        :class:`BrokenProcessPool`, and the next one gets new workers."""
        task = _Task(fn, args, Future())
        with self._cond:
            self._queues[0 if urgent else 1].append(task)
        self._pump()
        return task.future

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a core of the budget while the calling thread works (given back early by
        :meth:`give_back`, as waiting on the workers does)."""
        with self._cond:
            self._callers_waiting += 1
            while self._busy >= self.workers or self._in_process:
                self._cond.wait()
            self._callers_waiting -= 1
            self._in_process = True
            self._take()
        self._holding.held = True
        try:
            yield
        finally:
            self.give_back()

    def give_back(self) -> None:
        """Give back the core the calling thread holds (:meth:`slot`), if it holds one."""
        if getattr(self._holding, "held", False):
            self._holding.held = False
            with self._cond:
                self._in_process = False
            self._release()

    def _take(self) -> None:
        self._busy += 1
        self.peak = max(self.peak, self._busy)

    def _release(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()
        self._pump()

    def _count(self, rows: int) -> None:
        with self._cond:
            self.compiled += rows

    def _pump(self) -> None:
        """Start waiting tasks while cores are free (callers waiting for one go first)."""
        while True:
            with self._cond:
                # a caller waiting goes first, unless it waits for the one working here
                waiting = 0 if self._in_process else self._callers_waiting
                if self._busy + waiting >= max(1, self.workers):
                    return
                queue = next((q for q in self._queues if q), None)
                if queue is None:
                    return
                task = queue.popleft()
                self._take()
                executor = self._start_locked()
            try:
                inner = executor.submit(task.fn, *task.args)
            except (BrokenProcessPool, RuntimeError) as e:  # broken, or shut down
                self._discard(executor)
                task.future.set_exception(BrokenProcessPool(str(e)))
                self._release()
                continue
            inner.add_done_callback(functools.partial(self._done, task.future, executor))

    def _done(self, outer: Future[Any], executor: ProcessPoolExecutor, inner: Future[Any]) -> None:
        error = inner.exception()
        if isinstance(error, BrokenProcessPool):
            self._discard(executor)
        if error is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())
        self._release()

    def warm(self) -> None:
        """Start the worker processes now, in the background, rather than on the first
        task. Outside the budget: starting them is no work of the run's. Not on the
        calling thread: the first process started waits for the forkserver to import the
        staging code (0.2-0.3 s), which the caller (making the venv, unpacking a big
        wheel) need not wait for."""
        if self.workers > 1 and self._warming is None:
            self._warming = threading.Thread(target=self._warm, name="mason-warm", daemon=True)
            self._warming.start()

    def _warm(self) -> None:
        executor = self._start()
        for _ in range(self.workers):
            try:
                executor.submit(os.getpid)
            except (BrokenProcessPool, RuntimeError):  # the first task gets new workers
                self._discard(executor)
                return

    def _start_locked(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            # the server imports the staging code once; each worker is forked with it
            context.set_forkserver_preload(PRELOAD)
            self._executor = ProcessPoolExecutor(
                max(1, self.workers), mp_context=context, initializer=_ignore_sigint
            )
        return self._executor

    def _start(self) -> ProcessPoolExecutor:
        with self._cond:
            return self._start_locked()

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._cond:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False)

    def close(self) -> None:
        """Stop the worker processes (a later :meth:`compile` starts new ones)."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        with self._cond:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()

    def __enter__(self) -> CompilePool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Task:
    fn: Callable[..., Any]
    args: tuple[object, ...]
    future: Future[Any]
