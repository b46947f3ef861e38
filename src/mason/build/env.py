"""The environment recipe scripts run in (SPEC section 3), under generic and SageMath names."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mason.layout import WHEELS_DIR

if TYPE_CHECKING:
    from mason.build.sandbox import Sandbox

#: The file in the build directory (``$MASON_WHEELS_TO_INSTALL``) where
#: ``sdh_store_and_pip_install_wheel`` lists, one file name a line, the stored wheels
#: mason is to install into the venv (see :mod:`mason.build.wheels`).
WHEELS_TO_INSTALL = "mason-wheels-to-install.txt"

#: An address nothing listens on: downloads from inside a build fail fast.
BLOCKED_PROXY = "http://127.0.0.1:9"
_PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")
_CLEARED_VARS = (
    "no_proxy",
    "NO_PROXY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    # `setup.py install --root` byte-compiles into the staged tree (claimed, removed on
    # uninstall) whatever the user's shell says; else the first import writes them live
    "PYTHONDONTWRITEBYTECODE",
)


@dataclass(frozen=True)
class BuildSpec:
    """One package build: what to build, from where, into where.

    ``inst_local`` is the tree the package installs into (the prefix, or the venv for
    Python packages); ``venv`` is the Python venv (by default the prefix itself).
    ``wheels`` is the live wheel store (default: the prefix's, :data:`WHEELS_DIR`; with
    a venv outside the prefix, the venv's). ``extra_env`` is added last (``MAKEFLAGS``
    from the jobserver, ``SAGE_NUM_THREADS``).
    ``sandbox``: the build scripts run in it (:mod:`mason.build.sandbox`), which keeps
    :attr:`live_trees` unchanged; ``None``: they run as they are.
    """

    name: str
    version: str
    recipe_dir: Path
    prefix: Path
    build_dir: Path
    destdir: Path
    log_path: Path
    inst_local: Path | None = None
    venv: Path | None = None
    wheels: Path | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    sandbox: Sandbox | None = None

    @property
    def package(self) -> str:
        """``name-version``, how logs and messages name the package."""
        return f"{self.name}-{self.version}"

    @property
    def wheel_store(self) -> Path:
        """``$SAGE_SPKG_WHEELS``: the live wheel store."""
        return self.wheels or self.prefix / WHEELS_DIR

    @property
    def staged_wheel_store(self) -> Path:
        """``$SAGE_DESTDIR$SAGE_SPKG_WHEELS``: where ``sdh_store_wheel`` puts a wheel."""
        return self.destdir / self.wheel_store.relative_to(self.wheel_store.anchor)

    @property
    def install_list(self) -> Path:
        """``$MASON_WHEELS_TO_INSTALL``: the stored wheels the recipe asked to install."""
        return self.build_dir / WHEELS_TO_INSTALL

    @property
    def staged_prefix(self) -> Path:
        """``$DESTDIR$PREFIX``: where files for the prefix are staged."""
        return self.destdir / self.prefix.relative_to(self.prefix.anchor)

    @property
    def live_trees(self) -> list[Path]:
        """The trees a build must not change: the prefix, and the venv when it lies
        outside the prefix and exists (one not made yet cannot be made by a sandboxed
        build: its parent is read-only there)."""
        venv = self.venv
        if venv is None or venv.is_relative_to(self.prefix) or not venv.is_dir():
            return [self.prefix]
        return [self.prefix, venv]

    @property
    def home(self) -> Path:
        """The build's private ``HOME`` (``TMPDIR`` is its ``tmp``), in the build directory:
        pip's, cargo's or npm's caches never land in the user's home."""
        return self.build_dir / ".mason-home"


def sage_root(catalog: Path) -> Path:
    """``SAGE_ROOT`` for a catalog: the root above ``build/pkgs``, else the catalog's parent."""
    if catalog.name == "pkgs" and catalog.parent.name == "build":
        return catalog.parent.parent
    return catalog.parent


