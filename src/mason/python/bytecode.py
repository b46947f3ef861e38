"""Byte-compilation of staged Python sources, deterministic and for the final location.

Each ``.pyc`` is compiled with ``PycInvalidationMode.CHECKED_HASH``: its header holds a hash
of the source instead of a timestamp, so identical sources give identical ``.pyc`` files
(two wheels shipping the same namespace ``__init__.py`` then co-own its byte-code too), and
moving the tree into the prefix does not make the byte-code stale. ``dfile``, the name compiled
into the code, is the source's path relative to the venv root: the same in every prefix, so
the byte-code can come from the user's :class:`~mason.python.pyccache.BytecodeCache`.
(The importer replaces it with the real path of the source when it loads the ``.pyc``, so
tracebacks still name the installed file.)

Byte-code is specific to the interpreter version: when the venv's Python is not the one
running mason, the venv's own interpreter compiles, in one subprocess per call.

Compiling holds the GIL, so threads staging wheels at once would take turns (and starve
each other's file writes): a :class:`CompilePool` runs it in worker processes instead.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import marshal
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from mason.python.errors import VenvError
from mason.python.pyccache import BytecodeCache
from mason.python.venv import Venv


@dataclass(frozen=True)
class CompileJob:
    """Compile ``source`` (staged) to ``target`` (staged), naming it ``dfile``.

    ``digest``, the sha256 (hex) of the source when the caller knows it, keys the cache
    without reading the source again.
    """

    source: Path
    target: Path
    dfile: str
    digest: str = ""


#: What compiling one job gives: the sha256 (hex) and size of the ``.pyc`` written, or
#: ``None`` when the source does not compile.
Compiled = tuple[str, int] | None


def pyc_name(source_name: str, cache_tag: str) -> str:
    """``mod.py`` -> ``mod.cpython-311.pyc`` (the name inside ``__pycache__``)."""
    stem = source_name[: -len(".py")] if source_name.endswith(".py") else source_name
    return f"{stem}.{cache_tag}.pyc"


def compile_sources(
    jobs: Sequence[CompileJob],
    venv: Venv,
    pool: CompilePool | None = None,
    cache: BytecodeCache | None = None,
) -> list[Compiled]:
    """Compile every job for ``venv``'s interpreter.

    A source that does not compile (pip skips those too: wheels ship files for other
    Python versions) is left without byte-code. With ``pool``, the running interpreter's
    compilations run in its worker processes. ``cache`` (running interpreter only) gives
    byte-code compiled before and keeps what is compiled now. Returns, for each job, the
    sha256 and size of its ``.pyc``, or ``None``.
    """
    return compile_rows(_rows(jobs), venv, pool, cache)


#: A :class:`CompileJob` as strings, ``(source, target, dfile, digest)``: what a worker
#: is sent, and what staging makes per module (no ``Path`` per file).
Row = tuple[str, str, str, str]
Chunk = list[Row]


def compile_rows(
    rows: Chunk,
    venv: Venv,
    pool: CompilePool | None = None,
    cache: BytecodeCache | None = None,
) -> list[Compiled]:
    """:func:`compile_sources` of jobs given as rows."""
    if not rows:
        return []
    if venv.cache_tag != sys.implementation.cache_tag:
        return _compile_elsewhere(rows, venv)
    if pool is not None:
        return pool.compile_rows(rows, cache)
    return _compile_chunk(rows, cache)


def job_row(job: CompileJob) -> Row:
    """``job`` as a row of a :data:`Chunk` (what a worker is sent)."""
    return (str(job.source), str(job.target), job.dfile, job.digest)


def _rows(jobs: Sequence[CompileJob]) -> Chunk:
    return [job_row(j) for j in jobs]


def _compile_chunk(chunk: Chunk, cache: BytecodeCache | None = None) -> list[Compiled]:
    """Compile ``(source, target, dfile, digest)`` rows (in the caller or a pool worker)."""
    with warnings.catch_warnings():
        # SyntaxWarnings of other people's code (invalid escapes...) are not mason's
        warnings.simplefilter("ignore")
        made: set[str] = set()
        return [_compile_row(*row, cache, made) for row in chunk]


def _compile_row(
    source: str,
    target: str,
    dfile: str,
    digest: str,
    cache: BytecodeCache | None,
    made: set[str],
) -> Compiled:
    where = os.path.dirname(target)
    if where not in made:
        os.makedirs(where, exist_ok=True)
        made.add(where)
    if cache is not None and digest:
        data = cache.load(dfile, digest)
        if data is not None:
            if not cache.link_out(dfile, digest, target):
                _write(target, data)
            return hashlib.sha256(data).hexdigest(), len(data)
    try:
        with open(source, "rb") as f:
            text = f.read()
    except OSError:
        return None
    data = pyc_bytes(text, dfile)
    if data is None:
        return None
    _write(target, data)
    if cache is not None:
        cache.keep(dfile, digest or hashlib.sha256(text).hexdigest(), Path(target))
    return hashlib.sha256(data).hexdigest(), len(data)


def _write(target: str, data: bytes) -> None:
    with open(target, "wb") as f:  # over a .pyc the wheel shipped, as py_compile does
        f.write(data)


def pyc_bytes(source: bytes, dfile: str) -> bytes | None:
    """The checked-hash ``.pyc`` of ``source`` (what ``py_compile`` writes with
    ``CHECKED_HASH``), or ``None`` when it does not compile."""
    try:
        code = compile(source, dfile, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None
    flags = (0b11).to_bytes(4, "little")  # hash-based, checked (PEP 552)
    header = importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


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
    (:meth:`slot`), so the run never does more CPU work at once than ``-j`` allows.
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
        self._holding = threading.local()
        self.compiled = 0
        self.peak = 0

    def compile(
        self, jobs: Sequence[CompileJob], cache: BytecodeCache | None = None
    ) -> list[Compiled]:
        """Compile ``jobs`` (through ``cache``); per job the ``.pyc``'s sha256 and size."""
        return self.compile_rows(_rows(jobs), cache)

    def compile_rows(self, rows: Chunk, cache: BytecodeCache | None = None) -> list[Compiled]:
        """:meth:`compile` of jobs given as rows."""
        if self.workers <= 1:
            self._count(len(rows))
            return _compile_chunk(rows, cache)
        size = min(64, max(8, -(-len(rows) // self.workers)))
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        futures = [self.submit_chunk(chunk, cache) for chunk in chunks]
        return self.gather(chunks, futures, cache)

    def submit_chunk(
        self, rows: Chunk, cache: BytecodeCache | None = None
    ) -> Future[list[Compiled]]:
        """Compile ``rows`` in a worker as soon as a core of the budget is free."""
        self._count(len(rows))
        return self.submit(True, _compile_chunk, rows, cache)

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
                out += _compile_chunk(chunk, cache)
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
            while self._busy >= self.workers:
                self._cond.wait()
            self._callers_waiting -= 1
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
                if self._busy + self._callers_waiting >= max(1, self.workers):
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
        """Start the worker processes now (while the caller does something else, such as
        making the venv), rather than on the first task."""
        if self.workers > 1:
            for _ in range(self.workers):
                self.submit(False, os.getpid)

    def _start_locked(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            # the server imports the staging code once; each worker is forked with it
            context.set_forkserver_preload(["mason.python.pool"])
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


# The same compilation, run by another interpreter (stdlib only, JSON in and out).
_REMOTE = """
import hashlib, json, py_compile, sys, warnings
warnings.simplefilter("ignore")
out = []
for source, target, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile=target, dfile=dfile, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        with open(target, "rb") as f:
            data = f.read()
        out.append([hashlib.sha256(data).hexdigest(), len(data)])
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        out.append(None)
json.dump(out, sys.stdout)
"""


def _compile_elsewhere(rows: Chunk, venv: Venv) -> list[Compiled]:
    payload = json.dumps([[source, target, dfile] for source, target, dfile, _ in rows])
    command = [str(venv.python), "-I", "-c", _REMOTE]
    done = subprocess.run(command, input=payload, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise VenvError(venv.root, f"its interpreter failed to byte-compile:\n{tail}")
    return [None if row is None else (row[0], row[1]) for row in json.loads(done.stdout)]
