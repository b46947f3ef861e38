"""What a new recipe's files say: the version and tarball template guessed from a source
file's name, and an ``spkg-install.in`` guessed from the unpacked source's build system.

Nothing here touches the disk except :func:`build_system`, which only looks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

BuildSystem = Literal["autotools", "autoreconf", "cmake", "python", "make", "unknown"]

ARCHIVE_SUFFIXES = (
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tar",
    ".zip",
)
_VERSION_AT_END = re.compile(r"(?:^|[-_])v?(?P<version>[0-9][A-Za-z0-9.+~]*)$")

_INSTALL: dict[BuildSystem, str] = {
    "autotools": "cd src\nsdh_configure\nsdh_make\nsdh_make_install\n",
    "autoreconf": 'cd src\nautoreconf -fi || sdh_die "autoreconf failed"\n'
    "sdh_configure\nsdh_make\nsdh_make_install\n",
    "cmake": "cd src\nsdh_cmake -DCMAKE_BUILD_TYPE=Release\nsdh_make\nsdh_make_install\n",
    "python": "cd src\nsdh_pip_install .\n",
    "make": 'cd src\nsdh_make PREFIX="$SAGE_INST_LOCAL"\n'
    'sdh_make_install PREFIX="$SAGE_INST_LOCAL"\n',
    "unknown": "cd src\n# mason could not tell how this source builds: write its build steps here\n"
    'sdh_die "spkg-install.in of $PKG_NAME is not written yet"\n',
}
_SCRIPT = (
    "# a recipe without sources: install files with sdh_install, or add a source with\n"
    "#   mason update $PKG_NAME VERSION --source FILE|URL\n"
    'sdh_die "spkg-install.in of $PKG_NAME is not written yet"\n'
)


def split_archive_name(filename: str) -> tuple[str, str]:
    """``foo-1.2.tar.gz`` -> (``foo-1.2``, ``.tar.gz``); no known suffix: (name, "")."""
    lower = filename.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return filename[: -len(suffix)], filename[-len(suffix) :]
    return filename, ""


def guess_version(filename: str) -> str | None:
    """The version at the end of an archive's stem (``foo-1.2.3.tar.gz`` -> ``1.2.3``)."""
    stem, _ = split_archive_name(filename)
    m = _VERSION_AT_END.search(stem)
    return m["version"].rstrip(".") if m else None


def tarball_template(filename: str, upstream_version: str) -> str:
    """``checksums.ini``'s ``tarball=``: the file name with the version as ``VERSION``."""
    stem, suffix = split_archive_name(filename)
    if upstream_version in stem:
        head, _, tail = stem.rpartition(upstream_version)
        return f"{head}VERSION{tail}{suffix}"
    return filename


def url_template(url: str, upstream_version: str) -> str:
    """An ``upstream_url=`` with every occurrence of the version written ``VERSION``."""
    return url.replace(upstream_version, "VERSION")


def build_system(src: Path) -> BuildSystem:
    """The build system of an unpacked source tree, from the files at its top."""
    if (src / "configure").is_file():
        return "autotools"
    if (src / "pyproject.toml").is_file() or (src / "setup.py").is_file():
        return "python"  # before cmake: scikit-build projects have a CMakeLists.txt too
    if (src / "CMakeLists.txt").is_file():
        return "cmake"
    if (src / "configure.ac").is_file() or (src / "configure.in").is_file():
        return "autoreconf"
    if any((src / name).is_file() for name in ("GNUmakefile", "Makefile", "makefile")):
        return "make"
    return "unknown"


def spkg_install(system: BuildSystem | None) -> str:
    """The ``spkg-install.in`` for a build system (``None``: a recipe without sources)."""
    return _SCRIPT if system is None else _INSTALL[system]
