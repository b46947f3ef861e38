"""Staging wheels for the threads of an install run: from the cache, or in worker processes.

Unpacking, hashing and byte-compiling a wheel is Python work: threads doing it in mason's
process take turns on the GIL, and each file written waits for the GIL again after its
system call. A :class:`WheelPool` therefore stages a wheel one of three ways:

- found in the user's unpacked-wheel cache (:mod:`mason.python.unpacked`): linked out by
  the calling thread (a few system calls per file, no process needed);
- a wheel with many sources (sympy): unpacked by the calling thread (which holds a core
  of the budget meanwhile), its byte-code compiled in chunks by the workers as the sources
  are written (:mod:`mason.python.compilestream`), so it does not keep one worker busy
  alone;
- any other: all of :func:`~mason.python.wheels.stage_wheel` in a worker process, the
  calling thread waiting for the result.

The workers are those of a :class:`~mason.python.compilepool.CompilePool` (started on first
use, forkserver, replaced when one dies), whose budget of ``-j`` cores counts the calling
threads unpacking too: never more than ``-j`` at work at once. A freshly staged wheel is
kept in the cache.
"""

from __future__ import annotations

import os
import stat
import zipfile
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from mason.errors import MasonError
from mason.python.compilepool import CompilePool
from mason.python.errors import StagingWriteFailed
from mason.python.pyccache import BytecodeCache
from mason.python.unpacked import UnpackedCache
from mason.python.venv import Venv
from mason.python.wheels import StagedWheel, stage_wheel

#: Wheels with at least this many sources are unpacked by the calling thread, their
#: byte-code compiled in chunks by every worker.
SPREAD_SOURCES = 200


class WheelPool(CompilePool):
    """Stages wheels in up to ``workers`` processes, through the user's ``cache``.

    ``cache`` (a directory, ``None`` for none) holds byte-code (``bytecode/``, see
    :mod:`mason.python.pyccache`) and unpacked wheels (``unpacked/``, see
    :mod:`mason.python.unpacked`). With ``workers <= 1`` the calling thread stages itself.
    """

    def __init__(self, workers: int, cache: Path | None = None) -> None:
        super().__init__(workers)
        cache = private(cache) if cache is not None else None
        self.caches = _Caches(
            BytecodeCache(cache / "bytecode") if cache else None,
            UnpackedCache(cache / "unpacked") if cache else None,
        )

    def stage(
        self,
        wheel: Path,
        venv: Venv,
        staged_root: Path,
        *,
        tree_root: Path | None = None,
        installer_name: str = "mason",
        sha256: str | None = None,
    ) -> StagedWheel:
        """:func:`~mason.python.wheels.stage_wheel` in a worker; raises what it raises.
        ``sha256``: the wheel's, when the caller verified it (saves hashing it again; such
        a wheel's byte-code is kept only in its unpacked entry).

        A wheel in the unpacked cache is linked out by the calling thread: that is a few
        system calls per file, not worth a process (nor starting the workers for).
        """
        unpacked = self.caches.unpacked
        key = unpacked.key(wheel, venv, installer_name, sha256) if unpacked else None
        root = tree_root or venv.root
        if unpacked is not None and key is not None:
            done = unpacked.take(key, wheel, venv, staged_root, root)
            if done is not None:
                return done
        caches = self.caches
        if sha256 is not None and unpacked is not None and key is not None:
            # a wheel the catalog fixes: its unpacked entry keeps its byte-code too; the
            # byte-code cache is for wheels built again from the same sources (new wheel,
            # same modules), and filling it here would cost a lookup and a link per module
            caches = _Caches(None, unpacked)
        args = (wheel, venv, staged_root, root, installer_name, caches, key)
        if self.workers <= 1:
            result = _stage(*args)
        elif _sources(wheel) >= SPREAD_SOURCES:
            # a big wheel (sympy: 1,500 sources) would keep one worker busy long after the
            # others are done: unpack it here (on a core of the budget), its byte-code
            # compiled by the other workers as it is written, then by every one
            with self.slot():
                result = _stage(*args, compile_pool=self)
        else:
            try:
                result = self.submit(False, _stage, *args).result()
            except BrokenProcessPool:  # the next wheel gets new workers
                raise StagingWriteFailed(
                    wheel, "the process staging it died (killed, or out of memory)"
                ) from None
        if isinstance(result, MasonError):
            raise result
        return result


@dataclass(frozen=True)
class _Caches:
    bytecode: BytecodeCache | None
    unpacked: UnpackedCache | None


def private(cache: Path) -> Path | None:
    """``cache``, created private (mode 0700) if missing; ``None`` (no cache) when it is
    not a directory of this user that only this user may write: whoever can write the
    cache chooses the files of every prefix installed from it."""
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = cache.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return cache


def _sources(wheel: Path) -> int:
    """How many Python sources ``wheel`` ships (0 when it cannot be read)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return sum(1 for name in archive.namelist() if name.endswith(".py"))
    except (OSError, zipfile.BadZipFile):
        return 0  # stage_wheel reports it


def _stage(
    wheel: Path,
    venv: Venv,
    staged_root: Path,
    tree_root: Path,
    installer_name: str,
    caches: _Caches,
    key: str | None,
    compile_pool: CompilePool | None = None,
) -> StagedWheel | MasonError:
    # Errors travel back as values: the caller re-raises them in its own thread.
    try:
        staged = stage_wheel(
            wheel,
            venv,
            staged_root,
            installer_name=installer_name,
            tree_root=tree_root,
            compile_pool=compile_pool,
            bytecode_cache=caches.bytecode,
        )
        if caches.unpacked is not None and key is not None:
            caches.unpacked.keep(key, staged, venv)
        return staged
    except MasonError as e:
        return e
