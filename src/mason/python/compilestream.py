"""Byte-compiling a wheel's modules while it is still being unpacked.

A :class:`CompileStream` takes each source as soon as it is written (a
:data:`~mason.python.bytecode.Row` of strings). With a
:class:`~mason.python.compilepool.CompilePool` of several workers (a big wheel unpacked by
the job's thread), every ``CHUNK`` sources go to a worker at once, so the workers compile
the first modules while the thread writes the next ones; :meth:`CompileStream.results`
sends the rest and collects everything, in the order the sources came. Without such a
pool (a worker staging a whole wheel, ``-j1``, another interpreter) the sources are
compiled together at the end, as :func:`~mason.python.bytecode.compile_sources` does.
Each source is compiled once: a chunk whose worker died is compiled by the caller, and
only that chunk.
"""

from __future__ import annotations

import sys
from concurrent.futures import Future

from mason.python.bytecode import Chunk, Compiled, Row, compile_rows
from mason.python.compilepool import CompilePool
from mason.python.pyccache import BytecodeCache
from mason.python.venv import Venv

#: Sources per chunk sent while unpacking: small enough that the workers start early,
#: large enough that sending it costs little next to compiling it.
CHUNK = 24


class CompileStream:
    """The byte-code of one wheel's sources, compiled as they come (see the module)."""

    def __init__(self, venv: Venv, pool: CompilePool | None, cache: BytecodeCache | None) -> None:
        self.venv = venv
        self.cache = cache
        eager = pool is not None and pool.workers > 1
        self.pool = pool if eager and venv.cache_tag == sys.implementation.cache_tag else None
        self.rows: Chunk = []
        self._pending: Chunk = []
        self._chunks: list[Chunk] = []
        self._futures: list[Future[list[Compiled]]] = []

    def add(self, row: Row) -> None:
        """Take ``row``; compiling may start at once."""
        self.rows.append(row)
        if self.pool is None:
            return
        self._pending.append(row)
        if len(self._pending) >= CHUNK:
            self._send()

    def _send(self) -> None:
        assert self.pool is not None
        chunk, self._pending = self._pending, []
        self._chunks.append(chunk)
        self._futures.append(self.pool.submit_chunk(chunk, self.cache))

    def results(self) -> list[Compiled]:
        """Per row (in the order added), the sha256 and size of its ``.pyc``, or ``None``
        when the source does not compile."""
        if self.pool is None:
            return compile_rows(self.rows, self.venv, None, self.cache)
        rest, self._pending = self._pending, []
        size = min(64, max(8, -(-len(rest) // self.pool.workers)))
        for i in range(0, len(rest), size):
            self._pending = rest[i : i + size]
            self._send()
        return self.pool.gather(self._chunks, self._futures, self.cache)

    def wait(self) -> None:
        """Wait for the compiling under way (a failed staging removes its files after)."""
        if self.pool is not None:
            self.pool.give_back()
        for future in self._futures:
            future.exception()
