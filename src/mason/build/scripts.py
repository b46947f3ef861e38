"""Running a recipe's scripts like SageMath's sage-spkg does.

A ``spkg-<which>.in`` fragment is wrapped into an executable ``<build>/spkg-<which>``
that sources ``sdh.sh`` and then the fragment, run by bash WITHOUT ``set -e``; an
executable ``spkg-install`` (no ``.in``: a script package) is run as it is. The script's
exit status decides. cwd is the build directory; stdout and stderr are appended to the
package log. With ``spec.sandbox`` the build scripts (:data:`SANDBOXED`) run in the
sandbox (:mod:`mason.build.sandbox`): what they try to write into a live tree is kept in
``<work>/.captured/<script>`` for :func:`mason.build.capture.captured_changes`. The
scripts that are meant to change the prefix (``spkg-postinst``, ``spkg-prerm``,
``spkg-postrm``) always run outside it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Literal

from mason.build.env import BuildSpec, build_environment
from mason.build.errors import BadFragment, ScriptFailed
from mason.build.groups import BUILDS
from mason.build.sandbox import CAPTURE_DIR
from mason.build.sandboxrun import Running
from mason.errors import DiskFull, is_disk_full

ScriptName = Literal[
    "spkg-preinst",
    "spkg-build",
    "spkg-install",
    "spkg-check",
    "spkg-postinst",
    "spkg-prerm",
    "spkg-postrm",
]

#: The scripts of a build, in the order they run (``spkg-check`` only when asked).
BUILD_SCRIPTS: tuple[ScriptName, ...] = ("spkg-preinst", "spkg-build", "spkg-install")
ALL_SCRIPTS: tuple[ScriptName, ...] = (
    *BUILD_SCRIPTS,
    "spkg-check",
    "spkg-postinst",
    "spkg-prerm",
    "spkg-postrm",
)
#: The scripts that build, and so run in the sandbox when there is one.
SANDBOXED: frozenset[ScriptName] = frozenset({*BUILD_SCRIPTS, "spkg-check"})


def sdh_path() -> Path:
    """The installed ``sdh.sh`` (the ``sdh_*`` helper library)."""
    return Path(str(files("mason") / "data" / "sdh.sh"))


def check_fragments(package: str, recipe_dir: Path) -> None:
    """Raise :class:`BadFragment` naming every ``spkg-*.in`` that starts with ``#!``."""
    bad = [
        path for path in sorted(recipe_dir.glob("spkg-*.in")) if path.read_bytes().startswith(b"#!")
    ]
    if bad:
        raise BadFragment(package, bad)


def copy_recipe(spec: BuildSpec) -> None:
    """Check the fragments, then copy the recipe files into the existing build directory.

    Enough to run a removal script (``spkg-prerm``, ``spkg-postrm``) at uninstall time
    from a temporary directory with :func:`run_script`.
    """
    check_fragments(spec.package, spec.recipe_dir)
    shutil.copytree(spec.recipe_dir, spec.build_dir, symlinks=True, dirs_exist_ok=True)


def make_staged_prefix(spec: BuildSpec) -> Path:
    """Create ``$DESTDIR$PREFIX`` with ``lib/`` and a ``lib64 -> lib`` symlink; return it."""
    staged = spec.staged_prefix
    (staged / "lib").mkdir(parents=True, exist_ok=True)
    lib64 = staged / "lib64"
    if not lib64.is_symlink():
        lib64.symlink_to("lib")
    return staged


def prepare_build_dir(spec: BuildSpec) -> None:
    """Copy the recipe into the (existing, fresh) build directory and make ``$DESTDIR$PREFIX``.

    Fragments are checked first (:class:`BadFragment`), so a bad recipe leaves nothing
    behind. The sources are extracted into ``<build_dir>/src`` by :mod:`mason.extract`.
    """
    copy_recipe(spec)
    make_staged_prefix(spec)


