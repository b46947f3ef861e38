"""The build sandbox: a recipe script sees the live trees but cannot change them.

One server per mason process (:mod:`mason.build.sandboxd`, started on first use under
bubblewrap, in a new user, IPC and network namespace with only loopback, and a fresh
``/dev``) starts every build script (:mod:`mason.build.sandboxrun` is mason's end):

- per script, a thread of the server makes a mount namespace (the server holds
  capabilities in bwrap's user namespace, the uid and gid map to themselves: the build
  runs as the user), mounts a tmpfs on the prefix and there an overlay per live tree (the
  prefix, and a venv outside it) whose upper layer catches every write, and binds the
  overlays over the live trees and the package's build directory and ``DESTDIR``
  writable over them (every other mount but ``/dev`` was made read-only once);
- the script runs without any capability, in a Landlock domain of its own (no ptrace, no
  ``/proc/<pid>/root`` of another build), in a session of its own, with host pids (mason
  signals its process group as it does unsandboxed ones); the log and the jobserver's
  descriptors are passed to it by ``SCM_RIGHTS``;
- when the script has ended, each upper layer that is not empty is copied to
  ``<work>/.captured/<script>/<i>`` (:mod:`mason.build.capture` reads it); the tmpfs goes
  away with the namespace. The live trees are never written.

:func:`probe` says whether that works here (once per process; :func:`probe_ahead` starts it
in the background); :func:`resolve` turns the ``--sandbox auto|require|off`` setting into a
:class:`Sandbox` or ``None``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mason.build.sandboxrun import Running, close_servers, server_for
from mason.config import SandboxMode
from mason.errors import BadInput

#: Where the sandbox copies what a script tried to write, inside a package's work
#: directory (the parent of its build directory).
CAPTURE_DIR = ".captured"

_UNSAFE_IN_OPTIONS = (",", ":", "\\")  # would break the overlay's mount options


class SandboxRequired(BadInput):
    """``--sandbox require``, but builds cannot be sandboxed here."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"--sandbox require: builds cannot be sandboxed here: {reason}", hint=fix)
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class Unavailable:
    """Why builds cannot be sandboxed here, and what to do about it."""

    reason: str
    fix: str

    def notice(self) -> str:
        """The one line ``auto`` prints per run when it falls back."""
        return (
            f"builds are not sandboxed ({self.reason}); stray writes are detected after "
            f"the fact instead. To sandbox: {self.fix}; --sandbox off silences this"
        )


@dataclass(frozen=True)
class Sandbox:
    """Where to run build scripts in the sandbox (see the module docstring)."""

    bwrap: str
    python: str

    def spawn(
        self,
        argv: Sequence[str],
        *,
        live: Sequence[Path],
        writable: Sequence[Path],
        work: Path,
        capture: Path,
        cwd: Path,
        env: Mapping[str, str],
        log: int,
        pass_fds: Sequence[int] = (),
    ) -> Running:
        """Start ``argv`` in the sandbox: ``live`` trees behind overlays, ``writable``
        bound as they are, ``log`` its stdout and stderr.

        ``capture`` (inside ``work``) receives the upper layers that are not empty
        (``<capture>/<i>`` for ``live[i]``), made only then. The server is started on
        first use and lives as long as this process.
        """
        request = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "live": [str(p) for p in live],
            "writable": [str(p) for p in writable],
            "targets": list(pass_fds),
            "capture": str(capture.relative_to(work)),
        }
        server = server_for(self.bwrap, self.python)
        fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return server.spawn(json.dumps(request).encode(), [fd, log, *pass_fds])
        finally:
            os.close(fd)


def unsafe_path(paths: Sequence[Path]) -> Path | None:
    """The first of ``paths`` that cannot be an overlay layer (a ``,``, ``:`` or ``\\``)."""
    for path in paths:
        if any(c in str(path) for c in _UNSAFE_IN_OPTIONS):
            return path
    return None


def _candidate(path: str | None) -> Sandbox | Unavailable:
    bwrap = shutil.which("bwrap", path=path)
    if bwrap is None:
        return Unavailable(
            "bubblewrap (bwrap) is not on PATH",
            "install bubblewrap (Debian/Ubuntu: apt install bubblewrap)",
        )
    return Sandbox(bwrap, sys.executable)


