"""The build sandbox's server: one per mason process, run inside bubblewrap.

    python -S -E sandboxd.py FD

bwrap (started once by :class:`mason.build.sandboxrun.Server`) gives it a new user, IPC
and network namespace (only loopback), a fresh ``/dev``, ``/`` bound writable and every
capability *in that user namespace* (``--cap-add ALL``: none outside it). Once, at its
start, the server makes every mount but ``/dev`` read-only and private, and empties what
an exec could give a program back: the bounding, inheritable and ambient capability sets,
with ``SECBIT_NOROOT`` locked for root and no_new_privs. It keeps its own effective
capabilities, for the mounts below; no program it starts holds any.

``FD`` is a ``SOCK_SEQPACKET`` socket; each message on it asks for one script: a JSON
request and, by ``SCM_RIGHTS``, a reply socket, the package's work directory, the log
and the descriptors the script must inherit (the jobserver's). Per request a thread of
the server (no fork: a Python fork costs a page table and its copy-on-write faults):

- makes a mount namespace of its own (``unshare(CLONE_NEWNS)``, which a thread may do:
  its mounts are not locked, the namespace belongs to the same user namespace), mounts a
  tmpfs on the first live tree and there an overlay per live tree (the lower layer by
  descriptor), binds the overlays over the live trees and the writable directories back
  over them, read-write;
- enters a Landlock domain of its own (:func:`confine`: the scripts share a uid and a
  user namespace, the domain keeps each away from the others' processes);
- starts the script (``posix_spawn``: it inherits the thread's namespace and domain): a
  new session (host pids: mason signals its process group), the log as stdout and
  stderr, the passed descriptors at their numbers, no capability;
- replies ``pid N``; kills the script's group if mason's end closes first (mason died);
- when the script has ended, copies each upper layer that is not empty to
  ``<work>/<capture>/<i>`` (``cp -a``: whiteouts and the opaque xattr included; the
  directories are made then, not before) and replies ``status N`` (128 + the signal if it
  was killed; 125 with a ``mason-sandbox:`` line in the log when the set-up failed).

Only the standard library: it is started by path, outside mason's package.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import sys
import threading
from _thread import start_new_thread
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
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)  # which Python ignores
MAX_FDS = 16

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


def _fd_path(fd: int, name: str = "") -> str:
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
            mount(_fd_path(fd), target, None, MS_BIND | MS_REC)
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
            upper, work = _fd_path(base, f"u{i}"), _fd_path(base, f"w{i}")
            opts = f"userxattr,lowerdir={_fd_path(lower)},upperdir={upper},workdir={work}"
            mount("mason-sandbox", _fd_path(base, f"m{i}"), "overlay", 0, opts)
        names = range(len(live))
        uppers = [os.open(f"u{i}", os.O_RDONLY | os.O_DIRECTORY, dir_fd=base) for i in names]
        overlays = [os.open(f"m{i}", os.O_PATH, dir_fd=base) for i in names]
    finally:
        os.close(base)
    return uppers, overlays


def executable(name: str, env: dict[str, str]) -> str:
    """``name`` looked up in ``env``'s ``PATH`` as exec would (unless it holds a ``/``)."""
    if "/" in name:
        return name
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    raise SetupFailed(f"{name}: command not found")


def spawn(argv: list[str], env: dict[str, str], out: int, fds: dict[int, int]) -> int:
    """``argv`` started in this thread's namespace and working directory, in a session of
    its own, ``/dev/null`` its stdin, ``out`` its stdout and stderr, each ``fds`` source
    at its target number; its pid."""
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    actions += [(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)]
    actions += [(os.POSIX_SPAWN_DUP2, source, target) for source, target in fds.items()]
    return os.posix_spawn(
        executable(argv[0], env), argv, env, file_actions=actions, setsid=True,
        setsigdef=_DEFAULT_SIGNALS, setsigmask=(),
    )  # fmt: skip


def above(fd: int, floor: int) -> int:
    """``fd`` moved to a number of at least ``floor`` (close-on-exec)."""
    if fd >= floor:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return moved


def watch(conn: socket.socket, pid: int) -> int:
    """The exit status of the script ``pid`` (128 + a signal); if mason's end of
    ``conn`` closes first (mason was killed), the script's process group is killed."""
    poller = select.poll()
    pidfd = os.pidfd_open(pid)
    poller.register(pidfd, select.POLLIN)
    poller.register(conn, select.POLLIN)  # mason sends nothing: readable means closed
    while True:
        ready = {fd for fd, _ in poller.poll()}
        if pidfd in ready:
            break
        if ready:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            break
    os.close(pidfd)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return 128 - code if code < 0 else code


