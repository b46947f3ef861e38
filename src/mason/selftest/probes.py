"""What the filesystem under a directory offers mason (``mason selftest``).

Each probe tries one primitive for real in a scratch directory and says whether it works
and, when it does not, which fallback mason uses and whether a guarantee is lost:

* ``renameat2(RENAME_NOREPLACE)``: the atomic check-and-take of a path (SPEC 5.3);
  fallback: ``link`` + ``unlink`` for files, ``mkdir`` + moving the children for
  directories (still no-replace, not one step for a directory);
* hard links: the backups of files an upgrade replaces, and the fallback above; without
  them an upgrade cannot be undone (a guarantee lost);
* ``flock``: two mason processes take turns on one prefix; without it they cannot (lost);
* ``fsync`` of a directory: renames made durable; fallback: ``syncfs`` of the whole
  filesystem (slower, same guarantee).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from mason.errors import mount_point

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


@dataclass(frozen=True)
class Probe:
    """One primitive: whether it works, what mason does instead, whether that is enough."""

    name: str
    works: bool
    detail: str
    fallback: str = ""
    guarantee_lost: bool = False


def filesystem_of(path: Path) -> tuple[Path, str]:
    """The mount point holding ``path`` and its filesystem type (``/proc/self/mounts``)."""
    mount = mount_point(path)
    kind = "unknown"
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[1].replace("\\040", " ") == str(mount):
                kind = fields[2]  # the last one mounted there wins
    except OSError:
        pass
    return mount, kind


def probe_noreplace(scratch: Path) -> Probe:
    a, b, c = scratch / "nr-a", scratch / "nr-b", scratch / "nr-c"
    a.write_text("a")
    b.write_text("b")
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    fallback = "link + unlink for files, mkdir + moving the children for directories"
    if fn is None:
        return Probe("renameat2 RENAME_NOREPLACE", False, "not in this C library", fallback)
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_NOREPLACE)
    err = ctypes.get_errno()
    if rc == 0:
        return Probe(
            "renameat2 RENAME_NOREPLACE", False, "replaced an existing file", guarantee_lost=True
        )
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return Probe("renameat2 RENAME_NOREPLACE", False, os.strerror(err), fallback)
    if err != errno.EEXIST or b.read_text() != "b":
        return Probe("renameat2 RENAME_NOREPLACE", False, os.strerror(err), fallback)
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(c), _RENAME_NOREPLACE)
    if rc != 0 or not c.exists():
        return Probe("renameat2 RENAME_NOREPLACE", False, "a free name was refused", fallback)
    return Probe("renameat2 RENAME_NOREPLACE", True, "refuses a taken name, takes a free one")


def probe_hardlink(scratch: Path) -> Probe:
    src, dst = scratch / "hl-a", scratch / "hl-b"
    src.write_text("x")
    try:
        os.link(src, dst)
    except OSError as e:
        return Probe(
            "hard links",
            False,
            e.strerror or str(e),
            "none: upgrades cannot back up the files they replace",
            guarantee_lost=True,
        )
    same = os.stat(src).st_ino == os.stat(dst).st_ino
    return Probe("hard links", same, "one inode, two names" if same else "a copy was made")


def probe_flock(scratch: Path) -> Probe:
    """Lock in this process; a child must see it held (and see it gone after we drop it)."""
    path = scratch / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            return _no_flock(e.strerror or str(e))
        held_seen = _child_sees_lock(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        free_seen = not _child_sees_lock(path)
    finally:
        os.close(fd)
    if held_seen and free_seen:
        return Probe("flock", True, "another process waits for it")
    return _no_flock("another process did not see the lock")


def _no_flock(why: str) -> Probe:
    return Probe(
        "flock",
        False,
        why,
        "none: two mason processes on this prefix would not take turns",
        guarantee_lost=True,
    )


def _child_sees_lock(path: Path) -> bool:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 2
        try:
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                code = 0
            except BlockingIOError:
                code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1


def probe_dir_fsync(scratch: Path) -> Probe:
    try:
        fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        return Probe(
            "fsync of directories", False, e.strerror or str(e), "syncfs of the whole filesystem"
        )
    return Probe("fsync of directories", True, "accepted")


def all_probes(scratch: Path) -> list[Probe]:
    return [
        probe_noreplace(scratch),
        probe_hardlink(scratch),
        probe_flock(scratch),
        probe_dir_fsync(scratch),
    ]