def _explain(stderr: str) -> Unavailable:
    """An :class:`Unavailable` from what a failed trial run printed."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "the trial run failed"
    if "unshare" in last or "uid_map" in last or "setgroups" in last:
        return Unavailable(
            f"user namespaces are not allowed ({last})",
            "allow unprivileged user namespaces (sysctl user.max_user_namespaces=15000; "
            "Debian kernels: kernel.unprivileged_userns_clone=1; Ubuntu 24.04: "
            "kernel.apparmor_restrict_unprivileged_userns=0)",
        )
    if "Landlock" in last:
        return Unavailable(
            f"Landlock is not available ({last})",
            "use Linux 5.13 or later with landlock in the kernel's lsm= list (it keeps each "
            "build away from the others')",
        )
    if "overlay" in last or "tmpfs" in last:
        return Unavailable(
            f"the kernel refuses the mounts ({last})",
            "use Linux 5.11 or later (overlay mounts in user namespaces), 5.13 for Landlock",
        )
    return Unavailable(f"a trial run failed ({last})", "see the message, or use --sandbox off")


@functools.cache
def probe(path: str | None = None) -> Sandbox | Unavailable:
    """A :class:`Sandbox` if a trial run works here (a write through the overlay must be
    caught and a tmpfs-backed overlay mounted), else why not. ``path`` is where to look
    for ``bwrap`` (default: ``PATH``); cached per ``path``."""
    found = _candidate(path)
    if isinstance(found, Unavailable):
        return found
    with tempfile.TemporaryDirectory(prefix="mason-sandbox-probe-") as tmp:
        root = Path(tmp)
        live, work = root / "live", root / "work"
        build, capture = work / "build", work / "captured"
        live.mkdir()
        build.mkdir(parents=True)
        argv = ["/bin/sh", "-c", f"echo x > {live}/probe && echo ok > {build}/ok"]
        with (root / "log").open("w+b") as log:
            try:
                status = found.spawn(
                    argv, live=[live], writable=[build], work=work, capture=capture,
                    cwd=build, env=os.environ, log=log.fileno(),
                ).wait()  # fmt: skip
            except OSError as e:
                return Unavailable(f"a trial run failed ({e})", "see the message, or --sandbox off")
            caught = (capture / "0" / "probe").is_file() and not (live / "probe").exists()
            if status != 0 or not (build / "ok").is_file() or not caught:
                server = server_for(found.bwrap, found.python)
                close_servers([server])  # a working one stays, for the run's builds
                log.seek(0)
                return _explain(log.read().decode(errors="replace") + server.errors())
    return found


_ahead: dict[str | None, threading.Thread] = {}


def probe_ahead(mode: SandboxMode) -> None:
    """Start :func:`probe` in a thread, so that its trial run (a server under bubblewrap,
    50-100 ms, most of it waiting) overlaps what the caller does before :func:`resolve`
    (loading the catalog, planning): the start of every sandboxed run. Not a daemon:
    a command that ends before resolving waits for it at exit (no probe cut short)."""
    path = os.environ.get("PATH")
    if mode == "off" or path in _ahead:
        return
    thread = threading.Thread(target=_probe_quietly, args=(path,), name="mason-sandbox-probe")
    _ahead[path] = thread
    thread.start()


def _probe_quietly(path: str | None) -> None:
    with contextlib.suppress(Exception):  # not cached: resolve() probes again, and raises
        probe(path)


def resolve(
    mode: SandboxMode, unsafe: Path | None = None
) -> tuple[Sandbox | None, Unavailable | None]:
    """The sandbox ``mode`` asks for: ``(sandbox, None)``, or ``(None, why)`` for ``auto``
    where it cannot work (the caller prints :meth:`Unavailable.notice` once), or
    ``(None, None)`` for ``off``. ``require`` raises :class:`SandboxRequired` instead.
    ``unsafe``: a live tree's path that cannot be an overlay layer (:func:`unsafe_path`)."""
    if mode == "off":
        return None, None
    path = os.environ.get("PATH")
    ahead = _ahead.pop(path, None)
    if ahead is not None:
        ahead.join()  # its result is probe()'s cache
    found = probe(path)
    if unsafe is not None:
        found = Unavailable(
            f"the path {unsafe} holds a ',', ':' or '\\', which an overlay cannot take",
            "use a prefix and venv without those characters",
        )
    if isinstance(found, Sandbox):
        return found, None
    if mode == "require":
        raise SandboxRequired(found.reason, found.fix)
    return None, found
