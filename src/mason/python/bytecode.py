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
each other's file writes): a :class:`~mason.python.compilepool.CompilePool` runs it in
worker processes instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mason.python.errors import VenvError
from mason.python.pyccache import BytecodeCache
from mason.python.venv import Venv
from mason.store.fsops import RawFile

if TYPE_CHECKING:
    from mason.python.compilepool import CompilePool


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
    return compile_chunk(rows, cache)


def job_row(job: CompileJob) -> Row:
    """``job`` as a row of a :data:`Chunk` (what a worker is sent)."""
    return (str(job.source), str(job.target), job.dfile, job.digest)


def _rows(jobs: Sequence[CompileJob]) -> Chunk:
    return [job_row(j) for j in jobs]


def compile_chunk(chunk: Chunk, cache: BytecodeCache | None = None) -> list[Compiled]:
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
        text = _read(source)
    except OSError:
        return None
    data = pyc_bytes(text, dfile)
    if data is None:
        return None
    _write(target, data)
    if cache is not None:
        cache.keep(dfile, digest or hashlib.sha256(text).hexdigest(), Path(target))
    return hashlib.sha256(data).hexdigest(), len(data)


def _read(source: str) -> bytes:
    """The bytes of ``source`` (a descriptor, one ``fstat``: no buffered file object)."""
    fd = os.open(source, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        chunks = [os.read(fd, size + 1)]  # a regular file reads short only at its end
        if len(chunks[0]) > size:  # it grew since the fstat: on to its end
            while more := os.read(fd, 1 << 20):
                chunks.append(more)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write(target: str, data: bytes) -> None:
    # over a .pyc the wheel shipped, as py_compile does
    with RawFile(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)) as f:
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
