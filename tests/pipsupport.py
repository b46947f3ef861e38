"""Helpers of the tests of pip run on a mason venv (no tests here).

:func:`six_world` makes a catalog holding the wheel package ``six`` 1.17.0 (a tiny
``six.py`` saying its version), a ``links/`` directory pip installs from (six 1.16.0 and
1.18.0, ``newproj`` 1.0 needing ``six>=1.16``, ``other`` 2.0), and a prefix where mason
installed ``six``: made once per test session and copied for each test (a prefix copies
with ``cp -a``: its venv location is relative to it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from installsupport import install, mason
from pypackages import wheel_recipe
from wheelfactory import make_wheel

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"


def six_source(version: str) -> str:
    return f"__version__ = {version!r}\n"


@dataclass(frozen=True)
class World:
    """A catalog, pip's links and a prefix with mason's ``six`` 1.17.0."""

    catalog: Path
    links: Path
    prefix: Path

    def mason(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """``mason COMMAND --catalog --prefix ARGS...`` (the command first)."""
        command, *rest = args
        return mason(command, "--catalog", self.catalog, "--prefix", self.prefix, *rest)

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """pip run directly on the venv, as a user would: never through mason."""
        return pip_on(self.prefix, self.links, *args)

    def mason_pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``mason pip ARGS...`` with pip's links (no index)."""
        return self.mason("pip", *pip_args(self.links, args))

    def dist_infos(self, project: str = "six") -> list[str]:
        site = self.prefix / SITE
        return sorted(p.name for p in site.glob(f"{project}-*.dist-info"))

    def python(self, code: str) -> str:
        done = subprocess.run(
            [str(self.prefix / "bin/python"), "-I", "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()


def pip_args(links: Path, args: tuple[str, ...]) -> list[str]:
    """``args`` with pip's sources (only ``links``) after an install command."""
    if args and args[0] == "install":
        return ["install", "-q", "--no-index", "--find-links", str(links), *args[1:]]
    if args and args[0] == "uninstall":
        return ["uninstall", "-q", "-y", *args[1:]]
    return list(args)


def pip_on(prefix: Path, links: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--python", str(prefix / "bin/python")]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    return subprocess.run(
        [*command, *pip_args(links, args)], capture_output=True, text=True, env=env, check=False
    )


def make_world(root: Path) -> World:
    """The catalog, the links and a prefix with mason's six 1.17.0, under ``root``."""
    catalog, links = root / "pkgs", root / "links"
    wheel = make_wheel(root / "w", "six", "1.17.0", {"six.py": six_source("1.17.0")})
    wheel_recipe(catalog, "six", wheel)
    for version in ("1.16.0", "1.18.0"):
        make_wheel(links, "six", version, {"six.py": six_source(version)})
    make_wheel(
        links, "newproj", "1.0", {"newproj.py": "import six\nX = 1\n"}, requires=("six>=1.18",)
    )
    make_wheel(links, "other", "2.0", {"other/__init__.py": "Y = 2\n"})
    prefix = root / "local"
    done = install(catalog, prefix, "six")
    assert done.returncode == 0, done.stdout + done.stderr
    return World(catalog, links, prefix)


def copy_world(template: World, root: Path) -> World:
    """A copy of ``template`` under ``root`` (``cp -a``)."""
    for part in ("pkgs", "links", "upstream", "local"):
        src = template.catalog.parent / part
        if src.exists():
            shutil.copytree(src, root / part, symlinks=True)
    return World(root / "pkgs", root / "links", root / "local")


def snapshot(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """Every entry below ``root``: type, mode, mtime (ns) and content hash or link target:
    any change at all, a lock file's creation included, shows."""
    out: dict[str, tuple[str, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = os.path.normpath(os.path.relpath(path, root))
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                what = ""
            out[rel] = (stat.filemode(st.st_mode), st.st_size, st.st_mtime_ns, what)
    return out


@pytest.fixture(scope="session")
def six_template(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The world, made once per session (copy it: :func:`world`)."""
    return make_world(tmp_path_factory.mktemp("six-world"))


@pytest.fixture
def world(six_template: World, tmp_path: Path) -> World:
    """A fresh copy of the session's world for one test."""
    return copy_world(six_template, tmp_path)
