"""Filesystem primitives of the merge: no-replace renames, durable writes, a crash hook.

Every operation that changes the disk during a merge or a recovery goes through this
module, so the test hook ``MASON_TEST_KILL_AFTER_OPS=N`` can SIGKILL the process right
after its Nth operation and the crash tests can step through every instant.

The second test hook, ``MASON_TEST_POWER_LOG=FILE``, appends each operation and each
fsync to FILE as a JSON line (written before the operation is counted, so a kill never
loses it). The power-cut model of the tests replays subsets of that log to rebuild the
states a power cut could leave (``docs/merge.md``, "Power loss, modelled").
"""

from __future__ import annotations

import base64
import ctypes
import errno
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeAlias

StrPath: TypeAlias = str | Path

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)

KILL_ENV = "MASON_TEST_KILL_AFTER_OPS"
POWER_LOG_ENV = "MASON_TEST_POWER_LOG"
_ops = 0
_kill_after: int | None = None
_power_log: str | None = None


def arm_crash_hook() -> None:
    """Start counting operations; read the kill threshold and the log from the environment."""
    global _ops, _kill_after, _power_log
    raw = os.environ.get(KILL_ENV)
    _ops = 0
    _kill_after = int(raw) if raw else None
    _power_log = os.environ.get(POWER_LOG_ENV) or None


def note(op: str, **fields: object) -> None:
    """Log one operation for the power-cut model (a no-op unless the hook is armed)."""
    if _power_log is None:
        return
    line = json.dumps({"op": op, **fields}, default=str) + "\n"
    fd = os.open(_power_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _tick() -> None:
    global _ops
    _ops += 1
    if _kill_after is not None and _ops >= _kill_after:
        os.kill(os.getpid(), signal.SIGKILL)


def op_count() -> int:
    """How many counted operations ran since the hook was armed."""
    return _ops


def rename_noreplace(src: StrPath, dst: StrPath) -> None:
    """Rename ``src`` to ``dst``, failing with ``FileExistsError`` if ``dst`` exists.

    Checking that ``dst`` is free and taking it are one atomic step (renameat2 with
    RENAME_NOREPLACE); where the filesystem does not support it, files fall back to
    link + unlink, which is no-replace too.
    """
    if _renameat2 is not None:
        rc = _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            note("rename", src=src, dst=dst)
            _tick()
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(src), None, str(dst))
    _fallback_noreplace(src, dst)


def _fallback_noreplace(src: StrPath, dst: StrPath) -> None:
    if os.path.isdir(src) and not os.path.islink(src):
        os.mkdir(dst)  # EEXIST if taken
        note("mkdir", path=dst)
        _tick()
        for child in os.listdir(src):
            rename_noreplace(os.path.join(src, child), os.path.join(dst, child))
        os.rmdir(src)
        note("rmdir", path=src)
        _tick()
        return
    os.link(src, dst, follow_symlinks=False)
    note("link", src=src, dst=dst)
    _tick()
    os.unlink(src)
    note("unlink", path=src)
    _tick()


_RENAME_EXCHANGE = 2


def can_exchange() -> bool:
    """Whether :func:`exchange` is available (Linux ``renameat2``)."""
    return _renameat2 is not None


def exchange(a: StrPath, b: StrPath) -> None:
    """Swap two existing paths atomically (``renameat2`` with RENAME_EXCHANGE)."""
    assert _renameat2 is not None
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a), None, str(b))
    _tick()


def rename_over(src: StrPath, dst: StrPath) -> None:
    """Rename ``src`` onto ``dst``, replacing it atomically (only when policy decided so)."""
    os.rename(src, dst)
    note("rename", src=src, dst=dst)
    _tick()


def link(src: StrPath, dst: StrPath) -> None:
    """Hard-link ``src`` (not following a symlink) to the new name ``dst``."""
    os.link(src, dst, follow_symlinks=False)
    note("link", src=src, dst=dst)
    _tick()


def unlink(path: Path) -> None:
    """Remove a file or symlink."""
    os.unlink(path)
    note("unlink", path=path)
    _tick()


def rmdir(path: Path) -> None:
    """Remove an empty directory."""
    os.rmdir(path)
    note("rmdir", path=path)
    _tick()


def rmtree(path: Path) -> None:
    """Remove a whole tree (one counted operation)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)
    note("rmtree", path=path)
    _tick()


def prune_empty(dirs: Iterable[Path], stop: Path, remove: Callable[[Path], None] = rmdir) -> None:
    """Remove each of ``dirs`` and then its parents, up to (never) ``stop``, while they
    are empty; deepest first. A directory already gone is passed over (a crash between
    two prunes); one not empty (or not a directory) ends the walk up from there.
    ``remove`` is this module's counted :func:`rmdir` by default; trees outside a
    transaction (staging) pass ``os.rmdir``.

    In a transaction (the default ``remove``) the parents of removed directories are
    fsync'd, once each, before returning: otherwise a power cut may bring an emptied
    directory back after the journal entry is gone (found by the power-cut model,
    docs/merge.md).
    """
    parents: set[Path] = set()
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        while d != stop and d.is_relative_to(stop):
            try:
                remove(d)
            except FileNotFoundError:
                pass  # pruned before a crash: go on with its parent
            except OSError:
                break
            parents.add(d.parent)
            d = d.parent
    if remove is rmdir:
        fsync_dirs(parents)


def makedirs(path: Path) -> None:
    """Create a directory and its parents if missing."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        note("mkdir", path=path)
        _tick()


def fsync_dir(path: StrPath) -> None:
    """Make the names in a directory durable (by ``syncfs`` where a filesystem refuses
    to fsync a directory, as some network and FUSE filesystems do)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF):
            raise
        syncfs(Path(path))
    finally:
        os.close(fd)
    note("fsync_dir", path=path)


# Above this many directories one syncfs() (a single journal commit on ext4) is cheaper
# than an fsync per directory (each forcing its own commit).
SYNCFS_THRESHOLD = 32


def fsync_dirs(paths: set[Path] | set[str]) -> None:
    """fsync each directory once (the batch of one package's merge); skip vanished ones."""
    if len(paths) > SYNCFS_THRESHOLD:
        existing = next((p for p in sorted(map(str, paths)) if os.path.isdir(p)), None)
        if existing is not None:
            syncfs(Path(existing))
        return
    for p in sorted(map(str, paths)):
        try:
            fsync_dir(p)
        except FileNotFoundError:
            continue


def write_all(fd: int, data: bytes | memoryview) -> int:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less); its length."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)


class RawFile:
    """A file descriptor written with :func:`write_all` (``write``, ``close``): for the
    many small files of a wheel, without Python's buffered file object (its ``fstat``,
    ``ioctl`` and ``lseek`` per file). Closes ``fd`` at the end of a ``with``."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> int:
        return write_all(self.fd, data)

    def __enter__(self) -> RawFile:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` durably: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)  # a full disk leaves no temporary behind
        raise
    os.close(fd)
    if _power_log is not None:
        note("write", path=tmp, data=base64.b64encode(data).decode())
        note("fsync", path=tmp)
    _tick()
    os.rename(tmp, path)
    note("rename", src=tmp, dst=path)
    _tick()
    fsync_dir(path.parent)


def syncfs(path: Path) -> None:
    """Flush every dirty page of the filesystem holding ``path`` (one call, not per file)."""
    fn = getattr(_libc, "syncfs", None)
    fd = os.open(path, os.O_RDONLY)
    try:
        if fn is None or fn(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
    note("syncfs", path=path)
