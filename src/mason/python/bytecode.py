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
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

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
    if not jobs:
        return []
    if venv.cache_tag != sys.implementation.cache_tag:
        return _compile_elsewhere(jobs, venv)
    if pool is not None:
        return pool.compile(jobs, cache)
    return _compile_chunk(_rows(jobs), cache)


Chunk = list[tuple[str, str, str, str]]


def _rows(jobs: Sequence[CompileJob]) -> Chunk:
    return [(str(j.source), str(j.target), j.dfile, j.digest) for j in jobs]


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
    child could inherit their locks). Each call is cut into chunks, so one large wheel
    is spread over every worker while smaller ones interleave. With ``workers <= 1`` the
    caller compiles itself. :meth:`close` stops the workers.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def compile(
        self, jobs: Sequence[CompileJob], cache: BytecodeCache | None = None
    ) -> list[Compiled]:
        """Compile ``jobs`` (through ``cache``); per job the ``.pyc``'s sha256 and size."""
        rows = _rows(jobs)
        if self.workers <= 1:
            return _compile_chunk(rows, cache)
        size = min(64, max(8, -(-len(rows) // self.workers)))
        executor = self._start()
        try:
            futures: list[Future[list[Compiled]]] = [
                executor.submit(_compile_chunk, rows[i : i + size], cache)
                for i in range(0, len(rows), size)
            ]
            return [done for future in futures for done in future.result()]
        except BrokenProcessPool:
            # a worker died (OOM killer, a signal): new workers for the next call; this
            # call compiles in the caller, so one lost worker never fails a package
            self._discard(executor)
            return _compile_chunk(rows, cache)

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


def _compile_elsewhere(jobs: Sequence[CompileJob], venv: Venv) -> list[Compiled]:
    payload = json.dumps([[str(j.source), str(j.target), j.dfile] for j in jobs])
    command = [str(venv.python), "-I", "-c", _REMOTE]
    done = subprocess.run(command, input=payload, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise VenvError(venv.root, f"its interpreter failed to byte-compile:\n{tail}")
    return [None if row is None else (row[0], row[1]) for row in json.loads(done.stdout)]
