"""Staging whole wheels in worker processes, for the threads of an install run.

Unpacking, hashing and byte-compiling a wheel is Python work: threads doing it in mason's
process take turns on the GIL, and each file written waits for the GIL again after its
system call. A :class:`WheelPool` runs all of :func:`~mason.python.wheels.stage_wheel` in
a worker process instead; the calling thread just waits for the result. The workers are
those of a :class:`~mason.python.bytecode.CompilePool` (started on first use, forkserver,
replaced when one dies).
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from mason.errors import MasonError
from mason.python.bytecode import CompilePool
from mason.python.errors import StagingWriteFailed
from mason.python.pyccache import BytecodeCache
from mason.python.unpacked import UnpackedCache
from mason.python.venv import Venv
from mason.python.wheels import StagedWheel, stage_wheel

#: Wheels at least this big are unpacked by the calling thread, their byte-code compiled
#: in chunks by every worker.
SPREAD_SIZE = 1 << 20


class WheelPool(CompilePool):
    """Stages wheels in up to ``workers`` processes, through the user's ``cache``.

    ``cache`` (a directory, ``None`` for none) holds byte-code (``bytecode/``, see
    :mod:`mason.python.pyccache`) and unpacked wheels (``unpacked/``, see
    :mod:`mason.python.unpacked`). With ``workers <= 1`` the calling thread stages itself.
    """

    def __init__(self, workers: int, cache: Path | None = None) -> None:
        super().__init__(workers)
        self.caches = _Caches(
            BytecodeCache(cache / "bytecode") if cache else None,
            UnpackedCache(cache / "unpacked") if cache else None,
        )

    def warm_up(self) -> None:
        """Start the workers now, in the background (they import mason's staging code
        while the caller does something else, such as making the venv)."""
        if self.workers > 1:
            executor = self._start()
            for _ in range(self.workers):
                executor.submit(_ready)

    def stage(
        self,
        wheel: Path,
        venv: Venv,
        staged_root: Path,
        *,
        tree_root: Path | None = None,
        installer_name: str = "mason",
    ) -> StagedWheel:
        """:func:`~mason.python.wheels.stage_wheel` in a worker; raises what it raises."""
        unpacked = self.caches.unpacked
        key = unpacked.key(wheel, venv, installer_name) if unpacked else None
        root = tree_root or venv.root
        args = (wheel, venv, staged_root, root, installer_name, self.caches, key)
        if self.workers <= 1:
            result = _stage(*args)
        elif _size(wheel) >= SPREAD_SIZE and not (unpacked and key and unpacked.has(key)):
            # a big wheel (sympy: 1,500 sources) would keep one worker busy long after the
            # others are done: unpack it here, and spread its byte-code over every worker
            result = _stage(*args, compile_pool=self)
        else:
            executor = self._start()
            try:
                result = executor.submit(_stage, *args).result()
            except BrokenProcessPool:
                self._discard(executor)  # the next wheel gets new workers
                raise StagingWriteFailed(
                    wheel, "the process staging it died (killed, or out of memory)"
                ) from None
        if isinstance(result, MasonError):
            raise result
        return result


def _ready() -> None:
    """A first task: importing this module is the worker's real start-up."""


@dataclass(frozen=True)
class _Caches:
    bytecode: BytecodeCache | None
    unpacked: UnpackedCache | None


def _size(wheel: Path) -> int:
    try:
        return wheel.stat().st_size
    except OSError:
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
        if caches.unpacked is not None and key is not None:
            done = caches.unpacked.take(key, wheel, venv, staged_root, tree_root)
            if done is not None:
                return done
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
