"""Rewriting records without touching package files: the store side of reconciliation.

When another installer (pip) changed the venv, :mod:`mason.reconcile` works out which
records must change (:class:`RecordChanges`): a record rewritten to claim what is there
now, an external package's record added or dropped, and mason's listing of the venv's
dist-info directories. :func:`apply_changes` makes them true in one journaled
transaction, under the write lock:

1. the new record files are written into the transaction directory (``txn/<txid>/``);
2. the journal entry (action ``records``) is written: the commit point. Before it, a crash
   leaves only a transaction directory without an entry, which recovery removes;
3. each new record is renamed into place, old record files are removed, the claims of
   every package touched are set from its record, the journal entry goes.

Recovery finishes step 3 from the entry (:func:`finish_records`), as often as needed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mason.store import fsops
from mason.store.index import OwnerIndex
from mason.store.journal import Intent, Journal, Step
from mason.store.records import Record, RecordStore


@dataclass(frozen=True)
class RecordsView:
    """What a reconciler reads under the lock: the store's root, its records, its claims."""

    root: Path
    records: Mapping[str, Record]
    owners_of: Callable[[str], list[str]]


@dataclass(frozen=True)
class RecordChanges:
    """Records to write (new or replacing the package's record), packages whose record
    goes, bookkeeping files (relative to the store) written with them, and one line per
    change for the user."""

    write: tuple[Record, ...] = ()
    drop: tuple[str, ...] = ()
    state: tuple[tuple[str, bytes], ...] = ()
    notes: tuple[str, ...] = ()


class Reconciler(Protocol):
    """Compares the records with what is really installed (:mod:`mason.reconcile`)."""

    def up_to_date(self) -> bool:
        """Cheaply, without the lock: whether nothing changed since the last time."""
        ...

    def changes(self, view: RecordsView) -> RecordChanges:
        """Under the write lock: what must change to make the records true."""
        ...


def _record_name(rel: str) -> str:
    return os.path.basename(rel).split("-", 1)[0]


def apply_changes(
    root: Path, journal: Journal, records: RecordStore, index: OwnerIndex, changes: RecordChanges
) -> None:
    """Make ``changes`` true in one journaled transaction (call under the write lock)."""
    if not changes.write and not changes.drop:
        for rel, data in changes.state:  # derived state only: no transaction needed
            fsops.write_atomic(root / rel, data)
        return
    txid = uuid.uuid4().hex
    txn = journal.txn_dir(txid)
    fsops.makedirs(txn)
    steps: list[Step] = []
    targets: list[tuple[Path, bytes]] = [
        (records.path(r.name, r.version), r.encode()) for r in changes.write
    ]
    targets += [(root / rel, data) for rel, data in changes.state]
    for i, (target, data) in enumerate(targets):
        fsops.write_atomic(txn / f"w{i}", data)
        steps.append(Step("write", f"w{i}", os.path.relpath(target, root)))
    written = {(r.name, r.version) for r in changes.write}
    touched = {r.name for r in changes.write} | set(changes.drop)
    stale = []
    for name in sorted(touched):
        for path in records.paths_of(name):
            if (name, path.name[len(name) + 1 :]) not in written:
                stale.append(os.path.relpath(path, root))
    intent = Intent(txid, "reconcile", "records", None, txn, tuple(steps), tuple(stale), "records")
    journal.write(intent)  # the commit point
    finish_records(root, intent, journal, records, index)
    journal.finish(txid)


def finish_records(
    root: Path, intent: Intent, journal: Journal, records: RecordStore, index: OwnerIndex
) -> None:
    """Roll a committed ``records`` transaction forward (idempotent)."""
    txn = journal.txn_dir(intent.txid)
    for step in intent.steps:
        src = txn / step.src
        if os.path.lexists(src):
            fsops.rename_over(src, root / step.dst)
    for rel in intent.stale:
        if os.path.lexists(root / rel):
            fsops.unlink(root / rel)
    fsops.fsync_dirs({(root / s.dst).parent for s in intent.steps} | {records.directory})
    names = {_record_name(s.dst) for s in intent.steps if records.holds(root / s.dst)}
    names |= {_record_name(rel) for rel in intent.stale}
    for name in sorted(names):
        record = records.find(name)
        index.set_package(name, record.files if record is not None else ())
