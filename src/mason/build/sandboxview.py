"""The build sandbox's kernel side: the server's one-time view and credentials, and per
script a mount namespace with the live trees behind overlays and a Landlock domain.

Used by :mod:`mason.build.sandboxd` (which says what each step is for); like it, only
the standard library: both are run by path, outside mason's package.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 24, 28, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 1, 2
CAP_VERSION_3 = 0x20080522
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_RESTRICT_SELF = 444, 446  # one number on every arch
LANDLOCK_ACCESS_FS_MAKE_BLOCK = 1 << 11
_KEPT_FLAGS = (  # (statvfs flag, mount flag) a remount must keep on a locked mount
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
libc = ctypes.CDLL(None, use_errno=True)


class SetupFailed(Exception):
    """A step of the set-up failed (said in the log, status 125)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupFailed(f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype)]
    result = libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), data.encode() or None)
    _check(result, f"mount {source or ''} on {target}")


def kept_flags(path: str | int) -> int:
    """The mount flags of ``path``'s mount (or a descriptor's) a remount must keep
    (locked ones)."""
    kept = os.statvfs(path).f_flag
    return sum(m for s, m in _KEPT_FLAGS if kept & s)


def writable_mounts() -> list[str]:
    """The mount points of this namespace mounted read-write."""
    points = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split()
            if b"rw" in fields[5].split(b","):
                points.append(fields[4].decode("unicode_escape"))  # octal escapes (\\040)
    return points


def remount_read_only(path: str) -> None:
    """``path``'s mount read-only, keeping the flags it was locked with. A mount point
    the user cannot reach (another user's private directory: a script, the same user
    without capabilities, cannot either) or that is gone is left alone."""
    try:
        flags = kept_flags(path)
    except (PermissionError, FileNotFoundError, NotADirectoryError):
        return
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def drop_exec_capabilities() -> None:
    """Nothing this process execs gets a capability: the bounding, inheritable and
    ambient sets emptied, root's implicit ones refused for good (``SECBIT_NOROOT``,
    locked), no_new_privs. The effective set (the mounts) stays, for this process only."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient")
    for cap in range(last + 1):
        _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    header = (ctypes.c_uint32 * 2)(CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # (effective, permitted, inheritable) x 2 words
    _check(libc.capget(header, data), "capget")
    data[2] = data[5] = 0
    _check(libc.capset(header, data), "capset")
    _check(libc.prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0), "noroot")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def confine() -> None:
    """This thread, and so the script it starts, in a Landlock domain of its own. Its only
    rule (no block device made: without ``CAP_MKNOD`` a script cannot anyway) does not
    matter; the domain does: a process in it cannot ptrace, nor open ``/proc/<pid>/root``,
    ``mem``, ``environ`` or ``fd`` of, a process outside it (another package's build, the
    server, mason). The script shares its user namespace and uid with the others'."""
    attr = ctypes.c_uint64(LANDLOCK_ACCESS_FS_MAKE_BLOCK)  # handled_access_fs (ABI 1)
    ruleset = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), 8, 0)
    if ruleset < 0:
        _check(-1, "Landlock (Linux 5.13 or later, with landlock in the lsm= boot list)")
    try:
        _check(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "Landlock restrict_self")
    finally:
        os.close(ruleset)


def prepare() -> None:
    """The server's own view and credentials, once (see the module docstring). The view
    is a mount namespace of its own: run as another user than root, bwrap leaves its
    program in a user namespace nested in the one owning bwrap's mounts."""
    _check(libc.unshare(CLONE_NEWNS), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing a thread mounts leaves its namespace
    for point in writable_mounts():  # bwrap's binds of the host's mounts
        if point != "/dev" and not point.startswith("/dev/"):
            remount_read_only(point)
    drop_exec_capabilities()


def fd_path(fd: int, name: str = "") -> str:
    return f"/proc/self/fd/{fd}/{name}" if name else f"/proc/self/fd/{fd}"


def make_view(req: dict[str, Any]) -> list[int]:
    """In a new mount namespace of this thread: the live trees behind overlays whose
    upper layers are on a tmpfs mounted on the first live tree (covered at once by its
    overlay), the writable paths bound back read-write; descriptors of the upper layers."""
    live, writable = req["live"], req["writable"]
    _check(libc.unshare(CLONE_NEWNS), "unshare")
    held = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in [*live, *writable]]
    lowers, sources = held[: len(live)], held[len(live) :]
    uppers: list[int] = []
    try:
        uppers, overlays = _overlays(live, lowers)
        held += overlays
        for fd, target in zip(overlays + sources, [*live, *writable], strict=True):
            mount(fd_path(fd), target, None, MS_BIND | MS_REC)
        for fd, target in zip(sources, writable, strict=True):
            mount(None, target, None, MS_REMOUNT | MS_BIND | kept_flags(fd))
    except BaseException:
        close_all(uppers)
        raise
    finally:
        close_all(held)
    return uppers


def _overlays(live: list[str], lowers: list[int]) -> tuple[list[int], list[int]]:
    """A tmpfs on ``live[0]`` and an overlay in it per live tree: (upper layers,
    overlays), as descriptors."""
    if not live:
        return [], []
    mount("mason-sandbox", live[0], "tmpfs", 0, "mode=0700")
    base = os.open(live[0], os.O_PATH | os.O_DIRECTORY)
    try:
        for i, lower in enumerate(lowers):
            for d in "uwm":
                os.mkdir(f"{d}{i}", dir_fd=base)
            upper, work = fd_path(base, f"u{i}"), fd_path(base, f"w{i}")
            opts = f"userxattr,lowerdir={fd_path(lower)},upperdir={upper},workdir={work}"
            mount("mason-sandbox", fd_path(base, f"m{i}"), "overlay", 0, opts)
        names = range(len(live))
        uppers = [os.open(f"u{i}", os.O_RDONLY | os.O_DIRECTORY, dir_fd=base) for i in names]
        overlays = [os.open(f"m{i}", os.O_PATH, dir_fd=base) for i in names]
    finally:
        os.close(base)
    return uppers, overlays


def close_all(fds: list[int]) -> None:
    """Close each of ``fds``, once: the list is emptied."""
    while fds:
        os.close(fds.pop())
