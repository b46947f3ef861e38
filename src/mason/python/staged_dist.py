"""Removing a distribution a build staged already, before a wheel of it is staged there.

SageMath's ``sdh_store_and_pip_install_wheel`` uninstalls the distribution before it
installs the wheel, so a recipe may install a project (``setup.py install --root``) and
then install its wheel as well. In mason both land in the package's one staged tree, so
the earlier installation is removed from that tree first: the files its metadata lists
(a ``.dist-info``'s ``RECORD``; an ``.egg-info``'s ``installed-files.txt``, else its
top-level packages and console scripts), then the metadata itself. Only paths inside the
staged tree are touched; an installation in the live venv is replaced by the merge, as
for any file of the package's previous version.
"""

from __future__ import annotations

import configparser
import csv
import os
import shutil
from pathlib import Path

from packaging.utils import canonicalize_name

from mason.python.venv import Venv


def project_of(wheel: Path) -> str:
    """The canonical project name of a wheel file (``Foo_Bar-1.0-...whl``: ``foo-bar``)."""
    return canonicalize_name(wheel.name.split("-", 1)[0])


def drop_staged_distribution(
    project: str, venv: Venv, staged_root: Path, tree_root: Path
) -> list[Path]:
    """Remove every installation of ``project`` from the venv part of ``staged_root``
    (which stands for ``tree_root``); return the metadata directories removed."""
    removed: list[Path] = []
    libs = dict.fromkeys((venv.scheme("purelib"), venv.scheme("platlib")))
    scripts = _staged(venv.scheme("scripts"), staged_root, tree_root)
    for lib in libs:
        site = _staged(lib, staged_root, tree_root)
        if not site.is_dir():
            continue
        for meta in sorted(site.iterdir()):
            if meta.suffix in (".dist-info", ".egg-info") and _names(meta) == project:
                for path in _files_of(meta, site, scripts):
                    _remove(path, staged_root)
                _remove(meta, staged_root)
                removed.append(meta)
    return removed


def _staged(path: Path, staged_root: Path, tree_root: Path) -> Path:
    return staged_root / path.relative_to(tree_root)


def _names(meta: Path) -> str:
    return canonicalize_name(meta.name.split("-", 1)[0].removesuffix(meta.suffix))


def _files_of(meta: Path, site: Path, scripts: Path) -> list[Path]:
    if meta.suffix == ".dist-info":
        return [site / row[0] for row in _rows(meta / "RECORD") if row]
    listed = meta / "installed-files.txt"
    if listed.is_file():
        return [meta / line for line in listed.read_text().splitlines() if line.strip()]
    files: list[Path] = []
    top = meta / "top_level.txt"
    if top.is_file():
        for name in top.read_text().split():
            files += [site / name, site / f"{name}.py"]
    points = configparser.ConfigParser(delimiters=("=",))
    if (meta / "entry_points.txt").is_file():
        points.read(meta / "entry_points.txt")
    for group in ("console_scripts", "gui_scripts"):
        if points.has_section(group):
            files += [scripts / name for name in points.options(group)]
    return files


def _rows(record: Path) -> list[list[str]]:
    try:
        with record.open(newline="", encoding="utf-8") as f:
            return list(csv.reader(f))
    except FileNotFoundError:
        return []


def _remove(path: Path, staged_root: Path) -> None:
    """Remove ``path`` (a file, or a whole directory) if it lies inside ``staged_root``,
    then its parents while they are empty."""
    path = Path(os.path.normpath(path))
    if not path.is_relative_to(staged_root) or path == staged_root:
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    else:
        return
    parent = path.parent
    while parent != staged_root and parent.is_relative_to(staged_root):
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
