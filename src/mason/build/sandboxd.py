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

Only the standard library: it is started by path, outside mason's package. The mounts,
capabilities and Landlock calls are in :mod:`mason.build.sandboxview`, beside it.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import sys
import threading
from _thread import start_new_thread
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mason.build.sandboxview import SetupFailed, close_all, confine, fd_path, make_view, prepare
else:  # run by path (``python -S -E sandboxd.py``): its directory is ``sys.path[0]``
    from sandboxview import SetupFailed, close_all, confine, fd_path, make_view, prepare

_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)  # which Python ignores
MAX_FDS = 16


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
        os.makedirs(fd_path(work, capture), exist_ok=True)
        top = max(*uppers, work)  # above both: neither dup2 clobbers the other's source
        src, dst = top + 1, top + 2
        argv = ["cp", "-a", "--", fd_path(src, "."), fd_path(dst, f"{capture}/{i}")]
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