def copy_uppers(uppers: list[int], work: int, capture: str, log: int) -> bool:
    """Each upper layer that is not empty copied to ``<work>/<capture>/<i>``; whether
    every copy worked."""
    ok = True
    for i, upper in enumerate(uppers):
        if not os.listdir(upper):
            continue
        os.makedirs(_fd_path(work, capture), exist_ok=True)
        top = max(*uppers, work)  # above both: neither dup2 clobbers the other's source
        src, dst = top + 1, top + 2
        argv = ["cp", "-a", "--", _fd_path(src, "."), _fd_path(dst, f"{capture}/{i}")]
        pid = spawn(argv, {"PATH": os.defpath}, log, {upper: src, work: dst})
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            os.write(log, f"mason-sandbox: copy of upper layer {i} failed\n".encode())
            ok = False
    return ok


def shepherd(msg: bytes, fds: list[int]) -> None:
    """One request, from its view to the captured layers (run by a thread of its own).
    Every descriptor is closed once here: the numbers are shared with other threads."""
    req = json.loads(msg)
    floor = max([2, *req["targets"]]) + 1  # the targets stay free for the script's
    fds = [above(fd, floor) for fd in fds]
    conn = socket.socket(fileno=fds[0])
    work, log, passed = fds[1], fds[2], fds[3:]
    try:
        with contextlib.ExitStack() as held:
            held.callback(close_all, passed)
            try:
                status = run_script(req, conn, work, log, passed, held)
            except BaseException as e:  # said in the script's log, not lost
                import traceback

                os.write(log, f"mason-sandbox: {''.join(traceback.format_exception(e))}".encode())
                status = 125
        with contextlib.suppress(OSError):  # mason's end is gone
            conn.send(f"status {status}".encode())
    finally:
        close_all([work, log])
        conn.close()


def close_all(fds: list[int]) -> None:
    """Close each of ``fds``, once: the list is emptied."""
    while fds:
        os.close(fds.pop())


def run_script(
    req: dict[str, Any],
    conn: socket.socket,
    work: int,
    log: int,
    passed: list[int],
    held: contextlib.ExitStack,
) -> int:
    """The script of ``req`` in its view; its exit status. ``passed`` is closed once the
    script holds it, the upper layers when ``held`` closes."""
    try:
        uppers = make_view(req)
        held.callback(close_all, uppers)
        os.chdir(req["cwd"])  # this thread's own (unshare gave it its own working directory)
        confine()
    except (OSError, SetupFailed) as e:
        os.write(log, f"mason-sandbox: {e}\n".encode())
        return 125
    try:
        pid = spawn(req["argv"], req["env"], log, dict(zip(passed, req["targets"], strict=True)))
    except (OSError, SetupFailed) as e:
        os.write(log, f"mason-sandbox: exec {req['argv'][0]}: {e}\n".encode())
        return 127
    conn.send(f"pid {pid}".encode())
    close_all(passed)
    status = watch(conn, pid)
    return status if copy_uppers(uppers, work, req["capture"], log) else 125


def receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """A message and the descriptors it carries (close-on-exec); ``b""`` at the end."""
    size = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
    msg, ancdata, _, _ = sock.recvmsg(1 << 20, size, socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


def refuse(failed: Exception, fds: list[int]) -> None:
    """A request answered ``status 125``, the server's failed set-up said in its log."""
    with contextlib.suppress(OSError):
        os.write(fds[2], f"mason-sandbox: {failed}\n".encode())
    with socket.socket(fileno=fds[0]) as conn, contextlib.suppress(OSError):
        conn.send(b"status 125")
    for fd in fds[1:]:
        os.close(fd)


def serve(ctl: socket.socket) -> None:
    """A thread per request, until mason closes its end (then until the threads still
    watching a script end: when it does, or when mason's end of its socket closes)."""
    failed: Exception | None = None
    try:
        prepare()
    except (OSError, SetupFailed) as e:  # every request then fails with the reason
        failed = e
    while True:
        msg, fds = receive(ctl)
        if not msg:  # the threads still watching a script end with it, or with mason
            with _idle:
                _idle.wait_for(lambda: not _busy[0])
            return
        if failed is not None:
            refuse(failed, fds)
            continue
        with _idle:
            _busy[0] += 1
        start_new_thread(_shepherd_thread, (msg, fds))  # no Thread: start() waits for it


_idle = threading.Condition()
_busy = [0]  # threads with a request


def _shepherd_thread(msg: bytes, fds: list[int]) -> None:
    try:
        shepherd(msg, fds)
    finally:
        with _idle:
            _busy[0] -= 1
            _idle.notify_all()


if __name__ == "__main__":
    control = socket.socket(fileno=int(sys.argv[1]))
    control.set_inheritable(False)
    serve(control)