def _join(first: str, rest: str | None, sep: str = os.pathsep) -> str:
    return f"{first}{sep}{rest}" if rest else first


def _search_paths(prefix: Path, venv: Path, base: Mapping[str, str]) -> dict[str, str]:
    bins = str(prefix / "bin")
    if venv != prefix:
        bins = _join(str(venv / "bin"), bins)
    lib, inc = prefix / "lib", prefix / "include"
    pkgconfig = f"{lib / 'pkgconfig'}{os.pathsep}{prefix / 'share' / 'pkgconfig'}"
    return {
        "PATH": _join(bins, base.get("PATH", os.defpath)),
        "CPATH": _join(str(inc), base.get("CPATH")),
        "CPPFLAGS": _join(f"-I{inc}", base.get("CPPFLAGS"), " "),
        "LIBRARY_PATH": _join(str(lib), base.get("LIBRARY_PATH")),
        "LDFLAGS": _join(f"-L{lib} -Wl,-rpath,{lib}", base.get("LDFLAGS"), " "),
        "PKG_CONFIG_PATH": _join(pkgconfig, base.get("PKG_CONFIG_PATH")),
    }


def _blocked_downloads() -> dict[str, str]:
    env = dict.fromkeys(_PROXY_VARS, BLOCKED_PROXY)
    env["PIP_NO_INDEX"] = "1"
    # No pip configuration file either: a user's find-links or index must not leak in.
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _private_dirs(home: Path) -> dict[str, str]:
    """``HOME``, ``TMPDIR`` and the XDG directories inside ``home`` (made by the script
    runner, :func:`mason.build.scripts.run_script`)."""
    tmp = home / "tmp"
    env = {"HOME": str(home), "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}
    for name, sub in (("XDG_CACHE_HOME", ".cache"), ("XDG_CONFIG_HOME", ".config")):
        env[name] = str(home / sub)
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    return env


def build_environment(spec: BuildSpec, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full environment of ``spec``'s scripts, starting from ``base`` (default: os.environ).

    Proxy variables point at an unreachable address and ``no_proxy`` is removed, so any
    download from inside a build fails; ``PIP_NO_INDEX=1`` keeps pip off the network and
    ``PIP_CONFIG_FILE`` points at ``/dev/null`` so no pip configuration adds links or indexes.
    ``HOME``, ``TMPDIR`` and the XDG directories are private to the build (:attr:`BuildSpec.home`).
    The proxies stay when the build is sandboxed (no network there): they also make a
    download fail fast with ``--sandbox off``.
    """
    base = dict(os.environ if base is None else base)
    for name in (*_PROXY_VARS, *_CLEARED_VARS):
        base.pop(name, None)
    prefix = spec.prefix
    venv = spec.venv or prefix
    env = base | _search_paths(prefix, venv, base) | _blocked_downloads()
    env |= _private_dirs(spec.home)
    env |= {
        "PREFIX": str(prefix),
        "SAGE_LOCAL": str(prefix),
        "DESTDIR": str(spec.destdir),
        "SAGE_DESTDIR": str(spec.destdir),
        "SAGE_INST_LOCAL": str(spec.inst_local or prefix),
        "SAGE_VENV": str(venv),
        "SAGE_ROOT": str(sage_root(spec.recipe_dir.parent)),
        "SAGE_SHARE": str(prefix / "share"),
        "SAGE_PKG_DIR": str(spec.build_dir),
        "SAGE_SPKG_WHEELS": str(spec.wheel_store),
        "MASON_WHEELS_TO_INSTALL": str(spec.install_list),
        "PKG_NAME": spec.package,
        "PKG_BASE": spec.name,
        "PKG_VER": spec.version,
        "MAKE": "make",
        "SAGE_NUM_THREADS": base.get("SAGE_NUM_THREADS", "1"),
        "UNAME": platform.system(),
        # sdh_pip_install runs this Python's pip when the venv has none.
        "MASON_PIP_PYTHON": sys.executable,
    }
    return env | dict(spec.extra_env)