def script_command(build_dir: Path, which: ScriptName, gate: int | None = None) -> list[str] | None:
    """The command that runs ``which`` in ``build_dir``, writing the wrapper of a fragment.

    A fragment's wrapper is run by bash; an executable ``spkg-install`` is run directly
    (its own shebang decides). ``None`` when the recipe has no such script. With ``gate``
    (a descriptor the script inherits), the wrapper reads a line from it after the
    helpers and before the fragment, and exits with status 1 without running the fragment
    if there is none (the writer closed it).
    """
    fragment = build_dir / f"{which}.in"
    script = build_dir / which
    if fragment.is_file():
        wait = "" if gate is None else f"read -r _ <&{gate} || exit 1; exec {gate}<&-\n"
        script.write_text(
            "#!/usr/bin/env bash\n"
            "# Written by mason: the sdh_* helpers, then the recipe's fragment.\n"
            f". {shlex.quote(str(sdh_path()))}\n"
            f"{wait}"
            f". ./{shlex.quote(fragment.name)}\n"
        )
        script.chmod(0o755)
        return ["bash", str(script)]
    if which == "spkg-install" and script.is_file():
        return [str(script)]
    return None


def run_script(
    spec: BuildSpec,
    which: ScriptName,
    *,
    base_env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    gate: Callable[[], None] | None = None,
) -> bool:
    """Run one script of ``spec`` in its build directory; ``False`` if the recipe has none.

    Output goes to ``spec.log_path`` (appended). ``pass_fds`` are inherited by the script
    (the jobserver's pipe). Raises :class:`ScriptFailed` on a non-zero exit status.

    With ``gate``, the script starts (the sandbox, bash, the ``sdh_*`` helpers) and waits
    before its fragment until ``gate()`` returned (a job slot, :mod:`mason.scheduler`);
    if ``gate`` raises, the script ends without running the fragment and the exception
    goes on. An executable ``spkg-install`` (no wrapper) starts after ``gate()``.
    """
    if gate is not None and not (spec.build_dir / f"{which}.in").is_file():
        if script_command(spec.build_dir, which) is None:
            return False
        gate()  # no wrapper to wait in
        gate = None
    if gate is None:
        return _run_script(spec, which, base_env, pass_fds, None)
    pipe = _Gate(gate)
    try:
        return _run_script(spec, which, base_env, (*pass_fds, pipe.read), pipe)
    finally:
        pipe.close()


class _Gate:
    """The pipe a gated script waits on, and the ``gate`` to call before opening it."""

    def __init__(self, gate: Callable[[], None]) -> None:
        self.gate = gate
        self.read, self.write = os.pipe()

    def started(self) -> None:
        """The script runs (and holds its own copy of the read end): call ``gate``, then
        let the script go on; if ``gate`` raises, close the pipe (the script exits)."""
        os.close(self.read)
        self.read = -1
        try:
            self.gate()
        except BaseException:
            self.close()
            raise
        with contextlib.suppress(BrokenPipeError):  # the script ended: its status tells
            os.write(self.write, b"go\n")
        self.close()

    def close(self) -> None:
        for fd in (self.read, self.write):
            if fd >= 0:
                os.close(fd)
        self.read = self.write = -1


def _run_script(
    spec: BuildSpec,
    which: ScriptName,
    base_env: Mapping[str, str] | None,
    pass_fds: Sequence[int],
    gated: _Gate | None,
) -> bool:
    command = script_command(spec.build_dir, which, None if gated is None else gated.read)
    if command is None:
        return False
    env = build_environment(spec, base_env)
    (spec.home / "tmp").mkdir(parents=True, exist_ok=True)
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_path.open("ab", buffering=0) as log:  # unbuffered: no write left for close
        log.write(f"=== mason: {which} of {spec.package} ({time.strftime('%c')}) ===\n".encode())
        proc: Started
        if spec.sandbox is not None and which in SANDBOXED:
            proc = start_sandboxed(spec, which, command, env, log.fileno(), pass_fds)
        else:
            proc = subprocess.Popen(
                command,
                cwd=spec.build_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=tuple(pass_fds),
                process_group=0,  # its own group: stopped as a whole (mason.build.groups)
            )
        status = _wait(proc, gated)
        try:
            log.write(f"=== mason: {which} exited with status {status} ===\n".encode())
        except OSError as e:  # a full disk: said below, with the status, not as a traceback
            if not is_disk_full(e):
                raise
    if status != 0:
        full = out_of_space(spec, which)
        raise ScriptFailed(spec.package, which, status, spec.log_path, full)
    return True


