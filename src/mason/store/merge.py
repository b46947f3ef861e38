"""Carrying out a planned merge: journal, moves, fsync, record (the commit), cleanup."""

from __future__ import annotations

import errno
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mason.errors import DiskFull, is_disk_full
from mason.layout import is_compat_link
from mason.store import distswap, fsops, kept
from mason.store.errors import CollisionError, Conflict, StoreError
from mason.store.headers import row_of
from mason.store.index import OwnerIndex
from mason.store.journal import Intent, Journal, Step
from mason.store.plan import MergePlan
from mason.store.records import Record, RecordStore
from mason.store.recover import finish_commit, roll_back
from mason.store.staged import StagedTree


@dataclass(frozen=True)
class PackageMeta:
    """What the caller knows about the package being merged (goes into its record)."""

    name: str
    version: str
    kind: str = "normal"
    dependencies: Mapping[str, str] = field(default_factory=dict)
    recipe_hash: str | None = None
    test_result: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    artifact: str | None = None  # the binary cache artifact it came from (manifest digest)
    #: files kept with the record (the removal scripts), by file name: they replace the
    #: previous version's in the same transaction (:mod:`mason.store.kept`)
    kept: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Transaction:
    """The stores one merge writes to."""

    prefix: Path
    journal: Journal
    records: RecordStore
    index: OwnerIndex
    old: Record | None = None


class PathTaken(CollisionError):
    """A path the plan found free was taken before the move (by a process not using the
    prefix lock); the merge was undone and can be planned again."""

    def __init__(self, package: str, path: str) -> None:
        super().__init__(package, [Conflict("unowned", path)])


def make_intent(
    tx_root: Path, staged: StagedTree, meta: PackageMeta, plan: MergePlan, old: Record | None
) -> Intent:
    stale = (
        tuple(
            sorted(
                p
                for p in set(old.files) - set(plan.claims)
                if not is_compat_link(p, old.files[p].target)
            )
        )
        if old
        else ()
    )
    steps = plan.steps
    if old is not None and old.outside is not None:  # pip's distribution goes
        steps = distswap.swap_dist_infos(tx_root, staged.root, steps, old.files)
    return Intent(
        txid=uuid.uuid4().hex,
        package=meta.name,
        version=meta.version,
        old_version=old.version if old else None,
        staged_root=staged.root,
        steps=tuple(steps),
        stale=stale,
        kept=tuple(sorted(meta.kept)),
    )


def make_record(meta: PackageMeta, plan: MergePlan, txid: str, seconds: float) -> Record:
    return Record(
        name=meta.name,
        version=meta.version,
        files=plan.claims,
        txid=txid,
        kind=meta.kind,
        install_date=datetime.now(UTC).isoformat(timespec="seconds"),
        system_uname=" ".join(os.uname()),
        test_result=meta.test_result,
        dependencies=dict(meta.dependencies),
        recipe_hash=meta.recipe_hash,
        artifact=meta.artifact,
        timings={**meta.timings, "merge": round(seconds, 6)},
    )


def _back_up(tx: Transaction, intent: Intent) -> None:
    """Hard-link every inode a ``replace`` step will rename over into the transaction
    directory, then make those links durable with one fsync.

    The links come first so that a path is never missing and can be restored; they are
    fsync'd before the first rename over, because a power cut may otherwise keep a rename
    (its directory is fsync'd after the moves) but lose the backup link that recovery needs
    to undo it (found by the power-cut model, docs/merge.md).
    """
    txn = tx.journal.txn_dir(intent.txid)
    replaced = [s for s in intent.steps if s.op == "replace"]
    for step in replaced:
        assert step.backup is not None
        fsops.link(f"{tx.prefix}/{step.dst}", f"{txn}/{step.backup}")
    if replaced:
        fsops.fsync_dir(txn)


