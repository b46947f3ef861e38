"""The build sandbox's server: one per mason process, run inside bubblewrap.

    python -S -E sandboxd.py FD

bwrap (started once by :class:`mason.build.sandboxrun.Server`) gives it a new user, IPC
and network namespace (only loopback) and a fresh ``/dev``; ``/`` stays writable there
for the shepherds, which bind the build directories from it before they make it
read-only (an overlay's lower layer must be on a mount without locked submounts, which
bwrap's binds would be). ``FD`` is a ``SOCK_SEQPACKET`` socket; each message on it asks
for one script: a JSON request and, by ``SCM_RIGHTS``, a reply socket, the capture
directory, the log and the descriptors the script must inherit (the jobserver's). Per
request the server forks a *shepherd*, which:

- makes a user and mount namespace of its own (uid and gid map to themselves), mounts a
  tmpfs on the request's ``base`` and there an overlay per live tree, binds the writable
  directories aside, makes every other mount but ``/dev`` read-only, then binds the
  overlays over the live trees and the writable directories back over them;
- starts the script (vfork and exec): a new session (host pids: mason signals its
  process group), no capability left (no_new_privs; root: ``SECBIT_NOROOT`` for the
  exec), the log as stdout and stderr, the passed descriptors at their numbers;
- replies ``pid N``; kills the script's group if mason's end closes first (mason died);
- when the script has ended, copies each upper layer that is not empty to
  ``<capture>/<i>`` (``cp -a``: whiteouts and the opaque xattr included) and replies
  ``status N`` (128 + the signal if it was killed; 125 with a ``mason-sandbox:`` line in
  the log when the set-up failed).

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
import subprocess
import sys
import traceback
from typing import Any

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, SECBIT_NOROOT = 28, 38, 1
_KEPT_FLAGS = (  # (statvfs flag, mount flag) a remount must keep on a locked mount
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
MAX_FDS = 16

libc = ctypes.CDLL(None, use_errno=True)


class SetupFailed(Exception):
    """A step of the shepherd's set-up failed (said in the log, status 125)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupFailed(f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype)]
    result = libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), data.encode() or None)
    _check(result, f"mount {source or ''} on {target}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise SetupFailed(f"write {path}: {e.strerror}") from e


def enter_namespaces() -> None:
    """A new user and mount namespace; the uid and gid map to themselves."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing done here leaves the namespace


def make_view(req: dict[str, Any]) -> list[int]:
    """The live trees behind overlays on a tmpfs at ``base``, the writable paths bound
    over them, every other mount but ``/dev`` read-only; returns descriptors of the
    upper layers (``base`` is hidden once the prefix is covered)."""
    base, live, writable = req["base"], req["live"], req["writable"]
    mount("mason-sandbox", base, "tmpfs", 0, "mode=0700")
    for i, lower in enumerate(live):
        for d in "uwm":
            os.mkdir(f"{base}/{d}{i}")
        opts = f"userxattr,lowerdir={lower},upperdir={base}/u{i},workdir={base}/w{i}"
        mount("mason-sandbox", f"{base}/m{i}", "overlay", 0, opts)
    for j, path in enumerate(writable):
        os.mkdir(f"{base}/b{j}")
        mount(path, f"{base}/b{j}", None, MS_BIND | MS_REC)
    for point in writable_mounts():  # bwrap left them writable for the shepherds
        if not any(point == top or point.startswith(f"{top}/") for top in ("/dev", base)):
            remount_read_only(point)
    uppers = [os.open(f"{base}/u{i}", os.O_RDONLY | os.O_DIRECTORY) for i in range(len(live))]
    # by descriptor: the first overlay bound over the prefix hides ``base``
    held = [os.open(f"{base}/m{i}", os.O_PATH) for i in range(len(live))]
    held += [os.open(f"{base}/b{j}", os.O_PATH) for j in range(len(writable))]
    for fd, target in zip(held, [*live, *writable], strict=True):
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        os.close(fd)
    return uppers


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
    the user cannot reach (another user's private directory: the script, the same user
    without capabilities there, cannot either) or that is gone is left alone."""
    try:
        kept = os.statvfs(path).f_flag
    except (PermissionError, FileNotFoundError, NotADirectoryError):
        return
    flags = sum(m for s, m in _KEPT_FLAGS if kept & s)
    mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def start_script(req: dict[str, Any], log: int, passed: list[int]) -> subprocess.Popen[bytes]:
    """The script, started (vfork and exec): its own session, the log as stdout and
    stderr, ``passed`` at the request's ``targets`` (the shepherd holds no descriptor
    below them), no capability: no_new_privs, and for root ``SECBIT_NOROOT`` while the
    exec happens (a non-root uid loses its capabilities at the exec anyway)."""
    targets = req["targets"]
    for fd, target in zip(passed, targets, strict=True):
        os.dup2(fd, target)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    root = os.geteuid() == 0
    if root:
        _check(libc.prctl(PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0), "securebits")
    try:
        return subprocess.Popen(
            req["argv"],
            cwd=req["cwd"],
            env=req["env"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=targets,
            start_new_session=True,
        )
    finally:
        if root:  # the copy of the upper layers (cp -a) needs them again
            _check(libc.prctl(PR_SET_SECUREBITS, 0, 0, 0, 0), "securebits")
        for target in targets:
            os.close(target)


def above(fd: int, floor: int) -> int:
    """``fd`` moved to a number of at least ``floor`` (close-on-exec)."""
    if fd >= floor:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return moved


def watch(conn: socket.socket, pid: int) -> None:
    """Until the script ``pid`` ends; if mason's end of ``conn`` closes first (mason was
    killed), the script's process group is killed."""
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


def shepherd(req: dict[str, Any], fds: list[int], entered: SetupFailed | None) -> int:
    """One script, in the namespaces entered before (or why not), from the view to the
    captured layers; its exit status."""
    floor = max([2, *req["targets"]]) + 1  # the targets stay free for start_script
    fds = [above(fd, floor) for fd in fds]
    conn = socket.socket(fileno=fds[0])
    capture, log, passed = fds[1], fds[2], fds[3:]
    try:
        if entered is not None:
            raise entered
        uppers = [above(fd, floor) for fd in make_view(req)]
    except (OSError, SetupFailed) as e:
        os.write(log, f"mason-sandbox: {e}\n".encode())
        conn.send(b"status 125")
        return 125
    try:
        proc = start_script(req, log, passed)
    except (OSError, SetupFailed) as e:
        os.write(log, f"mason-sandbox: exec {req['argv'][0]}: {e}\n".encode())
        conn.send(b"status 127")
        return 127
    pid = proc.pid
    conn.send(f"pid {pid}".encode())
    for fd in passed:
        os.close(fd)
    watch(conn, pid)
    code = proc.wait()
    status = 128 - code if code < 0 else code
    for i, upper in enumerate(uppers):
        if os.listdir(upper):
            copy = ["cp", "-a", "--", f"/proc/self/fd/{upper}/.", f"/proc/self/fd/{capture}/{i}"]
            kept = (capture, upper)
            if subprocess.run(copy, stdout=log, stderr=log, pass_fds=kept).returncode:
                os.write(log, f"mason-sandbox: copy of upper layer {i} failed\n".encode())
                status = 125
    conn.send(f"status {status}".encode())
    return status


def receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """A message and the descriptors it carries (close-on-exec); ``b""`` at the end."""
    size = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
    msg, ancdata, _, _ = sock.recvmsg(1 << 20, size, socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


def spare(sock: socket.socket) -> int:
    """A shepherd forked ahead: it enters its namespaces, then waits for its request."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    entered = None
    try:
        enter_namespaces()
    except SetupFailed as e:
        entered = e
    msg, fds = receive(sock)
    sock.close()
    if not msg:
        return 0
    try:
        return shepherd(json.loads(msg), fds, entered)
    except BaseException:  # said in the script's log (fds[2]), not lost
        with contextlib.suppress(OSError):
            os.write(fds[2], f"mason-sandbox: {traceback.format_exc()}".encode())
        return 125


def fork_spare(ctl: socket.socket) -> socket.socket:
    """A new :func:`spare`; the socket its request goes to."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        status = 125
        try:
            ctl.close()
            ours.close()
            status = spare(theirs)
        finally:
            os._exit(status)
    theirs.close()
    return ours


def serve(ctl: socket.socket) -> None:
    """Hand each request to the spare shepherd, fork the next, until mason closes its
    end (the spare waiting then ends too)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # shepherds are reaped by the kernel
    ready = fork_spare(ctl)
    while True:
        msg, fds = receive(ctl)
        if not msg:
            return
        try:
            socket.send_fds(ready, [msg], fds)
        except OSError:  # the spare died: a fresh one (its reply tells a set-up failure)
            ready.close()
            ready = fork_spare(ctl)
            socket.send_fds(ready, [msg], fds)
        for fd in fds:
            os.close(fd)
        ready.close()
        ready = fork_spare(ctl)


if __name__ == "__main__":
    control = socket.socket(fileno=int(sys.argv[1]))
    control.set_inheritable(False)
    serve(control)
