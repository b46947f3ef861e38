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

from mason.store import distswap, fsops
from mason.store.errors import CollisionError, Conflict, StoreError
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
    stale = tuple(sorted(set(old.files) - set(plan.claims))) if old else ()
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


def _do_step(tx: Transaction, intent: Intent, step: Step) -> None:
    src = f"{intent.staged_root}/{step.src}"
    dst = f"{tx.prefix}/{step.dst}"
    if step.op == "move":
        fsops.rename_noreplace(src, dst)
        return
    if step.op in ("exchange", "rename"):
        distswap.do_step(tx.prefix, intent.staged_root, step)
        return
    assert step.backup is not None
    # Keep the old inode reachable first, so the path is never missing and can be restored.
    fsops.link(dst, f"{tx.journal.txn_dir(intent.txid)}/{step.backup}")
    fsops.rename_over(src, dst)


def move_all(tx: Transaction, intent: Intent) -> None:
    """Make every move; on failure undo what was done and raise."""
    try:
        for step in intent.steps:
            _do_step(tx, intent, step)
    except OSError as e:
        roll_back(tx.prefix, intent, tx.journal)
        tx.journal.finish(intent.txid)
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
    tx.records.write(record, body)
    previous = old.files if (old := tx.old) is not None else ()
    tx.index.set_package_json(meta.name, body.files, previous)
    finish_commit(tx.prefix, intent, tx.index, tx.records)
    tx.journal.finish(intent.txid)
    return record


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
    tx.journal.write(intent)
    move_all(tx, intent)
    return commit(tx, intent, staged, meta, plan, started)
