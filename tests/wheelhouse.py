"""An offline wheelhouse and a stock-like system Python, for the README quick-start test.

``system_python(dir)`` lays out a Python install the way a distribution ships one (its own
``sys.prefix``, the running interpreter's standard library linked in, an empty
``site-packages``) and marks it ``EXTERNALLY-MANAGED`` (PEP 668), like Debian's and
Ubuntu's ``/usr/bin/python3``: pip refuses to install into it outside a venv. A venv's
own stdlib is its base's, and pip ignores the marker inside any venv, so the marker has to
sit in a base installation like this one.

``wheelhouse(dir, requirements)`` writes wheels of the distributions the running
interpreter has installed (the requirements and what they need), re-packed from their
installed files, so that ``pip install --no-index --find-links dir`` works with no network.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import os
import shutil
import sys
import sysconfig
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

MARKER = "[externally-managed]\nError=this Python is managed by the system: use a venv\n"
_SKIP = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def system_python(root: Path) -> Path:
    """A PEP 668 externally managed Python under ``root``; returns its ``bin/python3``."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    bindir, stdlib = root / "bin", root / "lib" / version
    bindir.mkdir(parents=True)
    stdlib.mkdir(parents=True)
    real = Path(os.path.realpath(sys.executable))
    shutil.copy2(real, bindir / version)  # a copy: a symlink would lead back to its prefix
    (bindir / "python3").symlink_to(version)
    for entry in Path(sysconfig.get_path("stdlib")).iterdir():
        if entry.name != "site-packages":
            (stdlib / entry.name).symlink_to(entry)
    (stdlib / "site-packages").mkdir()
    (stdlib / "EXTERNALLY-MANAGED").write_text(MARKER)
    return bindir / "python3"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _closure(requirements: list[str]) -> list[metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        found[name] = dist = metadata.distribution(req.name)
        todo += [Requirement(r) for r in dist.requires or ()]
    return list(found.values())


def _repack(dist: metadata.Distribution, directory: Path) -> Path:
    """One installed pure-Python distribution as a wheel (its RECORD's files, no .pyc)."""
    wheel_meta = dist.read_text("WHEEL") or ""
    tag = next(line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if "Tag:" in line)
    members: dict[str, bytes] = {}
    for file in dist.files or ():
        path = file.as_posix()
        if path.startswith("..") or path.endswith(".pyc") or file.name in _SKIP:
            continue
        members[path] = Path(str(dist.locate_file(file))).read_bytes()
    dist_info = next(p.split("/")[0] for p in members if p.split("/")[0].endswith(".dist-info"))
    rows = [f"{p},{_record_hash(b)},{len(b)}" for p, b in members.items()]
    members[f"{dist_info}/RECORD"] = ("\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n").encode()
    name = dist.metadata["Name"].replace("-", "_")
    wheel = directory / f"{name}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in members.items():
            zf.writestr(path, data)
    return wheel


def wheelhouse(directory: Path, requirements: list[str]) -> list[Path]:
    """Wheels of ``requirements`` and their dependencies as installed here, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return [_repack(dist, directory) for dist in _closure(requirements)]
