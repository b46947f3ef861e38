"""Removing an installed package (SPEC 8), journaled like a merge.

The record's removal is the commit point: before it, nothing was removed; after it, the
files are removed (recovery finishes that). Co-owned files stay; files changed since the
install stay, and the result says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mason.errors import BadInput
from mason.layout import is_compat_link
from mason.store import fsops
from mason.store.headers import HasDependencies
from mason.store.index import OwnerIndex
from mason.store.journal import Intent, Journal
from mason.store.records import Record, RecordStore
from mason.store.recover import finish_uninstall
from mason.store.verify import check_file


@dataclass(frozen=True)
class UninstallReport:
    """What an uninstall did: files removed, kept as co-owned, kept as changed by the user."""

    package: str
    version: str
    removed: tuple[str, ...]
    shared: tuple[str, ...]
    modified: tuple[str, ...]


class PackageInUse(BadInput):
    """Other installed packages depend on the one to remove."""

    def __init__(self, package: str, dependents: list[str]) -> None:
        self.package = package
        self.dependents = tuple(dependents)
        super().__init__(
            f"{package}: needed by installed package(s) {', '.join(dependents)}",
            hint="uninstall those first, or force it",
        )


def check_unused(names: Sequence[str], records: Mapping[str, HasDependencies]) -> None:
    """Raise :class:`PackageInUse` when installed packages other than ``names`` depend on
    some of them (naming those and every such user)."""
    outside = {u: r for u, r in records.items() if u not in names}
    users = sorted(u for u, r in outside.items() if any(n in r.dependencies for n in names))
    if users:
        needed = [n for n in names if any(n in records[u].dependencies for u in users)]
        raise PackageInUse(", ".join(needed), users)


def sort_out(prefix: Path, record: Record, index: OwnerIndex) -> UninstallReport:
    """Split the record's files into removable, co-owned and user-modified."""
    removed: list[str] = []
    shared: list[str] = []
    modified: list[str] = []
    for rel, info in sorted(record.files.items()):
        if is_compat_link(rel, info.target):
            continue  # claimed by records of older mason versions; it stays, unreported
        if any(o != record.name for o in index.owners_of(rel)):
            shared.append(rel)
            continue
        why = check_file(prefix / rel, info)
        if why is None:
            removed.append(rel)
        elif why != "missing":
            modified.append(rel)
    # deepest first, so a directory's files go before the directory is pruned
    removed.sort(key=lambda p: (-p.count("/"), p))
    return UninstallReport(
        record.name, record.version, tuple(removed), tuple(shared), tuple(modified)
    )


def uninstall(
    prefix: Path,
    record: Record,
    *,
    journal: Journal,
    records: RecordStore,
    index: OwnerIndex,
    users: Mapping[str, HasDependencies] | None,
) -> UninstallReport:
    """Remove ``record``'s package (call under the write lock), unless a package of
    ``users`` (every installed one; ``None``: forced) depends on it."""
    if users is not None:
        check_unused([record.name], users)
    report = sort_out(prefix, record, index)
    intent = Intent(
        uuid.uuid4().hex, record.name, record.version, None, prefix, (), report.removed, "uninstall"
    )
    journal.write(intent)
    record_path = records.path(record.name, record.version)
    fsops.unlink(record_path)  # the commit point
    fsops.fsync_dir(record_path.parent)
    finish_uninstall(prefix, intent, index, records, record.files)
    journal.finish(intent.txid)
    return report
