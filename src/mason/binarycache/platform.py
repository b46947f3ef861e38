"""The platform facts a binary artifact depends on (part of every cache key).

Machine, OS id and version (``/etc/os-release``), C library and version, the C compiler
and its version (the first line of ``$CC --version``, default ``cc``). For venv packages
the Python version and ABI come on top (:func:`python_abi`). Computed once per process.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

#: the build-relevant variables of the environment: they reach every recipe's build
FLAG_VARIABLES = ("CC", "CXX", "FC", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "FCFLAGS", "LDFLAGS")


def _os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def _compiler() -> str:
    cc = (os.environ.get("CC", "").split() or ["cc"])[0]
    exe = shutil.which(cc)
    if exe is None:
        return f"{cc} (not found)"
    try:
        done = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return f"{cc} (no version)"
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if lines else f"{cc} (no version)"


@functools.cache
def host_platform() -> dict[str, str]:
    """This machine's platform, as the key document holds it."""
    release = _os_release()
    libc, libc_version = platform.libc_ver()
    os_id = release.get("ID", platform.system().lower())
    return {
        "machine": platform.machine(),
        "os": f"{os_id} {release.get('VERSION_ID', '')}".strip(),
        "libc": f"{libc or 'unknown'} {libc_version}".strip(),
        "compiler": _compiler(),
    }


def build_flags(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The :data:`FLAG_VARIABLES` set in the environment (only those set)."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in FLAG_VARIABLES if env.get(name)}


def python_abi() -> dict[str, str]:
    """The running interpreter's version and ABI (what a venv package is built for)."""
    return {
        "version": platform.python_version(),
        "implementation": sys.implementation.cache_tag or sys.implementation.name,
        "soabi": str(sysconfig.get_config_var("SOABI") or ""),
    }


def oci_platform() -> tuple[str, str]:
    """``(os, architecture)`` in OCI's words (``linux``, ``amd64``)."""
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}
    return platform.system().lower(), arch.get(machine, machine)
