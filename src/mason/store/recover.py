"""Rolling an interrupted transaction back or forward, from its journal entry.

The record carries the transaction id and its write is the commit point:

* record of ``txid`` present: roll forward (claims, old-only files, old record, backups);
* otherwise: roll back every step, newest first. A ``move`` is done iff its source is gone
  from the staging tree and its destination exists; it goes back with a no-replace rename.
  A ``replace`` backed up the old inode first, so the old file is renamed back over the
  path (the new one is linked back into staging first).

Every action checks the state it finds, so running recovery twice is harmless.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mason.store import distswap, fsops, kept
from mason.store.index import OwnerIndex
from mason.store.journal import Intent, Journal, Step
from mason.store.records import Record, RecordStore
from mason.store.rewrite import finish_records


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery did: ``name-version`` of transactions finished or undone."""

    rolled_forward: tuple[str, ...] = ()
    rolled_back: tuple[str, ...] = ()
    index_rebuilt: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.rolled_forward or self.rolled_back or self.index_rebuilt)


def _lexists(p: Path) -> bool:
    return os.path.lexists(p)


def undo_step(prefix: Path, intent: Intent, txn_dir: Path, step: Step) -> None:
    """Undo one step if it happened (idempotent)."""
    src = intent.staged_root / step.src
    dst = prefix / step.dst
    if step.op in ("exchange", "rename"):
        distswap.undo_step(prefix, intent.staged_root, step)
        return
    if step.op == "move":
        if not _lexists(src) and _lexists(dst):
            try:
                fsops.rename_noreplace(dst, src)
            except OSError:
                fsops.rmtree(dst)
        return
    assert step.backup is not None
    backup = txn_dir / step.backup
    if not _lexists(backup):
        return  # the backup link comes first: without it nothing happened
    if _lexists(src):
        fsops.unlink(backup)  # renamed over? no: dst is still the old inode
        return
    with contextlib.suppress(OSError):
        fsops.link(dst, src)  # give the staging tree its file back
    fsops.rename_over(backup, dst)


def roll_back(prefix: Path, intent: Intent, journal: Journal) -> None:
    """Undo every step of ``intent``, newest first, and make the undo durable."""
    txn_dir = journal.txn_dir(intent.txid)
    touched: set[Path] = set()
    for step in reversed(intent.steps):
        undo_step(prefix, intent, txn_dir, step)
        touched.add((prefix / step.dst).parent)
    fsops.fsync_dirs(touched)


def remove_stale(prefix: Path, package: str, stale: tuple[str, ...], index: OwnerIndex) -> None:
    """Remove files only the old version had (unless another package co-owns them)."""
    parents: set[Path] = set()
    for rel in stale:
        if any(o != package for o in index.owners_of(rel)):
            continue
        path = prefix / rel
        if _lexists(path) and not (path.is_dir() and not path.is_symlink()):
            fsops.unlink(path)
        parents.add(path.parent)  # also when a crash came between unlink and prune
    fsops.fsync_dirs(parents)
    fsops.prune_empty(parents, prefix)


def finish_commit(
    prefix: Path, intent: Intent, index: OwnerIndex, records: RecordStore, txn_dir: Path
) -> None:
    """The tail of a committed merge, once its claims are in the index: the files only the
    old version had, the old version's record, the kept files (from ``txn_dir``, the
    transaction's directory). Shared by the merge and recovery."""
    remove_stale(prefix, intent.package, intent.stale, index)
    if intent.old_version is not None and intent.old_version != intent.version:
        old = records.path(intent.package, intent.old_version)
        if old.exists():
            fsops.unlink(old)
            fsops.fsync_dir(old.parent)
    if intent.kept is not None:
        kept.put_in_place(prefix, intent.package, intent.kept, txn_dir)


def roll_forward(
    prefix: Path,
    intent: Intent,
    record: Record,
    index: OwnerIndex,
    journal: Journal,
    records: RecordStore,
) -> None:
    """Finish a committed transaction: claims, old-only files, the old record, the kept
    files."""
    index.set_package(intent.package, record.files)
    finish_commit(prefix, intent, index, records, journal.txn_dir(intent.txid))


def finish_uninstall(
    prefix: Path,
    intent: Intent,
    index: OwnerIndex,
    records: RecordStore,
    claimed: Iterable[str] | None = None,
) -> bool:
    """An uninstall commits when its record is gone: then remove its files and its kept
    removal scripts; else nothing was removed yet. Returns whether it was committed.
    ``claimed``: the paths the removed record claimed (its claims are then dropped by
    path; without them, recovery's case, by a scan of the whole table)."""
    if records.path(intent.package, intent.version).exists():
        return False
    index.set_package(intent.package, (), claimed)
    remove_stale(prefix, intent.package, intent.stale, index)
    kept.remove(prefix, intent.package)  # the removal scripts go with the record
    return True


def committed(intent: Intent, records: RecordStore) -> Record | None:
    """The record that commits ``intent``, if it was written."""
    path = records.path(intent.package, intent.version)
    if not path.exists():
        return None
    rec = records.read(path)
    return rec if rec.txid == intent.txid else None


def recover_pending(
    prefix: Path, journal: Journal, records: RecordStore, index: OwnerIndex
) -> RecoveryReport:
    """Bring every unfinished transaction to an end (call under the write lock)."""
    journal.remove_temporaries()
    records.remove_temporaries()
    forward: list[str] = []
    back: list[str] = []
    for intent in journal.pending():
        label = f"{intent.package}-{intent.version}"
        if intent.action == "records":
            finish_records(prefix, intent, journal, records, index)
            forward.append(label)
            journal.finish(intent.txid)
            continue
        if intent.action == "uninstall":
            done = finish_uninstall(prefix, intent, index, records)
            (forward if done else back).append(label)
            journal.finish(intent.txid)
            continue
        rec = committed(intent, records)
        if rec is not None:
            roll_forward(prefix, intent, rec, index, journal, records)
            forward.append(label)
        else:
            roll_back(prefix, intent, journal)
            current = records.find(intent.package)
            index.set_package(intent.package, current.files if current else ())
            back.append(label)
        journal.finish(intent.txid)
    return RecoveryReport(tuple(forward), tuple(back))