def _do_step(tx: Transaction, intent: Intent, step: Step) -> None:
    src = f"{intent.staged_root}/{step.src}"
    dst = f"{tx.prefix}/{step.dst}"
    if step.op == "move":
        fsops.rename_noreplace(src, dst)
    elif step.op in ("exchange", "rename"):
        distswap.do_step(tx.prefix, intent.staged_root, step)
    else:
        fsops.rename_over(src, dst)  # its backup link was made by _back_up


def move_all(tx: Transaction, intent: Intent) -> None:
    """Make every move; on failure undo what was done and raise."""
    try:
        _back_up(tx, intent)
        for step in intent.steps:
            _do_step(tx, intent, step)
    except OSError as e:
        roll_back(tx.prefix, intent, tx.journal)
        tx.journal.finish(intent.txid)
        if is_disk_full(e):
            where = Path(e.filename2 or e.filename or tx.prefix)
            raise DiskFull(where, what=f"merging {intent.package}") from e
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            path = os.path.relpath(e.filename2 or e.filename or "?", tx.prefix)
            raise PathTaken(intent.package, path) from e
        raise StoreError(
            f"{intent.package}: merge failed and was undone: {e}", path=e.filename
        ) from e
    root = str(tx.prefix)
    fsops.fsync_dirs({os.path.dirname(f"{root}/{s.dst}") for s in intent.steps})


def commit(
    tx: Transaction,
    intent: Intent,
    staged: StagedTree,
    meta: PackageMeta,
    plan: MergePlan,
    started: float,
) -> Record:
    """Write the record (the commit point), then finish: claims, old files, old record."""
    record = make_record(meta, plan, intent.txid, time.monotonic() - started)
    body = plan.body(staged)
    try:
        header = row_of(tx.records.write(record, body), record)
    except OSError as e:
        if not is_disk_full(e):
            raise  # the journal stays: the next command rolls back
        _undo(tx, intent)
        raise DiskFull(tx.records.directory, what=f"writing the record of {meta.name}") from e
    previous = old.files if (old := tx.old) is not None else ()
    try:
        tx.index.set_package_json(meta.name, body.files, previous, header)
    except DiskFull:
        _uncommit(tx, intent, record)
        raise
    finish_commit(tx.prefix, intent, tx.index, tx.records, tx.journal.txn_dir(intent.txid))
    tx.journal.finish(intent.txid)
    return record


def _undo(tx: Transaction, intent: Intent) -> None:
    """Roll back an uncommitted merge now (renames only: it needs no free space)."""
    roll_back(tx.prefix, intent, tx.journal)
    tx.journal.finish(intent.txid)


def _uncommit(tx: Transaction, intent: Intent, record: Record) -> None:
    """Take back a record whose claims could not be indexed (the disk is full), so the
    package is what it was before the merge; the index still holds the old claims.

    A reinstall of the same version replaced the old record: it is written back (that
    needs space again; if it fails, the journal stays and the next command rolls the
    merge forward, which is consistent too).
    """
    path = tx.records.path(record.name, record.version)
    if tx.old is not None and tx.old.version == record.version:
        try:
            tx.records.write(tx.old)
        except OSError as e:
            if is_disk_full(e):
                return
            raise
    else:
        fsops.unlink(path)
        fsops.fsync_dir(path.parent)
    _undo(tx, intent)


def _journal(tx: Transaction, intent: Intent) -> None:
    """Write the intent; on a full disk, leave nothing of it behind."""
    try:
        tx.journal.write(intent)
    except OSError as e:
        if not is_disk_full(e):
            raise
        tx.journal.finish(intent.txid)
        raise DiskFull(
            tx.journal.directory, what=f"journaling the merge of {intent.package}"
        ) from e


def run_merge(
    tx: Transaction,
    staged: StagedTree,
    meta: PackageMeta,
    plan: MergePlan,
    old: Record | None,
    started: float,
) -> Record:
    """Journal the intent, move, commit (call under the write lock, after planning)."""
    intent = make_intent(tx.prefix, staged, meta, plan, old)
    _journal(tx, intent)
    kept.stage(tx.journal.txn_dir(intent.txid), meta.kept)
    move_all(tx, intent)
    return commit(tx, intent, staged, meta, plan, started)
