"""The prefix as a transactional store: the public face of :mod:`mason.store`."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from mason import builddirs
from mason.errors import BadInput, disk_full_is_typed
from mason.layout import (
    COMPAT_LINKS,
    INDEX_FILE,
    JOURNAL_DIR,
    PREFIX_LOCK,
    RECORDS_DIR,
    STATE_DIR,
    TMP_DIR,
    TXN_DIR,
)
from mason.store import fsops, kept
from mason.store.errors import CollisionError, NotInstalled, ReadOnlyPrefix
from mason.store.headers import Summary, current, read_records
from mason.store.index import OwnerIndex
from mason.store.journal import Journal
from mason.store.locks import READ_ONLY_ERRNOS, Lock
from mason.store.merge import PackageMeta, PathTaken, Transaction, run_merge
from mason.store.plan import Planner
from mason.store.records import Record, RecordStore
from mason.store.recover import RecoveryReport, recover_pending
from mason.store.rewrite import Reconciler, RecordsView, apply_changes
from mason.store.staged import KnownDigests, StagedTree, check_apart, same_filesystem, scan_tree
from mason.store.turns import TurnLock
from mason.store.uninstall import UninstallReport, uninstall
from mason.store.verify import VerifyReport, check_all, check_records

NAME_RE = re.compile(r"[a-z0-9_]+")
VERSION_RE = re.compile(r"[A-Za-z0-9_.+~-]+")
MERGE_ATTEMPTS = 3


def check_meta(meta: PackageMeta) -> None:
    """A package name and version safe to use in file names."""
    if not NAME_RE.fullmatch(meta.name):
        raise BadInput(f"{meta.name!r}: package names must match [a-z0-9_]+")
    if not VERSION_RE.fullmatch(meta.version):
        raise BadInput(f"{meta.name}: bad version {meta.version!r}")
    kept.check_names(meta.name, meta.kept)


def writable(root: Path) -> bool:
    """Whether this process can write the prefix ``root`` (True for one not made yet).

    A prefix it cannot write (a read-only export, another user's) is read as it is: the
    shared lock on a read-only descriptor, the ownership index built in memory from the
    records, and an interrupted transaction, which only a writer can recover, an error.
    """
    for place in (root / STATE_DIR, root):
        if place.exists():
            return os.access(place, os.W_OK)
    return True


def require_writable(root: Path) -> None:
    """Raise :class:`ReadOnlyPrefix` unless this process can write the prefix ``root``."""
    if not writable(root):
        raise ReadOnlyPrefix(str(root))


def _make_compat_links(root: Path, names: Sequence[str]) -> None:
    """mason's own links (``lib64 -> lib``) a staged tree had, in the prefix if missing."""
    for name in names:
        if not os.path.lexists(root / name):
            root.mkdir(parents=True, exist_ok=True)
            os.symlink(COMPAT_LINKS[name], root / name)


@contextmanager
def _exclusive(lock: Lock, root: Path, timeout: float | None) -> Iterator[None]:
    """``lock.exclusive``; a prefix this process cannot write is :class:`ReadOnlyPrefix`."""
    try:
        with lock.exclusive(timeout):
            yield
    except OSError as e:
        if e.errno not in READ_ONLY_ERRNOS or writable(root):
            raise
        raise ReadOnlyPrefix(str(root), e.strerror or "") from e


def claim_path(root: Path, path: str) -> str:
    """A user's path (absolute, or relative to the prefix ``root``) as a claim path."""
    p = path if os.path.isabs(path) else os.path.join(root, path)
    p = os.path.normpath(p)
    parent = os.path.realpath(os.path.dirname(p))
    real_root = os.path.realpath(root)
    full = os.path.join(parent, os.path.basename(p))
    if full == real_root or not full.startswith(real_root + os.sep):
        raise BadInput(f"{path}: not inside the prefix {root}")
    return os.path.relpath(full, real_root)


class Prefix:
    """An install prefix: merges staged trees, keeps records and claims, recovers crashes.

    Every change takes the exclusive lock ``var/lock/prefix.lock``; queries take it shared.
    A transaction left unfinished by a killed process is finished or undone by the next
    operation that takes the exclusive lock.
    """

    def __init__(self, root: Path, *, lock_timeout: float | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        self.lock_timeout = lock_timeout
        self._records = RecordStore(self.root / RECORDS_DIR)
        self._journal = Journal(self.root / JOURNAL_DIR, self.root / TXN_DIR)
        self._index_path = self.root / INDEX_FILE
        self._index: OwnerIndex | None = None
        self._lock = Lock(self.root / PREFIX_LOCK)
        # The file lock is per process; threads of one process (parallel builds) take
        # turns through this lock, which also guards the SQLite connection.
        self._threads = TurnLock()
        self.recovered: RecoveryReport | None = None  # what automatic recovery last did

    @contextmanager
    def write_locked(self, priority: float = 0.0) -> Iterator[OwnerIndex]:
        """Hold the exclusive prefix lock, after finishing any interrupted transaction.
        ``priority``: this thread's rank among the process's threads waiting for it."""
        with self._threads.turn(priority), _exclusive(self._lock, self.root, self.lock_timeout):
            index = self._open_index()
            if self._journal.has_pending():
                self.recovered = recover_pending(self.root, self._journal, self._records, index)
            yield index

    def interrupted(self) -> bool:
        """Whether an interrupted transaction waits for recovery."""
        return self._journal.has_pending()

    @contextmanager
    def read_locked(self) -> Iterator[OwnerIndex]:
        """Hold the shared lock; an interrupted transaction is recovered first. On a
        read-only prefix nothing is written (see :func:`writable`)."""
        read_only = not writable(self.root)
        if read_only and self._journal.has_pending():
            raise ReadOnlyPrefix(str(self.root), "an interrupted transaction waits for recovery")
        if not read_only and (
            self._journal.has_pending() or not self._index_path.exists() or self._outdated()
        ):
            with self.write_locked():
                pass
        with self._threads, self._lock.shared(self.lock_timeout):
            yield self._open_index(read_only)

    def _open_index(self, read_only: bool = False) -> OwnerIndex:
        if self._index is None:
            exclusive = self._lock.mode == "exclusive"
            index = OwnerIndex(self._index_path, read_only=read_only, upgrade=exclusive)
            self._index = index
            if index.fresh and (read_only or exclusive):
                self._rebuild_index(index)
        return self._index

    def _outdated(self) -> bool:
        """Whether the index is of an older schema (then closed, to be rebuilt under the
        write lock)."""
        with self._threads:
            if self._index is None or not self._index.outdated:
                self._open_index()
            if not self._index or not self._index.outdated:
                return False
            self.close()
            return True

    def _rebuild_index(self, index: OwnerIndex) -> None:
        records, headers = read_records(self._records.directory, self._records.read)
        index.rebuild({n: r.files for n, r in records.items()}, headers)

    def _summaries(self, index: OwnerIndex) -> tuple[dict[str, Summary], bool]:
        """:meth:`summaries` from the headers table (stale rows read again and stored when
        the write lock is held or the index is in memory); and whether rows were stale."""
        found, stale = current(self._records.directory, index.header_rows(), self._records.read)
        if stale and (index.in_memory or self._lock.mode == "exclusive"):
            index.put_headers(stale)
        return found, bool(stale)

    def summaries(self) -> dict[str, Summary]:
        """What every record says about its package but its files, by name: read from the
        index's headers table, not from every record (:mod:`mason.store.headers`)."""
        with self.read_locked() as index:
            found, stale = self._summaries(index)
            stale = stale and not index.in_memory
        if stale:  # the rows read again are stored under the write lock
            with self.write_locked() as index:
                found, _ = self._summaries(index)
        return found

    def close(self) -> None:
        """Close the index connection."""
        if self._index is not None:
            self._index.close()
            self._index = None

    # -- staging and merging --------------------------------------------------------------

    def staging_dir(self, label: str, *, work: bool = True) -> Path:
        """A fresh directory in ``var/tmp/mason``; a ``work`` one is marked in use (builddirs)."""
        base = self.root / TMP_DIR
        with disk_full_is_typed(base, f"creating the build directory of {label}"):
            if work:
                return builddirs.make(base, label)
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f".{label}-", dir=base))

    def scan(
        self,
        staged_dir: Path,
        package: str,
        *,
        copy: bool = False,
        known: KnownDigests | None = None,
        jobs: int = 1,
    ) -> StagedTree:
        """Validate, hash and sanitize a staged tree (no lock held; all problems at once).

        ``known`` digests of files the caller wrote or linked from mason's own cache
        (``rel -> (sha256 hex, size)``) save hashing them again; those files may have
        links outside the tree. The files are hashed on up to ``jobs`` cores.

        The tree is copied into a staging directory of the prefix when ``copy`` is set or
        when it lives on another filesystem (a rename cannot cross filesystems). A staging
        directory of the prefix (:meth:`staging_dir`) is removed after a successful merge.
        """
        staged_dir = Path(os.path.abspath(staged_dir))
        own = staged_dir.is_relative_to(self.root / TMP_DIR)
        check_apart(self.root, staged_dir, package, own)
        if copy or not same_filesystem(self.root, staged_dir):
            target = self.staging_dir(package, work=False)
            os.rmdir(target)
            try:
                with disk_full_is_typed(target, f"copying the staged tree of {package}"):
                    shutil.copytree(staged_dir, target, symlinks=True)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
            staged_dir, own = target, True
        tree = scan_tree(staged_dir, self.root, package, known, jobs=jobs)
        fsops.syncfs(staged_dir)  # file data durable before it becomes visible in the prefix
        # The record body is encoded here too, outside the lock (a replace() drops caches).
        return replace(tree, remove_root_after=own).precompute()

    def merge(
        self,
        staged: StagedTree,
        meta: PackageMeta,
        *,
        allow_overwrite: bool = False,
        priority: float = 0.0,
    ) -> Record:
        """Merge a scanned tree as package ``meta.name`` (an upgrade if it is installed).

        Raises :class:`CollisionError` listing every conflicting path; the prefix is then
        unchanged. Returns the record written, which lists exactly what the merge claimed.
        Of this process's merges waiting for the prefix, the highest ``priority`` goes
        first (a run passes the package's critical path: see :mod:`mason.store.turns`).
        """
        check_meta(meta)
        if staged.package != meta.name:
            raise BadInput(f"{meta.name}: staged tree was scanned for {staged.package}")
        started = time.monotonic()
        with self.write_locked(priority) as index:
            fsops.arm_crash_hook()
            _make_compat_links(self.root, staged.compat_links)
            record = self._merge_locked(index, staged, meta, allow_overwrite, started)
        if staged.remove_root_after and staged.root.exists():
            shutil.rmtree(staged.root)
        return record

    def _merge_locked(
        self,
        index: OwnerIndex,
        staged: StagedTree,
        meta: PackageMeta,
        allow_overwrite: bool,
        started: float,
    ) -> Record:
        old = self._records.find(meta.name)
        tx = Transaction(self.root, self._journal, self._records, index, old)
        for attempt in range(MERGE_ATTEMPTS):
            plan = Planner(self.root, staged, index.owners_of, allow_overwrite=allow_overwrite)
            plan.run()
            if plan.plan.conflicts:
                raise CollisionError(meta.name, plan.plan.conflicts)
            try:
                return run_merge(tx, staged, meta, plan.plan, old, started)
            except PathTaken:
                # A process outside mason's lock created a path (say a shared directory)
                # between plan and move; the merge was undone: plan again against it.
                if attempt == MERGE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def uninstall(self, name: str, *, force: bool = False) -> UninstallReport:
        """Remove an installed package: its files deepest first (co-owned files and files
        changed since the install stay, listed in the report), emptied directories (never
        the prefix itself), its claims and its record. Journaled like a merge.

        Raises :class:`NotInstalled`, or :class:`PackageInUse` when other installed
        packages depend on it (unless ``force``).
        """
        with self.write_locked() as index:
            fsops.arm_crash_hook()
            record = self._records.find(name)
            if record is None:
                raise NotInstalled(name, str(self.root))
            return uninstall(
                self.root,
                record,
                journal=self._journal,
                records=self._records,
                index=index,
                users=None if force else self._summaries(index)[0],
            )

    # -- other installers ------------------------------------------------------------------

    def reconcile(self, reconciler: Reconciler) -> tuple[str, ...]:
        """Make the records true to what another installer (pip) changed: nothing but a
        cheap check when nothing changed; else, under the write lock, the changes the
        reconciler finds, journaled (:mod:`mason.store.rewrite`). Returns one line per
        change."""
        if reconciler.up_to_date():
            return ()
        with self.write_locked() as index:
            return self.reconcile_locked(index, reconciler)

    def reconcile_locked(self, index: OwnerIndex, reconciler: Reconciler) -> tuple[str, ...]:
        """:meth:`reconcile` for a caller already holding :meth:`write_locked`."""
        fsops.arm_crash_hook()
        view = RecordsView(self.root, self._records.all(), index.owners_of)
        changes = reconciler.changes(view)
        apply_changes(self.root, self._journal, self._records, index, changes)
        return changes.notes

    # -- queries --------------------------------------------------------------------------

    def records(self) -> dict[str, Record]:
        """Every installed package's record, by name."""
        with self.read_locked():
            return self._records.all()

    def record(self, name: str) -> Record | None:
        """The record of ``name``, or None if it is not installed."""
        with self.read_locked():
            return self._records.find(name)

    def files(self, name: str) -> list[str]:
        """The paths ``name`` owns (relative to the prefix, sorted)."""
        rec = self.record(name)
        if rec is None:
            raise NotInstalled(name, str(self.root))
        return sorted(rec.files)

    def owner(self, paths: Sequence[str]) -> dict[str, list[str]]:
        """The packages owning each path (absolute, or relative to the prefix)."""
        rels = {p: claim_path(self.root, p) for p in paths}
        with self.read_locked() as index:
            found = index.owners(list(rels.values()))
        return {p: found[r] for p, r in rels.items()}

    def verify(self, names: Sequence[str] | None = None, jobs: int = 1) -> VerifyReport:
        """Compare the prefix with the records (all packages, or only ``names``).

        Unclaimed files are looked for only when checking the whole prefix, whose records
        ``jobs`` processes check (:func:`~mason.store.verify.check_all`).
        """
        with self.read_locked() as index:
            if names:
                found = {n: self._records.find(n) for n in names}
                if missing := [n for n, r in found.items() if r is None]:
                    raise NotInstalled(", ".join(missing), str(self.root))
                return check_records(self.root, {n: r for n, r in found.items() if r})
            sizes = {n: s.files for n, s in self._summaries(index)[0].items()}
            return check_all(self.root, self._records, sizes, index.claimed_paths, jobs)

    def recover(self) -> RecoveryReport:
        """Finish or undo interrupted transactions, then rebuild the ownership index."""
        with self.write_locked() as index:
            report = recover_pending(self.root, self._journal, self._records, index)
            self._rebuild_index(index)
        return replace(report, index_rebuilt=True)
