"""Build small, real wheels for tests: a zip with dist-info, WHEEL, METADATA and RECORD.

``make_wheel(tmp_path, "demo", "1.0", {"demo/__init__.py": "X = 1\\n"})`` writes
``demo-1.0-py3-none-any.whl`` and returns its path. Keyword arguments add entry points,
``.data`` files (``data={"data": {"share/demo/x.txt": b"..."}}``), and, for tests of broken
wheels, extra members (``extra``, path -> bytes, listed in RECORD) or a RECORD whose hashes
are replaced (``record_overrides``, path -> hash text). ``other_python()`` finds an
interpreter of another Python version to test against, if the machine has one.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

Content = str | bytes


def record_hash(data: bytes) -> str:
    """RECORD's hash field: ``sha256=`` and the urlsafe base64 digest without padding."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _bytes(content: Content) -> bytes:
    return content.encode() if isinstance(content, str) else content


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, Content],
    *,
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    data: Mapping[str, Mapping[str, Content]] | None = None,
    extra: Mapping[str, Content] | None = None,
    record_overrides: Mapping[str, str] | None = None,
    executable: frozenset[str] = frozenset(),
    requires: tuple[str, ...] = (),
    tag: str = "py3-none-any",
) -> Path:
    """Write a wheel of distribution ``name`` into ``directory`` and return its path."""
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    members: dict[str, bytes] = {path: _bytes(c) for path, c in files.items()}
    for scheme, scheme_files in (data or {}).items():
        for path, content in scheme_files.items():
            members[f"{dist}-{version}.data/{scheme}/{path}"] = _bytes(content)
    members.update({path: _bytes(c) for path, c in (extra or {}).items()})
    members[f"{dist_info}/METADATA"] = _metadata(name, version, requires)
    members[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: mason-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    ).encode()
    if entry_points:
        members[f"{dist_info}/entry_points.txt"] = _entry_points(entry_points)
    overrides = record_overrides or {}
    rows = [f"{p},{overrides.get(p, record_hash(b))},{len(b)}" for p, b in members.items()]
    members[f"{dist_info}/RECORD"] = ("\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{dist}-{version}-{tag}.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, content in members.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            mode = 0o755 if path in executable else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return wheel


def _metadata(name: str, version: str, requires: tuple[str, ...]) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", "Summary: test"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n").encode()


def _entry_points(groups: Mapping[str, Mapping[str, str]]) -> bytes:
    text = ""
    for group, entries in groups.items():
        text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) + "\n"
    return text.encode()


def _runs(python: str) -> bool:
    done = subprocess.run([python, "-c", "pass"], capture_output=True, check=False)
    return done.returncode == 0


def _version_key(python: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in python.parent.parent.name.split(".") if x.isdigit())


def other_python() -> str | None:
    """A working interpreter of another minor version than the running one, if any."""
    mine = f"3.{sys.version_info.minor}"
    found = [shutil.which(f"python3.{minor}") for minor in range(14, 7, -1) if f"3.{minor}" != mine]
    pyenv = Path.home().glob(".pyenv/versions/3.*/bin/python3")
    found += [
        str(p)
        for p in sorted(pyenv, key=_version_key, reverse=True)
        if not p.parent.parent.name.startswith(mine + ".")
    ]
    return next((p for p in found if p is not None and _runs(p)), None)
