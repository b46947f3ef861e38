"""Replacing another distribution's ``*.dist-info`` without a moment with two, or none.

When a package's old record claims the dist-info directory ``O`` of a project
(``six-1.16.0.dist-info``, put there by pip) and the merge brings a new one ``N`` of the
same project in the same directory (``six-1.17.0.dist-info``), the plain merge would move
``N`` in and remove ``O`` only after the commit: pip (or Python's ``importlib.metadata``)
looking in between would see two distributions of ``six``. Instead the merge's move of
``N`` becomes two steps:

1. ``exchange``: ``renameat2(RENAME_EXCHANGE)`` swaps the staged ``N`` with ``O`` in the
   prefix, atomically: ``O``'s name now holds the new metadata, the staging tree the old;
2. ``rename``: ``O`` is renamed to ``N`` in the prefix (no-replace).

At every instant exactly one dist-info of the project is there. Both steps are journaled
like the others; recovery undoes them newest first (the exchange is recognized by the
inode the staged ``N`` had, kept in the step's ``backup`` field). After the commit the
old distribution's files outside its dist-info go with the old record's other stale
files; its dist-info content left the prefix with the exchange.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from mason.store import fsops
from mason.store.journal import Step

_DIST_INFO = re.compile(r"(?P<dir>(?:.*/)?)(?P<name>[^/]+)-[^/-]+\.dist-info")


def _project(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _dist_infos(paths: Iterable[str]) -> dict[tuple[str, str], str]:
    """(parent directory, project) -> dist-info directory, of paths ending in RECORD."""
    found: dict[tuple[str, str], str] = {}
    for path in paths:
        if path.endswith(".dist-info/RECORD"):
            m = _DIST_INFO.fullmatch(path[: -len("/RECORD")])
            if m is not None:
                found[(m["dir"], _project(m["name"]))] = path[: -len("/RECORD")]
    return found


def swap_dist_infos(
    prefix: Path, staged_root: Path, steps: list[Step], old_files: Iterable[str]
) -> list[Step]:
    """``steps`` with each move of a new dist-info directory that replaces the old
    record's dist-info of the same project turned into ``exchange`` + ``rename``."""
    if not fsops.can_exchange():
        return steps
    old = _dist_infos(old_files)
    if not old:
        return steps
    out: list[Step] = []
    for step in steps:
        m = _DIST_INFO.fullmatch(step.dst) if step.op == "move" else None
        replaced = old.get((m["dir"], _project(m["name"]))) if m is not None else None
        if replaced is None or replaced == step.dst or not _is_dir(prefix / replaced):
            out.append(step)
            continue
        inode = os.lstat(staged_root / step.src).st_ino
        out.append(Step("exchange", step.src, replaced, str(inode)))
        out.append(Step("rename", replaced, step.dst))
    return out


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def do_step(prefix: Path, staged_root: Path, step: Step) -> None:
    """Carry out an ``exchange`` or ``rename`` step."""
    if step.op == "exchange":
        fsops.exchange(staged_root / step.src, prefix / step.dst)
    else:
        fsops.rename_noreplace(prefix / step.src, prefix / step.dst)


def undo_step(prefix: Path, staged_root: Path, step: Step) -> None:
    """Undo an ``exchange`` or ``rename`` step if it happened (idempotent)."""
    if step.op == "rename":
        if os.path.lexists(prefix / step.dst) and not os.path.lexists(prefix / step.src):
            fsops.rename_noreplace(prefix / step.dst, prefix / step.src)
        return
    try:
        swapped = os.lstat(prefix / step.dst).st_ino == int(step.backup or -1)
    except FileNotFoundError:
        return
    if swapped:  # the new dist-info sits under the old name: swap back
        fsops.exchange(staged_root / step.src, prefix / step.dst)
