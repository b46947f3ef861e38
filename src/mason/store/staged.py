"""Scanning a staged tree: validate everything at once, hash, sanitize modes (no lock).

A staged tree is a directory whose paths are relative to the prefix (``DESTDIR$PREFIX``).
Scanning happens before the prefix lock is taken, so the expensive part of a merge (reading
and hashing every byte) never holds other mason processes up.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, cast

from mason.errors import BadInput
from mason.layout import RESERVED, is_compat_link, is_mason_own
from mason.modes import process_umask, sane_mode
from mason.store.errors import Problem, StagedTreeError
from mason.store.hashing import Failed, Hashed, Result, failed, hash_files, hash_one
from mason.store.records import EncodedFiles, FileInfo

EntryKind = Literal["file", "symlink", "dir"]


@dataclass(frozen=True)
class StagedEntry:
    """One path of a staged tree, relative to the staging root (posix separators)."""

    rel: str
    kind: EntryKind
    size: int = 0
    sha256: str | None = None
    target: str | None = None
    info: FileInfo | None = None  # what a record says about it (files and symlinks)

    def same_content(self, other: StagedEntry) -> bool:
        """Identical files (same bytes) or identical symlinks (same target)."""
        if self.kind != other.kind:
            return False
        if self.kind == "symlink":
            return self.target == other.target
        return self.size == other.size and self.sha256 == other.sha256


@dataclass(frozen=True)
class StagedTree:
    """A validated, hashed staged tree ready to merge as ``package``."""

    root: Path
    package: str
    entries: Mapping[str, StagedEntry]
    children: Mapping[str, tuple[str, ...]]
    files: tuple[StagedEntry, ...] = ()  # files and symlinks in depth-first order
    spans: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # dir -> files[a:b]
    remove_root_after: bool = False
    compat_links: tuple[str, ...] = ()  # mason's own links it had (layout.COMPAT_LINKS)

    def files_under(self, rel: str) -> Sequence[StagedEntry]:
        """Every file and symlink at or below ``rel`` (what a directory move claims)."""
        entry = self.entries[rel]
        if entry.kind != "dir":
            return (entry,)
        start, end = self.spans[rel]
        return self.files[start:end]

    @cached_property
    def paths(self) -> tuple[str, ...]:
        """``rel`` of each of :attr:`files` (same order: a directory's span slices it)."""
        return tuple(f.rel for f in self.files)

    @cached_property
    def infos(self) -> tuple[FileInfo, ...]:
        """The record entry of each of :attr:`files` (same order)."""
        infos = tuple(f.info for f in self.files if f.info is not None)
        assert len(infos) == len(self.files), "the scan describes every file and symlink"
        return infos

    @cached_property
    def encoded(self) -> EncodedFiles:
        """The record body of a merge that claims every file at its staged path (the
        usual case), encoded by the scan so the locked part of the merge does not."""
        return EncodedFiles.of(dict(zip(self.paths, self.infos, strict=True)))

    def precompute(self) -> StagedTree:
        """Compute the cached views now (the scan calls this, outside the lock)."""
        _ = self.paths, self.infos, self.encoded
        return self


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


#: Digests the caller computed while writing a staged tree: ``rel -> (sha256 hex, size)``.
KnownDigests = Mapping[str, tuple[str, int]]


class _Scanner:
    def __init__(
        self, root: Path, prefix: Path, package: str, known: KnownDigests | None = None
    ) -> None:
        self.root = root
        self.base = str(root)  # string joins: the walk may visit 50,000 entries
        self.prefix = prefix
        self.package = package
        self.known: KnownDigests = known or {}
        self.umask = process_umask()
        self.wanted: dict[tuple[int, bool], int] = {}  # (mode, is_dir) -> sane_mode
        self.real_roots = (os.path.realpath(root), os.path.realpath(prefix))
        self.problems: list[Problem] = []
        self.entries: dict[str, StagedEntry] = {}
        self.children: dict[str, tuple[str, ...]] = {}
        self.files: list[StagedEntry | None] = []  # None: a file waiting for its hash
        self.pending: list[tuple[int, str, str]] = []  # (index in files, rel, path)
        self.linked: dict[tuple[int, int], list[tuple[str, str, int, int]]] = {}
        self.spans: dict[str, tuple[int, int]] = {}
        self.compat_links: list[str] = []

    def problem(self, rel: str, reason: str) -> None:
        self.problems.append(Problem(rel or ".", reason))

    def scan_dir(self, rel: str, path: str, mode: int) -> None:
        self.children[rel] = ()
        if not self.sanitize(rel, path, mode, is_dir=True):
            return
        try:
            with os.scandir(os.fsencode(path)) as it:
                found = sorted(it, key=lambda e: e.name)
        except OSError as e:
            self.problem(rel, f"directory cannot be read: {e.strerror}")
            return
        kept: list[str] = []
        for raw in found:
            name = self.check_name(rel, raw.name)
            if name is None:
                continue
            child = f"{rel}/{name}" if rel else name
            if is_mason_own(child, RESERVED):
                self.problem(child, "is reserved for mason's own bookkeeping")
                continue
            if self.scan_entry(child, raw):
                kept.append(name)
        self.children[rel] = tuple(kept)

    def check_name(self, rel: str, raw: bytes) -> str | None:
        shown = f"{rel}/{raw!r}" if rel else repr(raw)
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problem(shown, "file name is not valid UTF-8")
            return None
        if "\n" in name or "\r" in name:
            self.problem(shown, "file name contains a newline")
            return None
        return name

    def scan_entry(self, rel: str, raw: os.DirEntry[bytes]) -> bool:
        """One directory entry, by the type ``readdir`` gave (no ``stat`` of a file: the
        hash's open gives its metadata, :mod:`mason.store.hashing`)."""
        path = f"{self.base}/{rel}"
        if raw.is_symlink():
            return self.scan_symlink(rel, path)
        if raw.is_dir(follow_symlinks=False):
            self.entries[rel] = StagedEntry(rel, "dir")
            start = len(self.files)
            self.scan_dir(rel, path, raw.stat(follow_symlinks=False).st_mode)
            self.spans[rel] = (start, len(self.files))
            return True
        if raw.is_file(follow_symlinks=False):
            self.pending.append((len(self.files), rel, path))
            self.files.append(None)
            return True
        self.problem(rel, "is not a regular file, directory or symlink (device, fifo, socket)")
        return False

    def hash_pending(self, jobs: int) -> None:
        """Hash every file the walk found (on ``jobs`` cores), then check and record it."""
        todo = [(i, rel, path) for i, rel, path in self.pending if rel not in self.known]
        results = iter(hash_files([path for _, _, path in todo], jobs))
        known = self.known
        for i, rel, path in self.pending:
            if rel in known:
                res: Result = self.known_file(rel, path)
            else:
                res = next(results)
                if (bad := failed(res)) is not None and bad[0] == errno.EACCES:
                    if (again := self.unreadable(rel, path, bad)) is None:
                        continue  # the problem is reported
                    res = again
            if (bad := failed(res)) is not None:
                self.problem(rel, f"cannot be read: {bad[1]}")
                continue
            digest, size, mode, nlink, dev, ino = cast(Hashed, res)
            if nlink > 1 and rel not in known:
                # Possibly linked to a file outside the tree: never chmod it before knowing.
                self.linked.setdefault((dev, ino), []).append((rel, path, mode, nlink))
            elif not self.sanitize(rel, path, mode, is_dir=False):
                continue
            info = FileInfo("file", digest, size)
            _ = info.encoded  # serialize now, outside the lock
            entry = StagedEntry(rel, "file", size, digest, None, info)
            self.entries[rel] = entry
            self.files[i] = entry

    def known_file(self, rel: str, path: str) -> Result:
        """A file the caller wrote or linked from mason's own cache: its digest as given
        when the size still matches."""
        st = os.lstat(path)
        digest, size = self.known[rel]
        if size != st.st_size:
            return hash_one(path)
        return (digest, size, st.st_mode, st.st_nlink, st.st_dev, st.st_ino)

    def unreadable(self, rel: str, path: str, failed: Failed) -> Result | None:
        """A file its owner may not read (mode 0o200): made sane, then read, unless it may
        be linked from outside the tree (None: its mode cannot be set, a problem)."""
        st = os.lstat(path)
        if st.st_nlink > 1:
            return failed
        if not self.sanitize(rel, path, st.st_mode, is_dir=False):
            return None
        return hash_one(path)

    def scan_symlink(self, rel: str, path: str) -> bool:
        target = os.readlink(path)
        if is_compat_link(rel, target):
            self.compat_links.append(rel)  # mason's own: made in the prefix, never claimed
            return False
        if os.path.isabs(target):
            rewritten = self.rewrite_absolute(rel, path, target)
            if rewritten is None:
                return False
            target = rewritten
        if (not os.path.isabs(target) and not self.stays_inside(rel, target)) or self.escapes(path):
            self.problem(rel, f"symlink to {target!r} leads outside the prefix")
            return False
        try:
            os.stat(path)
        except OSError as e:
            if e.errno == 40:  # ELOOP
                self.problem(rel, f"symlink to {target!r} is a loop")
                return False
        info = FileInfo("symlink", None, len(target), target)
        _ = info.encoded
        self.add(StagedEntry(rel, "symlink", len(target), None, target, info))
        return True

    def check_hard_links(self) -> None:
        """A multiply-linked file must have all its links inside the staged tree."""
        for links in self.linked.values():
            rel, path, mode, nlink = links[0]
            if len(links) < nlink:
                for other, _, _, _ in links:
                    self.problem(other, "is hard-linked to a file outside the staged tree")
            elif not self.problems:
                self.sanitize(rel, path, mode, is_dir=False)

    def escapes(self, path: str) -> bool:
        """Followed on the disk (chains of links included), ``path`` leaves both the staged
        tree and the prefix."""
        real = os.path.realpath(path)
        return not any(real == r or real.startswith(r + "/") for r in self.real_roots)

    def add(self, entry: StagedEntry) -> None:
        self.entries[entry.rel] = entry
        self.files.append(entry)

    def rewrite_absolute(self, rel: str, path: str, target: str) -> str | None:
        norm = os.path.normpath(target)  # "$PREFIX/../x" is outside, whatever it starts with
        root, pre = str(self.root), str(self.prefix)
        if norm == root or norm.startswith(root + "/"):
            new = pre + norm[len(root) :]
            os.unlink(path)
            os.symlink(new, path)
            return new
        if norm == pre or norm.startswith(pre + "/"):
            return target
        self.problem(rel, f"absolute symlink to {target!r} leads outside the prefix")
        return None

    @staticmethod
    def stays_inside(rel: str, target: str) -> bool:
        depth = rel.count("/")  # directories above the link, inside the prefix
        for part in target.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    return False
            elif part not in ("", "."):
                depth += 1
        return True

    def sanitize(self, rel: str, path: str, st_mode: int, *, is_dir: bool) -> bool:
        """Set :func:`mason.modes.sane_mode`; False (a problem) if impossible."""
        mode = stat.S_IMODE(st_mode)
        want = self.wanted.get((mode, is_dir))
        if want is None:  # a few distinct modes in a tree of 50,000 files
            want = self.wanted[mode, is_dir] = sane_mode(mode, is_dir=is_dir, umask=self.umask)
        if want != mode:
            try:
                os.chmod(path, want)
            except OSError as e:  # not ours (another user's file): cannot be made sane
                self.problem(rel, f"cannot set permissions {oct(want)}: {e.strerror}")
                return False
        return True


def scan_tree(
    root: Path, prefix: Path, package: str, known: KnownDigests | None = None, *, jobs: int = 1
) -> StagedTree:
    """Validate, hash and sanitize the staged tree at ``root`` for ``package``.

    ``known`` digests (files the caller wrote itself and hashed while writing, such as
    unpacked wheels, or linked from mason's own cache) are taken as they are when the size
    still matches, and such a file may have links outside the tree; every other file is
    read and hashed, on up to ``jobs`` cores (:mod:`mason.store.hashing`).

    Raises :class:`StagedTreeError` listing every problem (unsafe names, special files,
    unreadable files, symlink loops, symlinks leaving the prefix). An absolute symlink
    into ``root`` is rewritten to point to the same place inside ``prefix``.
    """
    if not root.is_dir():
        raise StagedTreeError(package, str(root), [Problem(".", "is not a directory")])
    scanner = _Scanner(root, prefix, package, known)
    scanner.scan_dir("", scanner.base, os.lstat(root).st_mode)
    scanner.hash_pending(jobs)
    scanner.check_hard_links()
    if scanner.problems:
        raise StagedTreeError(package, str(root), scanner.problems)
    return StagedTree(
        root,
        package,
        scanner.entries,
        scanner.children,
        tuple(f for f in scanner.files if f is not None),
        scanner.spans,
        compat_links=tuple(scanner.compat_links),
    )


def check_apart(root: Path, staged_dir: Path, package: str, own: bool) -> None:
    """Refuse a staged tree that is part of the live prefix ``root``, or holds it."""
    real, real_root = Path(os.path.realpath(staged_dir)), Path(os.path.realpath(root))
    if real.is_relative_to(real_root) and not own:
        raise BadInput(
            f"{package}: the staged tree {staged_dir} is inside the prefix {root}",
            hint="stage into a directory outside the prefix (or a Prefix.staging_dir)",
        )
    if real_root.is_relative_to(real):
        raise BadInput(
            f"{package}: the staged tree {staged_dir} holds the prefix {root}",
            hint="stage into a directory of its own, outside the prefix",
        )


def same_filesystem(root: Path, path: Path) -> bool:
    root.mkdir(parents=True, exist_ok=True)
    try:
        return os.stat(path).st_dev == os.stat(root).st_dev
    except FileNotFoundError:
        return True  # scan reports the missing directory
