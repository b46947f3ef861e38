"""Build directories kept in ``<prefix>/var/tmp/mason``: which are in use, what they weigh.

Every work directory a package's build gets (:meth:`mason.store.Prefix.staging_dir`) has a
lock file beside it, ``.<name>.busy``, that the process using it keeps a shared ``flock``
on until the directory goes to the trash (:mod:`mason.trash`) or its run ends (then the
file goes too). The lock vanishes with its process, so a directory without a lock file, or
whose lock can be taken exclusively, is kept: from a failed package (its path is printed
with the failure) or from a killed run. ``mason clean --builds`` removes those, never one
a running mason still uses; a package that installs successfully removes its own older
kept directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from mason.layout import TMP_DIR

_held: dict[Path, int] = {}
_held_lock = threading.Lock()


def _marker(work: Path) -> Path:
    return work.parent / f".{work.name}.busy"


@dataclass(frozen=True)
class KeptDir:
    """A kept build directory and the bytes its files take."""

    path: Path
    size: int


def make(base: Path, label: str) -> Path:
    """A new work directory ``base/label-XXXXXXXX``, in use by this process until
    :func:`release` (or the process ends).

    It is made hidden, its lock taken, then renamed into view, so that no other process
    ever sees it unlocked (and takes it for a kept directory).
    """
    base.mkdir(parents=True, exist_ok=True)
    hidden = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=base))
    work = base / hidden.name[1:]
    fd = os.open(_marker(work), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        os.rename(hidden, work)
    except BaseException:
        os.close(fd)
        shutil.rmtree(hidden, ignore_errors=True)
        raise
    with _held_lock:
        _held[work] = fd
    return work


def release(work: Path) -> None:
    """Drop this process's lock on ``work`` and its lock file (a directory without one is
    in nobody's use)."""
    with _held_lock:
        fd = _held.pop(work, None)
    if fd is not None:
        _marker(work).unlink(missing_ok=True)
        os.close(fd)


def release_all() -> None:
    """Drop every lock of this process (its run is over; failed builds stay kept)."""
    with _held_lock:
        works = list(_held)
    for work in works:
        release(work)


def in_use(work: Path) -> bool:
    """Whether another process, or this one, still works in ``work``."""
    with _held_lock:
        if work in _held:
            return True
    try:
        fd = os.open(_marker(work), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # no lock file: nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def tree_size(path: Path) -> int:
    """Bytes taken by the files below ``path`` (each inode counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(root, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def kept(prefix: Path) -> list[KeptDir]:
    """The kept build directories of ``prefix``, oldest first, with their sizes (those a
    running mason uses are left out)."""
    base = prefix / TMP_DIR
    try:
        entries = sorted(base.iterdir(), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
            continue
        if in_use(entry):
            continue
        found.append(KeptDir(entry, tree_size(entry)))
    return found


def building(prefix: Path, package: str) -> bool:
    """Whether some mason process is building ``package`` in ``prefix`` right now."""
    base = prefix / TMP_DIR
    return any(in_use(p) for p in base.glob(f"{package}-*") if p.is_dir())


def older_of(work: Path) -> list[Path]:
    """The kept build directories of the same package as ``work`` (any version)."""
    package = work.name.split("-", 1)[0]
    siblings = work.parent.glob(f"{package}-*")
    return [p for p in siblings if p != work and p.is_dir() and not in_use(p)]


def remove(directories: list[KeptDir]) -> int:
    """Remove kept directories; return the bytes freed."""
    freed = 0
    for d in directories:
        if not in_use(d.path):  # checked again: a run may have started meanwhile
            shutil.rmtree(d.path, ignore_errors=True)
            _marker(d.path).unlink(missing_ok=True)
            freed += d.size
    return freed


def human(size: int) -> str:
    """``1.5 MiB``: a size as people read it."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
