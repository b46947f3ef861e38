"""The power-cut model of the crash tests (no tests here; ``docs/merge.md`` explains it).

A merge runs once with ``MASON_TEST_POWER_LOG`` set: :mod:`mason.store.fsops` logs every
operation and every fsync. For each crash point n (after the nth logged operation), the
operations not yet made durable by a later fsync are :func:`pending`; a power cut may
lose any of them, within what the filesystem's model allows (:func:`lost_sets`):

* ``ext4-ordered`` (ext4 ``data=ordered``, the default): metadata operations reach the
  disk in the order they were made (one journal; an fsync commits everything before it),
  so what is lost is a suffix of the pending operations;
* ``weak`` (what POSIX promises, and close to what ALICE found for other filesystems):
  each pending operation may be lost on its own, except that an operation depending on a
  lost one (a later operation on a name it made or removed, or below it) is lost too.

An operation is durable once a later ``fsync`` covers it: a directory's fsync covers the
entries made or removed in it (a rename, atomic, by either of its directories), a file's
fsync its data, ``syncfs`` everything. SQLite's commit (``index``) fsyncs its WAL itself.
:func:`replay` rebuilds a state on a copy of the prefix taken before the merge.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mason.store.index import OwnerIndex

Model = Literal["ext4-ordered", "weak"]
SYNCS = ("fsync", "fsync_dir", "syncfs")


@dataclass(frozen=True)
class Op:
    number: int
    kind: str
    fields: dict[str, str] = field(hash=False, compare=False)

    def changes(self) -> tuple[str, ...]:
        """The names the operation makes or removes."""
        if self.kind == "rename":
            return (self.fields["src"], self.fields["dst"])
        if self.kind == "link":
            return (self.fields["dst"],)
        if self.kind == "index":
            return ("<index>",)
        return (self.fields["path"],) if self.kind not in SYNCS else ()

    def needs(self) -> tuple[str, ...]:
        """The names it reads or changes: it cannot persist without what made them."""
        if self.kind == "link":
            return (self.fields["src"], self.fields["dst"])
        return self.changes()

    def entry_dirs(self) -> tuple[str, ...]:
        """The directories whose fsync makes it durable."""
        if self.kind == "rename":
            return (os.path.dirname(self.fields["src"]), os.path.dirname(self.fields["dst"]))
        if self.kind == "link":
            return (os.path.dirname(self.fields["dst"]),)
        return (os.path.dirname(self.fields["path"]),)


def read_log(path: Path) -> list[Op]:
    ops = []
    for i, line in enumerate(path.read_text().splitlines()):
        data = json.loads(line)
        kind = data.pop("op")
        ops.append(Op(i, kind, data))
    return ops


def _covers(sync: Op, op: Op) -> bool:
    if sync.kind == "syncfs":
        return True
    if sync.kind == "fsync":
        return False  # file data: mason fsyncs each file right after writing it
    return sync.fields["path"] in op.entry_dirs()


def pending(ops: list[Op], n: int, model: Model) -> list[Op]:
    """Operations among the first ``n`` that a power cut after them may lose."""
    done = ops[:n]
    if model == "ext4-ordered":
        last = max((o.number for o in done if o.kind in SYNCS or o.kind == "index"), default=-1)
        return [o for o in done if o.number > last and o.kind not in SYNCS]
    out = []
    for i, op in enumerate(done):
        if op.kind in SYNCS or op.kind == "index":
            continue
        if not any(s.kind in SYNCS and _covers(s, op) for s in done[i + 1 :]):
            out.append(op)
    return out


def _below(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def _close(ops: list[Op], lost: set[int]) -> frozenset[int]:
    """Add every later operation that depends on a lost one."""
    out = set(lost)
    for op in ops:
        if op.number in out or op.kind in SYNCS:
            continue
        earlier = [o for o in ops if o.number in out and o.number < op.number]
        if any(_below(p, q) for o in earlier for p in op.needs() for q in o.changes()):
            out.add(op.number)
    return frozenset(out)


def lost_sets(
    ops: list[Op], n: int, model: Model, limit: int, rng: random.Random
) -> Iterator[frozenset[int]]:
    """The distinct sets of operations a power cut after op ``n`` may lose (at most
    ``limit``; beyond it, every suffix, every single loss and random subsets)."""
    pend = pending(ops, n, model)
    numbers = [o.number for o in pend]
    if model == "ext4-ordered":
        candidates = [set(numbers[k:]) for k in range(len(numbers) + 1)]
    elif 2 ** len(numbers) <= limit:
        candidates = [
            {x for j, x in enumerate(numbers) if mask >> j & 1} for mask in range(2 ** len(numbers))
        ]
    else:
        candidates = [set(numbers[k:]) for k in range(len(numbers) + 1)]
        candidates += [{x} for x in numbers]
        while len(candidates) < limit:
            candidates.append({x for x in numbers if rng.random() < 0.5})
    seen: set[frozenset[int]] = set()
    for lost in candidates:
        closed = _close(ops[:n], lost)
        if closed not in seen:
            seen.add(closed)
            yield closed


def replay(ops: list[Op], n: int, lost: frozenset[int], index: Path) -> int:
    """Apply the first ``n`` operations but the lost ones; returns how many could not be
    applied (a dependency the closure did not see)."""
    failed = 0
    for op in ops[:n]:
        if op.number in lost or op.kind in SYNCS:
            continue
        try:
            _apply(op, index)
        except OSError:
            failed += 1
    return failed


def _apply(op: Op, index: Path) -> None:
    f = op.fields
    if op.kind == "rename":
        os.rename(f["src"], f["dst"])
    elif op.kind == "link":
        os.link(f["src"], f["dst"], follow_symlinks=False)
    elif op.kind == "unlink":
        os.unlink(f["path"])
    elif op.kind == "rmdir":
        os.rmdir(f["path"])
    elif op.kind == "mkdir":
        os.makedirs(f["path"], exist_ok=True)
    elif op.kind == "rmtree":
        import shutil

        shutil.rmtree(f["path"]) if os.path.isdir(f["path"]) else os.unlink(f["path"])
    elif op.kind == "write":
        Path(f["path"]).write_bytes(base64.b64decode(f["data"]))
    elif op.kind == "index":
        db = OwnerIndex(index)
        try:
            db.set_package_json(f["package"], f["paths"].encode())
        finally:
            db.close()
    else:
        raise AssertionError(f"unknown operation {op.kind}")
