"""The ownership index: SQLite (WAL) table of claims ``(path, package)``, and (schema 2)
the table of record headers (:mod:`mason.store.headers`).

Co-ownership is allowed (primary key is the pair). The index is derived data: the records
are the source of truth and :meth:`OwnerIndex.rebuild` recreates it from them. An index of
an older schema is rebuilt (under the write lock) the first time it is opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mason.errors import DiskFull, is_disk_full
from mason.store import fsops
from mason.store.headers import Cached, HeaderRow

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    path TEXT NOT NULL,
    package TEXT NOT NULL,
    PRIMARY KEY (path, package)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS headers (
    file TEXT PRIMARY KEY,
    package TEXT NOT NULL,
    identity TEXT NOT NULL,
    summary TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 2;
"""
_PUT_HEADER = "INSERT OR REPLACE INTO headers VALUES (?, ?, ?, ?)"


def _header_values(row: HeaderRow) -> tuple[str, str, str, str]:
    return (row.file, row.summary.name, row.identity, row.summary.encode())


def peek_headers(path: Path) -> Cached:
    """The headers table of the index file ``path``, read without a lock, writing nothing
    (empty when there is none, it is of an older schema, or cannot be read: the caller
    then reads the records).

    An ordinary connection, only read from: as the last one it closes, it removes the
    -wal and -shm files it made (a ``mode=ro`` one would leave them behind)."""
    if not path.exists() or not os.access(path.parent, os.W_OK):
        return {}  # a read-only prefix: even a reader of a WAL database writes its -shm
    try:
        db = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
    except sqlite3.Error:
        return {}
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            return {}
        rows = db.execute("SELECT file, identity, summary FROM headers")
        return {f: (i, s) for f, i, s in rows}
    except sqlite3.Error:
        return {}
    finally:
        db.close()


_INSERT_JSON = "INSERT INTO claims (path, package) SELECT value, ? FROM json_each(?)"


def _json_array(paths: Iterable[str]) -> bytes:
    """Sorted paths as a compact ASCII JSON array (what :data:`_INSERT_JSON` takes)."""
    return json.dumps(sorted(paths), separators=(",", ":")).encode("ascii")


