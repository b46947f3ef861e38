"""Helpers for the ``mason install`` tests: run the real CLI, make tarballs, read prefixes.

(Named ``test_install_*`` to sit with those tests; it holds no tests of its own.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recipefactory import write_recipe

#: Prefix paths that legitimately differ between two installs of the same packages.
# venv-dists.json (mason.reconcile) holds the inode numbers of the venv's dist-info
# directories: bookkeeping that differs between two trees by nature.
VOLATILE = (
    "var/log",
    "var/tmp",
    "var/lock",
    "var/lib/mason/journal",
    "var/lib/mason/venv-dists.json",
)
#: Record keys that legitimately differ between two installs.
VOLATILE_KEYS = ("install_date", "timings", "txid")


def mason(
    *args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``mason`` CLI (``python -m mason``), output captured (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "mason", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def install(catalog: Path, prefix: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``mason install --catalog catalog --prefix prefix args...``."""
    return mason("install", "--catalog", catalog, "--prefix", prefix, *args)


def make_tarball(path: Path, top: str, files: Mapping[str, str | bytes]) -> str:
    """Write a .tar.gz holding ``top/<files>``; return its sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for rel, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            info.mode = 0o755 if rel.endswith(".sh") or rel == "configure" else 0o644
            tf.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def tarball_recipe(
    catalog: Path,
    name: str,
    sources: Mapping[str, str | bytes],
    *,
    version: str = "1.0",
    deps: str | None = None,
    script: str = "cd src && sdh_make && sdh_make_install\n",
    upstream: Path | None = None,
    sha256: str | None = None,
) -> str:
    """A recipe with a real tarball in ``upstream`` (default ``catalog/../upstream``).

    Returns the tarball's sha256 (``sha256`` overrides what ``checksums.ini`` says).
    """
    upstream_version = version.split(".p")[0]
    filename = f"{name}-{upstream_version}.tar.gz"
    digest = make_tarball(
        (upstream or catalog.parent / "upstream") / filename, f"{name}-{upstream_version}", sources
    )
    write_recipe(
        catalog,
        name,
        version=version,
        deps=deps,
        files={
            "checksums.ini": f"tarball={name}-VERSION.tar.gz\nsha256={sha256 or digest}\n",
            "spkg-install.in": script,
        },
    )
    return digest


def script_recipe(
    catalog: Path,
    name: str,
    *,
    version: str = "1.0",
    deps: str | None = None,
    body: str | None = None,
    extra: Mapping[str, str | None] | None = None,
) -> Path:
    """A script package writing ``share/<name>/<name>.txt`` (its version) into DESTDIR."""
    script = body or (
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE"\n'
        'echo "$PKG_BASE $PKG_VER" > "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE/$PKG_BASE.txt"\n'
    )
    return write_recipe(
        catalog,
        name,
        version=version,
        deps=deps,
        files={"spkg-install.in": script, **(extra or {})},
    )


def records(prefix: Path) -> dict[str, dict[str, Any]]:
    """``name -> record JSON`` of every record in ``prefix``."""
    directory = prefix / "var/lib/mason/installed"
    if not directory.is_dir():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        data = json.loads(path.read_text())
        out[data["package_name"]] = data
    return out


def stable_records(prefix: Path) -> dict[str, dict[str, Any]]:
    """:func:`records` without the keys that legitimately differ between runs."""
    return {
        name: {k: v for k, v in data.items() if k not in VOLATILE_KEYS}
        for name, data in records(prefix).items()
    }


def tree(prefix: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below ``prefix`` (minus :data:`VOLATILE`): ``path -> (type, mode, what)``.

    ``what`` is a link's target or a file's sha256; text mentioning the prefix's own path
    is compared with that path replaced, so two prefixes can be compared.
    """
    out: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(prefix):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = path.relative_to(prefix).as_posix()
            if rel.startswith(VOLATILE) and any(
                rel == v or rel.startswith(v + "/") for v in VOLATILE
            ):
                continue
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", mode, os.readlink(path).replace(str(prefix), "<PREFIX>"))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, "")
            else:
                data = path.read_bytes().replace(os.fsencode(prefix), b"<PREFIX>")
                out[rel] = ("file", mode, hashlib.sha256(data).hexdigest())
        dirnames[:] = [
            d for d in dirnames if (Path(dirpath, d).relative_to(prefix).as_posix()) not in VOLATILE
        ]
    return out


def copy_catalog(source: Path, dest: Path) -> Path:
    """Copy a catalog (and its ``upstream/`` sibling, when there is one) under ``dest``."""
    shutil.copytree(source, dest / "pkgs", symlinks=True)
    if (source.parent / "upstream").is_dir():
        shutil.copytree(source.parent / "upstream", dest / "upstream")
    return dest / "pkgs"