Started = Running | subprocess.Popen[bytes]
"""A started script."""

_NO_SPACE = (b"No space left on device", b"Disk quota exceeded")


def out_of_space(spec: BuildSpec, which: str) -> DiskFull | None:
    """The full filesystem a failed script most likely ran into, if any.

    Full now (under 64 KiB or no inode free where the build writes), or full a moment
    ago: the log's tail says "No space left on device" (make may have removed its
    partial output since).
    """
    what = f"running {which} of {spec.package}"
    for where in (spec.destdir, spec.build_dir):
        try:
            st = os.statvfs(where)
        except OSError:
            continue
        if st.f_bavail * st.f_frsize < 65536 or (st.f_files and st.f_favail == 0):
            return DiskFull(where, what=what)
    try:
        with spec.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 8192))
            tail = log.read()
    except OSError:
        return None
    return DiskFull(spec.build_dir, what=what) if any(m in tail for m in _NO_SPACE) else None


def capture_root(spec: BuildSpec) -> Path:
    """Where the sandbox keeps what each script tried to write into a live tree."""
    return spec.build_dir.parent / CAPTURE_DIR


def start_sandboxed(
    spec: BuildSpec,
    which: ScriptName,
    command: list[str],
    env: Mapping[str, str],
    log: int,
    pass_fds: Sequence[int],
) -> Running:
    """Start ``command`` in ``spec.sandbox`` (the live trees behind overlays, the build
    directory and ``DESTDIR`` writable, ``log`` its output)."""
    assert spec.sandbox is not None
    capture = capture_root(spec) / which
    shutil.rmtree(capture, ignore_errors=True)  # a script run twice: its last run counts
    spec.destdir.mkdir(parents=True, exist_ok=True)
    return spec.sandbox.spawn(
        command,
        live=spec.live_trees,
        writable=[spec.build_dir, spec.destdir],
        work=spec.build_dir.parent,
        capture=capture,
        cwd=spec.build_dir,
        env=env,
        log=log,
        pass_fds=pass_fds,
    )


def _wait(proc: Started, gated: _Gate | None) -> int:
    """``proc``'s exit status; a gated script is let go once it runs (see :class:`_Gate`)."""
    if proc.pid is None:  # a sandboxed script that never started: its log says why
        return proc.wait()
    with BUILDS.running(proc):  # a group leader with a host pid, sandboxed or not
        try:
            if gated is not None:
                gated.started()
        finally:
            status = proc.wait()
    return status


def run_build(
    spec: BuildSpec,
    *,
    check: bool = False,
    base_env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    on_script: Callable[[ScriptName], None] | None = None,
    gate: Callable[[], None] | None = None,
) -> list[ScriptName]:
    """Run ``spkg-preinst``, ``spkg-build``, ``spkg-install`` (and ``spkg-check`` if asked).

    The build directory must be prepared (:func:`prepare_build_dir`) and the sources
    extracted and patched. ``on_script`` hears of each script the recipe has just before
    it runs. Returns the scripts that ran; stops at the first failure. ``gate`` is called
    once: by the first script, started, before its fragment (see :func:`run_script`), or
    at the end when the recipe has none.
    """
    order: tuple[ScriptName, ...] = (*BUILD_SCRIPTS, "spkg-check") if check else BUILD_SCRIPTS
    ran: list[ScriptName] = []
    for which in order:
        if on_script is not None and script_command(spec.build_dir, which) is not None:
            on_script(which)
        if run_script(spec, which, base_env=base_env, pass_fds=pass_fds, gate=gate):
            ran.append(which)
            gate = None
    if gate is not None:
        gate()
    return ran
