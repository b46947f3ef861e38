"""What a sandboxed build tried to write into a live tree, read from its captured layer.

The sandbox (:mod:`mason.build.sandbox`) copies the overlay's upper layer of a live tree
to ``<work>/.captured/<script>/<i>`` when a script wrote there. In that copy (overlayfs
in a user namespace, ``userxattr``):

- a character device 0:0 is a *whiteout*: the path was deleted;
- a directory with the xattr ``user.overlay.opaque = y`` replaced the tree's directory
  (``rm -rf`` then ``mkdir``): whatever the live directory held and the layer does not is
  deleted;
- any other file or symlink was created or changed (content, mode, times: a ``chmod``
  copies the file up too);
- a directory is created when the live tree has none there, changed when its type or
  mode differs, and otherwise only holds changes below it.

The live tree itself is compared, never written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ChangeKind = Literal["created", "changed", "deleted"]
_OPAQUE = "user.overlay.opaque"


@dataclass(frozen=True, order=True)
class Change:
    """One path of a live tree (relative to its root) a build tried to change."""

    path: str
    kind: ChangeKind
    is_dir: bool = False

    def describe(self) -> str:
        """``created lib/x``, as messages list it."""
        return f"{self.kind} {self.path}{'/' if self.is_dir else ''}"


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _deleted(live: Path, path: str) -> Iterator[Change]:
    """``path`` of the live tree and everything under it, as deleted."""
    before = _lstat(live / path)
    if before is None:
        return
    is_dir = stat.S_ISDIR(before.st_mode)
    yield Change(path, "deleted", is_dir)
    if is_dir:
        with os.scandir(live / path) as scan:
            names = [entry.name for entry in scan]
        for name in names:
            yield from _deleted(live, f"{path}/{name}")


def _live_names(live: Path, rel: str) -> list[str]:
    try:
        with os.scandir(live / rel if rel else live) as scan:
            return [entry.name for entry in scan]
    except OSError:
        return []


def _walk(layer: Path, live: Path, rel: str, hidden: bool) -> Iterator[Change]:
    """The changes under ``rel``; ``hidden``: the live directory there is hidden by an
    opaque directory (at ``rel`` or above), so live entries the layer lacks are deleted."""
    with os.scandir(layer / rel if rel else layer) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    if hidden:
        names = {entry.name for entry in entries}
        for name in sorted(_live_names(live, rel)):
            if name not in names:
                yield from _deleted(live, f"{rel}/{name}" if rel else name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        before = _lstat(live / path)
        if _is_whiteout(st):
            yield from _deleted(live, path)
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield Change(path, "created" if before is None else "changed")
            continue
        was_dir = before is not None and stat.S_ISDIR(before.st_mode)
        if before is None:
            yield Change(path, "created", True)
        elif not was_dir or stat.S_IMODE(before.st_mode) != stat.S_IMODE(st.st_mode):
            yield Change(path, "changed", was_dir)
        yield from _walk(layer, live, path, was_dir and (hidden or _opaque(layer / path)))


def read_layer(layer: Path, live: Path) -> list[Change]:
    """The changes the captured upper layer ``layer`` of the live tree ``live`` holds,
    sorted by path (empty when nothing was captured)."""
    if not layer.is_dir():
        return []
    return sorted(set(_walk(layer, live, "", False)))


#: The sandboxed scripts in the order they run (a later layer holds a path's last version).
RUN_ORDER = ("spkg-preinst", "spkg-build", "spkg-install", "spkg-check")


def layers(capture_root: Path, index: int) -> list[Path]:
    """The captured layers of the live tree number ``index``, in the order the scripts ran."""
    found = [capture_root / script / str(index) for script in RUN_ORDER]
    return [layer for layer in found if layer.is_dir()]


def captured_changes(capture_root: Path, live: list[Path]) -> dict[Path, list[Change]]:
    """Per live tree, the changes every script of a build tried (``capture_root`` is
    ``<work>/.captured``; one sub-directory per script, ``<i>`` per tree); trees without
    changes are left out."""
    out: dict[Path, list[Change]] = {}
    if not capture_root.is_dir():  # the sandbox makes it only when a script wrote there
        return out
    for i, tree in enumerate(live):
        changes = {c for layer in layers(capture_root, i) for c in read_layer(layer, tree)}
        if changes:
            out[tree] = sorted(changes)
    return out
