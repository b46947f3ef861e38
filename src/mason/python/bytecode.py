"""Byte-compilation of staged Python sources, deterministic and for the final location.

Each ``.pyc`` is compiled with ``PycInvalidationMode.CHECKED_HASH``: its header holds a hash
of the source instead of a timestamp, so identical sources give identical ``.pyc`` files
(two wheels shipping the same namespace ``__init__.py`` then co-own its byte-code too), and
moving the tree into the prefix does not make the byte-code stale. ``dfile`` is the path the
source will have once merged, so tracebacks name the installed file.

Byte-code is specific to the interpreter version: when the venv's Python is not the one
running mason, the venv's own interpreter compiles, in one subprocess per call.

Compiling holds the GIL, so threads staging wheels at once would take turns (and starve
each other's file writes): a :class:`CompilePool` runs it in worker processes instead.
"""

from __future__ import annotations

import json
import multiprocessing
import py_compile
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mason.python.errors import VenvError
from mason.python.venv import Venv


@dataclass(frozen=True)
class CompileJob:
    """Compile ``source`` (staged) to ``target`` (staged), naming it ``dfile`` (final)."""

    source: Path
    target: Path
    dfile: str


def pyc_name(source_name: str, cache_tag: str) -> str:
    """``mod.py`` -> ``mod.cpython-311.pyc`` (the name inside ``__pycache__``)."""
    stem = source_name[: -len(".py")] if source_name.endswith(".py") else source_name
    return f"{stem}.{cache_tag}.pyc"


def compile_sources(
    jobs: Sequence[CompileJob], venv: Venv, pool: CompilePool | None = None
) -> tuple[CompileJob, ...]:
    """Compile every job for ``venv``'s interpreter; return the jobs that compiled.

    A source that does not compile (pip skips those too: wheels ship files for other
    Python versions) is left without byte-code. With ``pool``, the running interpreter's
    compilations run in its worker processes.
    """
    if not jobs:
        return ()
    if venv.cache_tag != sys.implementation.cache_tag:
        ok = _compile_elsewhere(jobs, venv)
    elif pool is not None:
        ok = pool.compile(jobs)
    else:
        ok = _compile_chunk([(str(j.source), str(j.target), j.dfile) for j in jobs])
    return tuple(job for job, done in zip(jobs, ok, strict=True) if done)


Chunk = list[tuple[str, str, str]]


def _compile_chunk(chunk: Chunk) -> list[bool]:
    """Compile ``(source, target, dfile)`` triples (run in the caller or a pool worker)."""
    return [_compile_one(Path(source), Path(target), dfile) for source, target, dfile in chunk]


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: mason's own process handles it and stops
    # the pool; a worker dying of it would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class CompilePool:
    """Byte-compiles in up to ``workers`` processes, for any number of calling threads.

    The processes start on first use (forkserver: the caller has threads, and a forked
    child could inherit their locks). Each call is cut into chunks, so one large wheel
    is spread over every worker while smaller ones interleave. With ``workers <= 1`` the
    caller compiles itself. :meth:`close` stops the workers.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def compile(self, jobs: Sequence[CompileJob]) -> list[bool]:
        """Compile ``jobs``; one flag per job, True when it compiled."""
        triples = [(str(j.source), str(j.target), j.dfile) for j in jobs]
        if self.workers <= 1:
            return _compile_chunk(triples)
        size = min(64, max(8, -(-len(triples) // self.workers)))
        executor = self._start()
        try:
            futures: list[Future[list[bool]]] = [
                executor.submit(_compile_chunk, triples[i : i + size])
                for i in range(0, len(triples), size)
            ]
            return [flag for future in futures for flag in future.result()]
        except BrokenProcessPool:
            # a worker died (OOM killer, a signal): new workers for the next call; this
            # call compiles in the caller, so one lost worker never fails a package
            self._discard(executor)
            return _compile_chunk(triples)

    def _start(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_ignore_sigint
                )
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False)

    def close(self) -> None:
        """Stop the worker processes (a later :meth:`compile` starts new ones)."""
        with self._lock:
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


def _compile_one(source: Path, target: Path, dfile: str) -> bool:
    try:
        py_compile.compile(
            str(source),
            cfile=str(target),
            dfile=dfile,
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        return False
    return True


# The same compile call, run by another interpreter (stdlib only, JSON in and out).
_REMOTE = """
import json, py_compile, sys
ok = []
for source, target, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile=target, dfile=dfile, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        ok.append(True)
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        ok.append(False)
json.dump(ok, sys.stdout)
"""


def _compile_elsewhere(jobs: Sequence[CompileJob], venv: Venv) -> list[bool]:
    payload = json.dumps([[str(j.source), str(j.target), j.dfile] for j in jobs])
    command = [str(venv.python), "-I", "-c", _REMOTE]
    done = subprocess.run(command, input=payload, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise VenvError(venv.root, f"its interpreter failed to byte-compile:\n{tail}")
    ok: list[bool] = json.loads(done.stdout)
    return ok
