"""The checks every member of an archive passes before anything is written (tar and zip
alike): names (absolute, ``..``, NUL, too long), symlinks leading outside or written
through, hard links to anything but a file extracted before, special files."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mason.archive_errors import ArchiveRejected, Problem

_NAME_MAX_FALLBACK = 255
_PATH_MAX = 4096


def clean_name(raw: str) -> str:
    """The member's path without ``.`` and empty components ("" for the root itself)."""
    return "/".join(c for c in raw.split("/") if c not in ("", "."))


def _name_max(root: Path) -> int:
    try:
        return os.pathconf(root, "PC_NAME_MAX")
    except (OSError, ValueError):
        return _NAME_MAX_FALLBACK


def _name_problem(raw: str, name_max: int) -> str | None:
    """Why the member name itself is unacceptable, or None."""
    if raw.startswith("/"):
        return "absolute path"
    parts = raw.split("/")
    if ".." in parts:
        return "'..' component leads outside the extraction directory"
    if "\0" in raw:
        return "NUL byte in name"
    if len(os.fsencode(raw)) > _PATH_MAX:
        return f"path too long for the filesystem ({len(os.fsencode(raw))} bytes)"
    for part in parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return f"file name too long for the filesystem ({size} > {name_max} bytes)"
    return None


def _link_problem(name: str, target: str) -> str | None:
    """Why a symlink ``name -> target`` may lead outside, or None."""
    if target.startswith("/"):
        return f"absolute symlink to {target}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"symlink to {target} leads outside the extraction directory"
    return None


def _through_symlink(name: str, symlinks: set[str]) -> str | None:
    """The symlink member that ``name`` would be written through or over, if any."""
    parts = name.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if prefix in symlinks:
            return prefix
    return None


MemberKind = Literal["dir", "file", "symlink", "hardlink", "special"]


@dataclass(frozen=True)
class Member:
    """One archive member as the checks see it (tar and zip alike)."""

    raw: str
    kind: MemberKind
    link: str = ""
    special: str = ""


def _problems(members: Sequence[Member], name_max: int) -> list[Problem]:
    """Every problem of the archive's members, in archive order."""
    symlinks = {clean_name(m.raw) for m in members if m.kind == "symlink"}
    files_before: set[str] = set()
    found: list[Problem] = []
    for m in members:
        reason = _member_problem(m, name_max, symlinks, files_before)
        if reason:
            found.append(Problem(m.raw, reason))
        elif m.kind == "file":
            files_before.add(clean_name(m.raw))
        else:  # a later member of the same name replaces the file
            files_before.discard(clean_name(m.raw))
    return found


def _member_problem(
    m: Member, name_max: int, symlinks: set[str], files_before: set[str]
) -> str | None:
    reason = _name_problem(m.raw, name_max)
    if reason:
        return reason
    name = clean_name(m.raw)
    if m.kind == "special":
        return f"{m.special} members are not allowed"
    via = _through_symlink(name, symlinks - {name} if m.kind == "symlink" else symlinks)
    if via is not None:
        return f"written through or over the symlink member {via!r}"
    if m.kind == "symlink":
        return _link_problem(name, m.link)
    if m.kind == "hardlink":
        return _hardlink_problem(m.link, files_before)
    return None


def _hardlink_problem(target: str, files_before: set[str]) -> str | None:
    if target.startswith("/") or ".." in target.split("/"):
        return f"hard link to {target} outside the extraction directory"
    if clean_name(target) not in files_before:
        return f"hard link to {target}, which is not a regular file extracted before it"
    return None


def reject_if_any(archive: Path, members: Sequence[Member], root: Path) -> None:
    """Raise :class:`ArchiveRejected` naming every problem of ``members`` (nothing written)."""
    problems = _problems(members, _name_max(root))
    if problems:
        raise ArchiveRejected(archive, problems)
