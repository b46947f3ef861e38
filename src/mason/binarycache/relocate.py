"""Relocation: an artifact built for prefix A, installed into prefix B.

At push time each staged file that holds A's path is classified (:func:`classify`):

* ``text``: no NUL byte; rewritten at pull time with B's path, at any length;
* ``rpath``: an ELF file whose only mentions of A are in its RPATH/RUNPATH; rewritten
  with ``patchelf --set-rpath`` (Debian's ``patchelf``), at any length;
* ``binary``: any other file (an ELF with A inside its strings or debug info, a data
  file); A is replaced inside each NUL-terminated string and the string padded with NULs
  to its old length (as conda and Spack do), so it is possible only when B is not
  longer than A.

Absolute symlinks into A are made relative at push time (:func:`relative_link`), so they
need nothing at pull time. :func:`relocate` applies the classification to a staged tree
before the merge; :func:`check_relocatable` says beforehand why it cannot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from mason.binarycache.errors import NotRelocatable

Method = Literal["text", "rpath", "binary"]
METHODS: tuple[Method, ...] = ("text", "rpath", "binary")
_ELF = b"\x7fELF"


def _rpath(path: Path) -> str | None:
    """The RPATH/RUNPATH of the ELF file ``path`` (None without patchelf or on error)."""
    exe = shutil.which("patchelf")
    if exe is None:
        return None
    done = subprocess.run([exe, "--print-rpath", str(path)], capture_output=True, check=False)
    return done.stdout.decode(errors="surrogateescape").strip() if done.returncode == 0 else None


def classify(path: Path, data: bytes, old: bytes) -> Method | None:
    """How the file ``path`` (content ``data``) is relocated from the prefix ``old``;
    ``None`` when it does not mention it."""
    count = data.count(old)
    if count == 0:
        return None
    if data.startswith(_ELF):
        rpath = _rpath(path)
        if rpath is not None and rpath.encode(errors="surrogateescape").count(old) == count:
            return "rpath"
        return "binary"
    return "binary" if b"\0" in data else "text"


def relative_link(target: str, rel: str, root: str) -> str:
    """``target`` of the symlink at ``rel`` (relative to the prefix ``root``), relative
    when it is an absolute path into ``root``; else unchanged."""
    if target != root and not target.startswith(root.rstrip("/") + "/"):
        return target
    inside = os.path.relpath(target, root)
    return os.path.relpath(inside, os.path.dirname(rel) or ".")


def check_relocatable(
    package: str, relocations: Mapping[str, Method], old: str, new: str
) -> NotRelocatable | None:
    """Why the artifact cannot go from ``old`` to ``new`` (None: it can)."""
    if old == new or len(new.encode()) <= len(old.encode()):
        return None
    for rel, method in sorted(relocations.items()):
        if method == "binary":
            return NotRelocatable(
                package,
                rel,
                f"binary file holds the build prefix {old} ({len(old)} bytes); the target "
                f"prefix {new} is longer ({len(new)} bytes)",
            )
    return None


def _padded(data: bytes, old: bytes, new: bytes) -> bytes:
    """``old`` replaced by ``new`` inside each NUL-terminated string, padded with NULs."""
    pattern = re.compile(re.escape(old) + rb"[^\0]*")

    def swap(match: re.Match[bytes]) -> bytes:
        text = match.group(0)
        replaced = text.replace(old, new)
        return replaced + b"\0" * (len(text) - len(replaced))

    return pattern.sub(swap, data)


def _write_same_mode(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode
    tmp = path.with_name(f".{path.name}.relocate")
    tmp.write_bytes(data)
    os.chmod(tmp, mode & 0o7777)
    os.replace(tmp, path)


def _set_rpath(package: str, rel: str, path: Path, old: str, new: str) -> None:
    rpath = _rpath(path)
    exe = shutil.which("patchelf")
    if rpath is None or exe is None:
        raise NotRelocatable(package, rel, "patchelf is missing or cannot read the RUNPATH")
    mode = path.stat().st_mode
    os.chmod(path, mode | 0o200)
    done = subprocess.run(
        [exe, "--set-rpath", rpath.replace(old, new), str(path)], capture_output=True, check=False
    )
    os.chmod(path, mode & 0o7777)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise NotRelocatable(package, rel, f"patchelf failed: {why[-1] if why else '?'}")


def relocate(
    package: str, staged: Path, relocations: Mapping[str, Method], old: str, new: str
) -> None:
    """Rewrite the files of the staged tree ``staged`` from prefix ``old`` to ``new``;
    raise :class:`NotRelocatable` (before changing anything) when it cannot be done."""
    if old == new:
        return
    refusal = check_relocatable(package, relocations, old, new)
    if refusal is not None:
        raise refusal
    old_b, new_b = old.encode(), new.encode()
    for rel, method in sorted(relocations.items()):
        path = staged / rel
        if method == "rpath":
            _set_rpath(package, rel, path, old, new)
        elif method == "text":
            _write_same_mode(path, path.read_bytes().replace(old_b, new_b))
        else:
            _write_same_mode(path, _padded(path.read_bytes(), old_b, new_b))
