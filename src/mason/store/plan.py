"""Deciding, under the prefix lock, what merging a staged tree does to each path.

The planner walks the staged tree top-down against the live prefix. A staged directory the
prefix lacks becomes one ``move`` step (one rename for the whole subtree); a directory that
exists is merged into, entry by entry; a directory symlink in the prefix (``lib64 -> lib``)
is followed. For an existing file the collision policy decides: the package's own previous
version is replaced, identical content and equivalent namespace ``__init__.py`` files are
co-owned (the first content stays), anything else is a :class:`Conflict`. Nothing is
touched here; every conflict is collected so the user sees them all at once.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mason.layout import WHEELS_DIR
from mason.store.errors import Conflict
from mason.store.journal import Step
from mason.store.records import EncodedFiles, FileInfo
from mason.store.staged import StagedEntry, StagedTree, sha256_file

OwnersOf = Callable[[str], list[str]]

# Byte-code of a package's __init__.py: <dir>/__pycache__/__init__.<tag>[.opt-N].pyc
_INIT_PYC = re.compile(r"(?P<dir>(?:.*/)?)__pycache__/__init__\.[^/]+\.pyc")


@dataclass
class MergePlan:
    """The steps of a merge and the claims its record will hold."""

    steps: list[Step] = field(default_factory=list)
    claims: dict[str, FileInfo] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    coowned: int = 0
    verbatim: bool = True  # every claim is a staged file at its staged path, as scanned

    def body(self, staged: StagedTree) -> EncodedFiles:
        """The record body of :attr:`claims`: the scan's encoding when the plan claims the
        staged tree as it is (no per-file work under the lock), else encoded now."""
        if self.verbatim and len(self.claims) == len(staged.files):
            return staged.encoded
        return EncodedFiles.of(self.claims)


def _info(entry: StagedEntry) -> FileInfo:
    assert entry.info is not None, entry.rel  # set by the scan for files and symlinks
    return entry.info


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def _normalized_namespace(path: Path) -> list[str] | None:
    """The code lines of a namespace ``__init__.py`` (None if it is not one)."""
    try:
        if path.name != "__init__.py" or path.stat().st_size > 65536:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [
        ln.rstrip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    body = "\n".join(lines)
    return lines if ("extend_path" in body or "declare_namespace" in body) else None


class Planner:
    """Plans the merge of one staged tree into one prefix (call under the write lock)."""

    def __init__(
        self,
        prefix: Path,
        staged: StagedTree,
        owners_of: OwnersOf,
        *,
        allow_overwrite: bool = False,
    ) -> None:
        self.prefix = prefix
        self.root = f"{prefix}/"  # string joins: the walk may visit 50,000 entries
        self.real_prefix = os.path.realpath(prefix)
        self.staged = staged
        self.owners_of = owners_of
        self.allow_overwrite = allow_overwrite
        self.plan = MergePlan()

    def run(self) -> MergePlan:
        self.walk("", "")
        return self.plan

    def walk(self, srel: str, prel: str) -> None:
        """Merge the staged directory ``srel`` into the existing prefix directory ``prel``."""
        if srel != prel:  # a followed directory symlink: claims are not the staged paths
            self.plan.verbatim = False
        for name in self.staged.children.get(srel, ()):
            entry = self.staged.entries[_join(srel, name)]
            dst = _join(prel, name)
            try:
                st = os.lstat(self.root + dst)
            except FileNotFoundError:
                self.take(entry, dst)
                continue
            self.existing(entry, dst, st)

    def existing(self, entry: StagedEntry, dst: str, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            if entry.kind == "dir":
                self.walk(entry.rel, dst)
            else:
                self.conflict(Conflict("file-over-dir", dst))
            return
        if entry.kind == "dir":
            followed = self.followed_dir(dst) if stat.S_ISLNK(st.st_mode) else None
            if followed is None:
                self.conflict(Conflict("dir-over-file", dst))
            else:
                self.walk(entry.rel, followed)
            return
        self.decide_file(entry, dst)

    def followed_dir(self, dst: str) -> str | None:
        """The prefix-relative directory a symlink like ``lib64 -> lib`` leads to."""
        real = os.path.realpath(self.prefix / dst)
        if not os.path.isdir(real) or not real.startswith(self.real_prefix + os.sep):
            return None
        return os.path.relpath(real, self.real_prefix)

    def take(self, entry: StagedEntry, dst: str) -> None:
        """A free path: one no-replace rename claims the entry and everything below it."""
        self.plan.steps.append(Step("move", entry.rel, dst))
        if entry.kind != "dir":
            self.claim(dst, _info(entry))
            return
        start, end = self.staged.spans[entry.rel]
        paths = self.staged.paths[start:end]
        if dst != entry.rel:
            base = len(entry.rel)
            paths = tuple(dst + p[base:] for p in paths)
        claims = self.plan.claims
        if not self.plan.verbatim:
            # Two staged paths can claim one prefix path only through a followed directory
            # symlink, which cleared ``verbatim`` before the later of the two got here.
            for path in sorted(claims.keys() & paths):
                self.conflict(Conflict("duplicate", path))
        claims.update(zip(paths, self.staged.infos[start:end], strict=True))

    def claim(self, path: str, info: FileInfo) -> None:
        if path in self.plan.claims:
            self.conflict(Conflict("duplicate", path))
        self.plan.claims[path] = info

    def decide_file(self, entry: StagedEntry, dst: str) -> None:
        owners = self.owners_of(dst)
        others = tuple(o for o in owners if o != self.staged.package)
        if not owners:
            # an unclaimed wheel in the store: kept there by a mason that did not claim
            # them yet (a wheel's name says what it is), taken over by the new claim
            if self.allow_overwrite or dst.startswith(WHEELS_DIR + "/"):
                self.replace(entry, dst)
            else:
                self.conflict(Conflict("unowned", dst))
        elif not others:
            self.replace(entry, dst)
        elif (info := self.shared_content(entry, dst)) is not None:
            self.plan.coowned += 1
            self.claim(dst, info)
        elif self.allow_overwrite:
            self.replace(entry, dst)
        else:
            self.conflict(Conflict("owned", dst, others))

    def replace(self, entry: StagedEntry, dst: str) -> None:
        backup = f"b{len(self.plan.steps)}"
        self.plan.steps.append(Step("replace", entry.rel, dst, backup))
        self.claim(dst, _info(entry))

    def shared_content(self, entry: StagedEntry, dst: str) -> FileInfo | None:
        """What the prefix holds at ``dst`` if the staged entry may co-own it, else None."""
        path = self.prefix / dst
        st = os.lstat(path)
        if entry.kind == "symlink":
            if stat.S_ISLNK(st.st_mode) and os.readlink(path) == entry.target:
                return _info(entry)
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size == entry.size and sha256_file(path) == entry.sha256:
            return _info(entry)
        if self.equivalent_namespace(entry.rel, dst):
            self.plan.verbatim = False  # the record describes the prefix's file
            return FileInfo("file", sha256_file(path), st.st_size)
        return None

    def equivalent_namespace(self, srel: str, dst: str) -> bool:
        """Both are equivalent namespace ``__init__.py`` files, or both are the byte-code of
        equivalent ones (whose bytes differ with the source's comments and mtime)."""
        staged_src, prefix_src = srel, dst
        if (s := _INIT_PYC.fullmatch(srel)) and (p := _INIT_PYC.fullmatch(dst)):
            staged_src = f"{s['dir']}__init__.py"
            prefix_src = f"{p['dir']}__init__.py"
        ours = _normalized_namespace(self.staged.root / staged_src)
        return ours is not None and ours == _normalized_namespace(self.prefix / prefix_src)

    def conflict(self, c: Conflict) -> None:
        self.plan.conflicts.append(c)
