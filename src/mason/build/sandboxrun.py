"""mason's side of the sandbox server (:mod:`mason.build.sandboxd`).

:class:`Server` starts the server under bubblewrap once and sends it one message per
script; :class:`Running` is the script's end of it: its host pid (a process group
leader that :data:`mason.build.groups.BUILDS` can signal) and its exit status.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

#: Exit status when the sandbox itself failed (the server died, or the
#: set-up of a script's namespaces failed: then the log says why).
SETUP_FAILED = 125


def daemon_path() -> Path:
    """The server's source file (run by path: it needs only the standard library)."""
    return Path(__file__).with_name("sandboxd.py")


class Running:
    """A script started by the server: ``pid`` (``None`` if it never started)."""

    def __init__(self, conn: socket.socket, log: int) -> None:
        self._conn = conn
        self._log = log
        self._status: int | None = None
        self.pid: int | None = None
        word, number = self._receive()
        if word == "pid":
            self.pid = number
        else:
            self._done(number)

    def _receive(self) -> tuple[str, int]:
        try:
            msg = self._conn.recv(64).decode()
        except OSError:
            msg = ""
        word, _, number = msg.partition(" ")
        if number.isdigit():
            return word, int(number)
        with contextlib.suppress(OSError):  # the script's log says why it failed
            os.write(self._log, b"mason-sandbox: the sandbox server is gone\n")
        return "status", SETUP_FAILED

    def _done(self, status: int) -> None:
        self._status = status
        self._conn.close()

    def wait(self) -> int:
        """The script's exit status (128 + the signal that killed it)."""
        if self._status is None:
            self._done(self._receive()[1])
        assert self._status is not None
        return self._status


class Server:
    """One server under bwrap (see :mod:`mason.build.sandboxd`)."""

    def __init__(self, bwrap: str, python: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        command = [bwrap, "--bind", "/", "/", "--dev", "/dev"]  # the server makes / read-only
        # no --die-with-parent: it would kill the server with the thread that started it;
        # the server ends when its socket closes, as it does when mason ends in any way
        command += ["--unshare-user", "--unshare-net", "--unshare-ipc"]
        command += ["--cap-add", "ALL"]  # in its user namespace only: see sandboxd
        command += ["--", python, "-S", "-E", str(daemon_path()), str(theirs.fileno())]
        self.proc = subprocess.Popen(
            command,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,  # a Ctrl-C reaches mason, which decides
        )
        theirs.close()
        self._ctl = ours
        self._said = ""
        self._lock = threading.Lock()

    def spawn(self, request: bytes, fds: Sequence[int]) -> Running:
        """Send ``request`` with ``fds`` (after the reply socket's; ``fds[1]`` is the
        log) and start it."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._ctl, [request], [theirs.fileno(), *fds])
        except OSError:
            mine.close()  # the server is gone: the reply says so (status 125)
            mine, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        finally:
            theirs.close()
        return Running(mine, fds[1])

    def close(self) -> None:
        """End the server (it exits when its socket closes) and reap it."""
        self._ctl.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.seek(0)
        self._said = self._stderr.read().decode(errors="replace")
        self._stderr.close()

    def errors(self) -> str:
        """What the server and bwrap printed (their stderr), once closed."""
        return self._said


_servers: dict[tuple[str, str], Server] = {}
_servers_lock = threading.Lock()


def server_for(bwrap: str, python: str) -> Server:
    """The running server (started on first use; ended at exit)."""
    key = (bwrap, python)
    with _servers_lock:
        server = _servers.get(key)
        if server is None or server.proc.poll() is not None:
            if server is not None:  # its bwrap is gone: the server too once this closes
                server.close()
            server = _servers[key] = Server(bwrap, python)
        return server


def close_servers(servers: Sequence[Server] | None = None) -> None:
    """End ``servers`` (default: all of them)."""
    with _servers_lock:
        chosen = list(_servers.values()) if servers is None else list(servers)
        for key, server in list(_servers.items()):
            if server in chosen:
                del _servers[key]
    for server in chosen:
        server.close()


atexit.register(close_servers)
os.register_at_fork(after_in_child=_servers.clear)
