"""The prefix's venv as a package of its own, so that its files are claimed like any other.

The venv is created in a staging tree with copies of the interpreter (a symlink out of
the prefix would be refused by the store), the few text files that name its location are
rewritten to name the final location (as ``DESTDIR`` staging does for any package), and
the store merges it as the package :data:`VENV_PACKAGE`.
"""

from __future__ import annotations

import os
import platform
import shutil
import venv as stdlib_venv
from pathlib import Path

from mason.errors import disk_full_is_typed
from mason.python.errors import VenvError
from mason.python.venv import is_running_python, resolve_python, run_checked

#: The name the venv's files are recorded under.
VENV_PACKAGE = "python_venv"

_LOCATED = (
    "pyvenv.cfg",
    "bin/activate",
    "bin/activate.csh",
    "bin/activate.fish",
    "bin/Activate.ps1",
)


def venv_version(python: str | None) -> str:
    """The version of the interpreter the venv is made with (the package's version)."""
    if python is None:
        return platform.python_version()
    exe = resolve_python(Path("."), python)
    out = run_checked(
        Path("."),
        [exe, "-c", "import platform; print(platform.python_version())"],
        "cannot ask its version",
    )
    return out.strip()


def stage_venv(staged: Path, final: Path, python: str | None = None) -> None:
    """Create, at ``staged``, a venv meant to live at ``final`` (no pip, copied interpreter)."""
    exe = resolve_python(staged, python) if python is not None else None
    try:
        with disk_full_is_typed(staged, "creating the venv"):
            if exe is None or is_running_python(exe):
                stdlib_venv.EnvBuilder(with_pip=False, symlinks=True).create(staged)
            else:
                command = [exe, "-m", "venv", "--without-pip", str(staged)]
                run_checked(staged, command, "cannot create it")
            _copy_interpreter(staged / "bin")
    except (OSError, ValueError) as e:
        raise VenvError(staged, f"cannot create it: {e}") from e
    old, new = os.fsencode(staged), os.fsencode(final)
    for rel in _LOCATED:
        path = staged / rel
        if path.is_file() and not path.is_symlink():
            path.write_bytes(path.read_bytes().replace(old, new))


def _copy_interpreter(bindir: Path) -> None:
    """``bin/python`` becomes a copy of the interpreter it links to, and ``python3`` and
    ``python3.X`` relative symlinks to it: one copy (6.6 MiB for Debian's python3.11),
    not the three of ``venv --copies``."""
    python = bindir / "python"
    real = Path(os.path.realpath(python))
    python.unlink()
    shutil.copy2(real, python)
    for alias in bindir.glob("python3*"):
        if alias.is_symlink() and (alias.name == "python3" or alias.name[8:].isdigit()):
            alias.unlink()
            alias.symlink_to("python")
