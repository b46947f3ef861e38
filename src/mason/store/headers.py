"""Record headers kept in the ownership index (index schema 2): what ``list --installed``,
``plan``, ``verify PKG`` and ``uninstall`` need of every record, without parsing each
record's list of files.

A row is keyed by the record file's name and holds that file's identity (inode, size,
mtime and ctime). The records stay the source of truth: a row whose file changed, or a
record file without a row, is read from the file itself (and the row rewritten, under the
write lock). A merge, uninstall, recovery or pip rewrite changes a package's rows in the
transaction that changes its claims.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from mason.store.errors import RecordUnreadable
from mason.store.outside import Outside, OutsideJSON
from mason.store.records import Record, RecordHeader, newest_by_name, read_header


class HasDependencies(Protocol):
    @property
    def dependencies(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Summary:
    """A record without its files: its header and how many files it lists."""

    name: str
    version: str
    kind: str
    install_date: str
    installed_at: float
    files: int
    recipe_hash: str | None = None
    dependencies: Mapping[str, str] = field(default_factory=dict)
    outside: Outside | None = None

    @classmethod
    def of(cls, r: Record) -> Summary:
        return cls(
            r.name,
            r.version,
            r.kind,
            r.install_date,
            r.installed_at,
            len(r.files),
            r.recipe_hash,
            dict(r.dependencies),
            r.outside,
        )

    def encode(self) -> str:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "install_date": self.install_date,
            "installed_at": self.installed_at,
            "files": self.files,
            "recipe_hash": self.recipe_hash,
            "dependencies": dict(self.dependencies),
        }
        if self.outside is not None:
            data["outside"] = self.outside.to_json()
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Summary:
        d = json.loads(text)
        out = d.get("outside")
        return cls(
            d["name"],
            d["version"],
            d["kind"],
            d["install_date"],
            float(d["installed_at"]),
            int(d["files"]),
            d["recipe_hash"],
            d["dependencies"],
            Outside.from_json(cast(OutsideJSON, out)) if out else None,
        )


def identity(st: os.stat_result) -> str:
    """What tells a record file from its next version (a rewrite is a new inode)."""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


@dataclass(frozen=True)
class HeaderRow:
    """One row of the headers table."""

    file: str  # the record file's name
    identity: str
    summary: Summary


def row_of(path: Path, record: Record) -> HeaderRow:
    """The row of the record file ``path`` just written for ``record``."""
    return HeaderRow(path.name, identity(os.stat(path)), Summary.of(record))


Cached = Mapping[str, tuple[str, str]]  # file -> (identity, encoded summary)


def _record_files(directory: Path) -> Iterable[tuple[str, os.stat_result]]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for fn in names:
        if fn.startswith("."):
            continue  # a temporary of an atomic write
        try:
            yield fn, os.stat(directory / fn)
        except FileNotFoundError:
            continue


def current(
    directory: Path, cached: Cached, read: Callable[[Path], Record]
) -> tuple[dict[str, Summary], list[HeaderRow]]:
    """Every record's summary, by package name (the newest install of two), and the rows
    that were missing or stale (read from the record files with ``read``)."""
    found: list[Summary] = []
    stale: list[HeaderRow] = []
    for fn, st in _record_files(directory):
        ident = identity(st)
        row = cached.get(fn)
        if row is not None and row[0] == ident:
            found.append(Summary.decode(row[1]))
            continue
        summary = Summary.of(read(directory / fn))
        found.append(summary)
        stale.append(HeaderRow(fn, ident, summary))
    return newest_by_name((s.name, s.installed_at, s) for s in found), stale


def headers_of(directory: Path, cached: Cached) -> dict[str, RecordHeader]:
    """:class:`RecordHeader` of every record file (the rows that match their file; the
    others, records of other tools with SageMath's keys too, read leniently)."""
    found: list[RecordHeader] = []
    for fn, st in _record_files(directory):
        row = cached.get(fn)
        if row is not None and row[0] == identity(st):
            s = Summary.decode(row[1])
            when = s.installed_at or st.st_mtime
            found.append(RecordHeader(s.name, s.version, s.recipe_hash, when, s.outside))
            continue
        try:
            found.append(read_header(directory / fn))
        except RecordUnreadable:
            if (directory / fn).exists():
                raise
    return newest_by_name((h.name, h.installed_at, h) for h in found)


def read_headers(roots: Iterable[Path]) -> dict[str, RecordHeader]:
    """The record headers of the stores rooted at ``roots`` (the prefix, and a venv apart
    from it), read without locks and without writing anything, by name
    (:func:`newest_by_name` of two)."""
    from mason.layout import INDEX_FILE, RECORDS_DIR
    from mason.store.index import peek_headers

    found = (headers_of(root / RECORDS_DIR, peek_headers(root / INDEX_FILE)) for root in roots)
    return newest_by_name((h.name, h.installed_at, h) for part in found for h in part.values())


def read_records(
    directory: Path, read: Callable[[Path], Record]
) -> tuple[dict[str, Record], list[HeaderRow]]:
    """Every record (by name, the newest install of two) and the header row of each file:
    what rebuilding the index needs."""
    records: list[Record] = []
    rows: list[HeaderRow] = []
    for fn, st in _record_files(directory):
        record = read(directory / fn)
        records.append(record)
        rows.append(HeaderRow(fn, identity(st), Summary.of(record)))
    return newest_by_name((r.name, r.installed_at, r) for r in records), rows
