"""The write-ahead journal: a durable statement of intent, written before the first move.

One JSON file per transaction in ``var/lib/mason/journal/<txid>.json``. It lists every move
the merge is going to make (and where the replaced inode is backed up), the files the old
version had that the new one drops, and which record commits the transaction. After a
crash, :mod:`mason.store.recover` reads it and rolls back or forward without guessing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

from mason.store import fsops
from mason.store.errors import StoreError

StepOp = Literal["move", "replace", "write", "exchange", "rename"]
Action = Literal["merge", "uninstall", "records"]


class StepJSON(TypedDict):
    op: StepOp
    src: str
    dst: str
    backup: str | None


class IntentJSON(TypedDict):
    journal_format: int
    action: Action
    txid: str
    package: str
    version: str
    old_version: str | None
    staged_root: str
    steps: list[StepJSON]
    stale: list[str]
    kept: NotRequired[list[str] | None]


@dataclass(frozen=True)
class Step:
    """Move ``src`` (relative to the staging root) to ``dst`` (relative to the prefix).

    ``move`` takes a free path (no-replace); ``replace`` first hard-links the old inode to
    ``backup`` (inside the transaction directory), then renames over it. ``write`` (action
    ``records``) renames a bookkeeping file written into the transaction directory over
    ``dst`` (:mod:`mason.store.rewrite`). ``exchange`` and ``rename`` replace another
    distribution's dist-info directory (:mod:`mason.store.distswap`).
    """

    op: StepOp
    src: str
    dst: str
    backup: str | None = None


@dataclass(frozen=True)
class Intent:
    """Everything a merge is about to do to the prefix."""

    txid: str
    package: str
    version: str
    old_version: str | None
    staged_root: Path
    steps: tuple[Step, ...]
    stale: tuple[str, ...]  # files to remove once committed
    action: Action = "merge"
    #: the files kept with the record (mason.store.kept), staged in the transaction
    #: directory; ``None``: the kept files are left as they are
    kept: tuple[str, ...] | None = None

    def to_json(self) -> IntentJSON:
        return {
            "journal_format": 1,
            "action": self.action,
            "txid": self.txid,
            "package": self.package,
            "version": self.version,
            "old_version": self.old_version,
            "staged_root": str(self.staged_root),
            "steps": [
                {"op": s.op, "src": s.src, "dst": s.dst, "backup": s.backup} for s in self.steps
            ],
            "stale": list(self.stale),
            "kept": None if self.kept is None else list(self.kept),
        }

    @classmethod
    def from_json(cls, d: IntentJSON) -> Intent:
        steps = tuple(Step(s["op"], s["src"], s["dst"], s["backup"]) for s in d["steps"])
        return cls(
            d["txid"],
            d["package"],
            d["version"],
            d["old_version"],
            Path(d["staged_root"]),
            steps,
            tuple(d["stale"]),
            d["action"],
            None if (kept := d.get("kept")) is None else tuple(kept),
        )


class Journal:
    """The journal directory and the per-transaction backup directories."""

    def __init__(self, directory: Path, txn_root: Path) -> None:
        self.directory = directory
        self.txn_root = txn_root

    def txn_dir(self, txid: str) -> Path:
        return self.txn_root / txid

    def write(self, intent: Intent) -> None:
        """Durably record ``intent`` (must happen before the first move)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fsops.makedirs(self.txn_dir(intent.txid))
        fsops.fsync_dir(self.txn_root)
        data = json.dumps(intent.to_json(), separators=(",", ":")).encode()
        fsops.write_atomic(self.directory / f"{intent.txid}.json", data)

    def pending(self) -> list[Intent]:
        """Intents of transactions that have not finished (oldest name first)."""
        if not self.directory.is_dir():
            return []
        out = []
        for fn in sorted(os.listdir(self.directory)):
            if fn.endswith(".json") and not fn.startswith("."):
                out.append(self._read(self.directory / fn))
        return out

    def has_pending(self) -> bool:
        """Anything left by an unfinished transaction (entries, temporaries, backups)."""
        for d in (self.directory, self.txn_root):
            try:
                if os.listdir(d):
                    return True
            except FileNotFoundError:
                continue
        return False

    def _read(self, path: Path) -> Intent:
        try:
            return Intent.from_json(json.loads(path.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"{path}: unreadable journal entry: {e}", path=str(path)) from e

    def finish(self, txid: str) -> None:
        """Forget a transaction: its backups, then its journal entry (last)."""
        txn = self.txn_dir(txid)
        if txn.exists():
            fsops.rmtree(txn)
        entry = self.directory / f"{txid}.json"
        if entry.exists():
            fsops.unlink(entry)
            fsops.fsync_dir(self.directory)

    def remove_temporaries(self) -> None:
        """Half-written journal entries and transaction directories without an entry.

        Both come from a crash before the intent was durable, so nothing was moved yet.
        """
        if self.directory.is_dir():
            for fn in os.listdir(self.directory):
                if fn.startswith("."):
                    fsops.unlink(self.directory / fn)
        if self.txn_root.is_dir():
            for txid in os.listdir(self.txn_root):
                if not (self.directory / f"{txid}.json").exists():
                    fsops.rmtree(self.txn_root / txid)
