"""The build sandbox: a recipe script sees the live trees but cannot change them.

Each build script runs under ``mason/data/sandbox.pl`` (a small Perl helper: it starts in
about 2 ms and makes the system calls itself) and bubblewrap:

- the helper makes a user, mount and network namespace (the uid and gid map to
  themselves: the build runs as the user), brings the loopback interface up, mounts a
  tmpfs on ``<work>/.sandbox`` and there an overlay per live tree (the prefix, and a venv
  outside it) whose upper layer catches every write;
- bwrap binds ``/`` read-only, a fresh ``/dev``, the overlays over the live trees, and the
  package's build directory and ``DESTDIR`` writable; it drops every capability, starts a
  new session and forbids further user namespaces;
- when the script has ended, each upper layer that is not empty is copied to
  ``<work>/.captured/<script>/<i>`` (:mod:`mason.build.capture` reads it); the tmpfs goes
  away with the namespace. The live trees are never written.

:func:`probe` says whether that works here (once per process); :func:`resolve` turns the
``--sandbox auto|require|off`` setting into a :class:`Sandbox` or ``None``.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from mason.config import SandboxMode
from mason.errors import BadInput

#: Where the helper mounts its tmpfs, and where it copies what a script tried to write,
#: inside a package's work directory (the parent of its build directory).
MOUNT_DIR = ".sandbox"
CAPTURE_DIR = ".captured"

#: (unshare, mount, prctl) system call numbers; the helper gets them as arguments (Perl's
#: ``syscall.ph`` takes 30 ms to load).
_SYSCALLS: dict[str, tuple[int, int, int]] = {
    "x86_64": (272, 165, 157),
    "amd64": (272, 165, 157),
    "aarch64": (97, 40, 167),  # the generic table, shared by arm64 and riscv64
    "arm64": (97, 40, 167),
    "riscv64": (97, 40, 167),
}
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
    """How to run a command in the build sandbox (see the module docstring)."""

    bwrap: str
    perl: str
    syscalls: tuple[int, int, int]

    def command(
        self,
        argv: Sequence[str],
        *,
        live: Sequence[Path],
        writable: Sequence[Path],
        work: Path,
        capture: Path,
        cwd: Path,
    ) -> list[str]:
        """``argv`` wrapped: ``live`` trees behind overlays, ``writable`` bound as they are.

        ``work`` holds the helper's mount point (:data:`MOUNT_DIR`, created here);
        ``capture`` receives the upper layers that are not empty (``<capture>/<i>`` for
        ``live[i]``).
        """
        mounts = work / MOUNT_DIR
        mounts.mkdir(exist_ok=True)
        helper = [self.perl, str(helper_path()), *map(str, self.syscalls), str(mounts)]
        helper += [str(capture), *map(str, live), "--"]
        bwrap = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev"]
        for i, tree in enumerate(live):
            bwrap += ["--bind", str(mounts / f"m{i}"), str(tree)]
        for path in writable:
            bwrap += ["--bind", str(path), str(path)]
        bwrap += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--unshare-ipc"]
        bwrap += ["--new-session", "--die-with-parent", "--chdir", str(cwd), "--", *argv]
        return helper + bwrap


def helper_path() -> Path:
    """The installed ``sandbox.pl``."""
    return Path(str(files("mason") / "data" / "sandbox.pl"))


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
    perl = shutil.which("perl", path=path)
    if perl is None:
        return Unavailable("perl is not on PATH (the sandbox helper)", "install perl")
    machine = platform.machine().lower()
    if machine not in _SYSCALLS:
        return Unavailable(
            f"mason does not know the system call numbers of {machine}",
            "report your architecture to mason's developers",
        )
    return Sandbox(bwrap, perl, _SYSCALLS[machine])


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
    if "overlay" in last or "tmpfs" in last:
        return Unavailable(
            f"the kernel refuses the mounts ({last})",
            "use Linux 5.11 or later (overlay mounts in user namespaces)",
        )
    return Unavailable(f"a trial run failed ({last})", "see the message, or use --sandbox off")


@functools.cache
def probe(path: str | None = None) -> Sandbox | Unavailable:
    """A :class:`Sandbox` if a trial run works here (a write through the overlay must be
    caught and a tmpfs-backed overlay mounted), else why not. ``path`` is where to look
    for ``bwrap`` and ``perl`` (default: ``PATH``); cached per ``path``."""
    found = _candidate(path)
    if isinstance(found, Unavailable):
        return found
    with tempfile.TemporaryDirectory(prefix="mason-sandbox-probe-") as tmp:
        root = Path(tmp)
        live, build, capture = root / "live", root / "build", root / "captured"
        live.mkdir()
        build.mkdir()
        argv = ["/bin/sh", "-c", f"echo x > {live}/probe && echo ok > {build}/ok"]
        command = found.command(
            argv, live=[live], writable=[build], work=root, capture=capture, cwd=build
        )
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return Unavailable(f"a trial run failed ({e})", "see the message, or --sandbox off")
        caught = (capture / "0" / "probe").is_file() and not (live / "probe").exists()
        if proc.returncode != 0 or not (build / "ok").is_file() or not caught:
            return _explain(proc.stderr or proc.stdout)
    return found


def resolve(
    mode: SandboxMode, unsafe: Path | None = None
) -> tuple[Sandbox | None, Unavailable | None]:
    """The sandbox ``mode`` asks for: ``(sandbox, None)``, or ``(None, why)`` for ``auto``
    where it cannot work (the caller prints :meth:`Unavailable.notice` once), or
    ``(None, None)`` for ``off``. ``require`` raises :class:`SandboxRequired` instead.
    ``unsafe``: a live tree's path that cannot be an overlay layer (:func:`unsafe_path`)."""
    if mode == "off":
        return None, None
    found = probe(os.environ.get("PATH"))
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