class OwnerIndex:
    """Claims of every installed package, answering "who owns this path" fast."""

    def __init__(self, path: Path, *, read_only: bool = False, upgrade: bool = True) -> None:
        """``upgrade``: an index of an older schema is emptied to be rebuilt (``fresh``);
        without it (no write lock held) it is left alone and ``outdated``."""
        self.path = path
        self.fresh = not path.exists()
        self.outdated = False
        self.in_memory = read_only
        if read_only:
            # A prefix this process cannot write: an index in memory, which the caller fills
            # from the records (the file may be behind its -wal, which needs a writer).
            self.fresh = True
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._db.executescript(_SCHEMA)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path, isolation_level=None, timeout=60.0, check_same_thread=False
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as e:  # its -wal and -shm files cannot be made
            self._db.close()
            if is_full(e) or _no_room(path.parent):
                raise DiskFull(path, what="opening the ownership index") from e
            raise
        # FULL (the WAL is fsync'd at each commit), not NORMAL: the index is rebuilt from the
        # records only by `mason recover` or when missing, and a merge's journal entry (whose
        # presence makes the next command recover) is removed right after the claims commit.
        # Under NORMAL a power loss could keep that removal and lose the claims; nothing
        # would notice. FULL costs no measurable time on a 50,000-file merge.
        self._db.execute("PRAGMA synchronous=FULL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        if not upgrade and not self.fresh:
            self.outdated = True
            return
        # a new index, or one of schema 1 (claims only): rebuilt from the records
        self.fresh = True
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def owners(self, paths: Sequence[str]) -> dict[str, list[str]]:
        """Owners of each path (sorted; empty list for an unclaimed path)."""
        out: dict[str, list[str]] = {p: [] for p in paths}
        cur = self._db.cursor()
        for p in paths:
            rows = cur.execute("SELECT package FROM claims WHERE path = ?", (p,)).fetchall()
            out[p] = sorted(r[0] for r in rows)
        return out

    def owners_of(self, path: str) -> list[str]:
        """Owners of one path."""
        rows = self._db.execute("SELECT package FROM claims WHERE path = ?", (path,))
        return sorted(r[0] for r in rows)

    def paths_of(self, package: str) -> set[str]:
        rows = self._db.execute("SELECT path FROM claims WHERE package = ?", (package,))
        return {r[0] for r in rows}

    def set_package(
        self,
        package: str,
        paths: Iterable[str],
        previous: Iterable[str] | None = None,
        header: HeaderRow | None = None,
    ) -> None:
        """Replace the claims of ``package`` with ``paths`` in one transaction.

        ``previous`` (the paths of its old record) makes this fast: without it, the old
        claims are found by a scan of the table (there is deliberately no index on
        ``package``: it would double the cost of recording a 50,000-file merge).
        """
        self.set_package_json(package, _json_array(paths), previous, header)

    def set_package_json(
        self,
        package: str,
        paths_json: bytes,
        previous: Iterable[str] | None = None,
        header: HeaderRow | None = None,
    ) -> None:
        """:meth:`set_package` with the paths given as a JSON array of strings (the
        ``files`` of a record, encoded by the scan): SQLite splits it itself, no Python
        call per row.

        The package's header rows go in the same transaction: replaced by ``header`` (the
        row of the record just written), or dropped (read again from the record when next
        needed)."""
        with self._transaction():
            self._db.execute("DELETE FROM headers WHERE package = ?", (package,))
            if header is not None:
                self._db.execute(_PUT_HEADER, _header_values(header))
            if previous is None:
                self._db.execute("DELETE FROM claims WHERE package = ?", (package,))
            else:
                self._db.executemany(
                    "DELETE FROM claims WHERE path = ? AND package = ?",
                    ((p, package) for p in previous),
                )
            self._db.execute(_INSERT_JSON, (package, paths_json.decode("ascii")))
        fsops.note("index", package=package, paths=paths_json.decode("ascii"))

    def drop_package(self, package: str) -> None:
        self.set_package(package, ())

    def rebuild(
        self, claims: Mapping[str, Iterable[str]], headers: Iterable[HeaderRow] = ()
    ) -> None:
        """Recreate the whole index from ``{package: paths}`` and the header rows (the
        records)."""
        with self._transaction():
            self._db.execute("DELETE FROM claims")
            self._db.execute("DELETE FROM headers")
            for package, paths in claims.items():
                self._db.execute(_INSERT_JSON, (package, _json_array(paths).decode("ascii")))
            self._db.executemany(_PUT_HEADER, (_header_values(r) for r in headers))

    def header_rows(self) -> Cached:
        """The headers table: record file -> (identity, encoded summary)."""
        rows = self._db.execute("SELECT file, identity, summary FROM headers")
        return {f: (i, s) for f, i, s in rows}

    def put_headers(self, rows: Iterable[HeaderRow]) -> None:
        """Store rows read again from their records (stale or missing ones)."""
        with self._transaction():
            self._db.executemany(_PUT_HEADER, (_header_values(r) for r in rows))

    def claimed_paths(self) -> set[str]:
        """Every claimed path."""
        return {r[0] for r in self._db.execute("SELECT DISTINCT path FROM claims")}

    def packages(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT DISTINCT package FROM claims")}

    def _transaction(self) -> _Txn:
        return _Txn(self._db, self.path)


def _no_room(directory: Path) -> bool:
    st = os.statvfs(directory)
    return st.f_bavail == 0 or (st.f_files > 0 and st.f_favail == 0)


def is_full(error: BaseException) -> bool:
    """SQLite's "database or disk is full" (``SQLITE_FULL``), or ENOSPC/EDQUOT."""
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return is_disk_full(error)


class _Txn:
    """One write transaction; a full disk rolls it back (the index is as before) and
    raises :class:`DiskFull`."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error as e:
                exc = e  # a failed COMMIT leaves the transaction open: roll it back
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        if is_full(exc):
            raise DiskFull(self.path, what="updating the ownership index") from exc
        if exc_type is None:
            raise exc
