"""The index's table of record headers (schema 2): it answers what every record says
without reading the records, follows every change of a package in the transaction of its
claims, and never says what the records do not (a stale row is read again; an index of
schema 1 is rebuilt)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mason.commands.query import installed_state
from mason.layout import INDEX_FILE, RECORDS_DIR
from mason.store import Prefix, Summary, read_headers
from mason.store.headers import current
from mason.store.index import peek_headers
from mason.store.records import RecordStore
from upgradesupport import merge


def _rows(root: Path) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(root / INDEX_FILE)
    try:
        return {f: (p, s) for f, p, s in db.execute("SELECT file, package, summary FROM headers")}
    finally:
        db.close()


def _summaries(root: Path) -> dict[str, Summary]:
    prefix = Prefix(root)
    try:
        return prefix.summaries()
    finally:
        prefix.close()


def _from_records(root: Path) -> dict[str, Summary]:
    store = RecordStore(root / RECORDS_DIR)
    return {n: Summary.of(r) for n, r in store.all().items()}


def test_a_merge_writes_the_header_row_and_an_upgrade_replaces_it(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1", "share/a/x": "x"})
    merge(root, "pkgb", "2", {"bin/b": "2"})
    assert set(_rows(root)) == {"pkga-1", "pkgb-2"}
    merge(root, "pkga", "3", {"bin/a": "3"})
    rows = _rows(root)
    assert set(rows) == {"pkga-3", "pkgb-2"}  # the old version's row went with its claims
    assert json.loads(rows["pkga-3"][1])["files"] == 1
    assert _summaries(root) == _from_records(root)


def test_an_uninstall_drops_the_row(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1"})
    merge(root, "pkgb", "1", {"bin/b": "1"})
    prefix = Prefix(root)
    try:
        prefix.uninstall("pkga")
    finally:
        prefix.close()
    assert set(_rows(root)) == {"pkgb-1"}
    assert set(_summaries(root)) == {"pkgb"}


def test_a_record_changed_behind_the_index_is_read_again_and_its_row_rewritten(
    tmp_path: Path,
) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1"})
    path = root / RECORDS_DIR / "pkga-1"
    data = json.loads(path.read_bytes())
    data["dependencies"] = {"zlib": "1.3"}
    path.write_text(json.dumps(data))  # not through the store: the row is now stale
    assert _summaries(root)["pkga"].dependencies == {"zlib": "1.3"}
    assert json.loads(_rows(root)["pkga-1"][1])["dependencies"] == {"zlib": "1.3"}
    assert read_headers([root])["pkga"].version == "1"


def test_a_record_without_a_row_is_read_and_the_planner_sees_it(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1"})
    records = root / RECORDS_DIR
    copy = json.loads((records / "pkga-1").read_bytes())
    copy["package_name"] = "pkgc"
    (records / "pkgc-1").write_text(json.dumps(copy))
    assert installed_state(root)["pkgc"].version == "1"  # lock-free: reads it, writes nothing
    assert "pkgc-1" not in _rows(root)
    assert set(_summaries(root)) == {"pkga", "pkgc"}
    assert "pkgc-1" in _rows(root)


def test_an_index_of_schema_1_is_rebuilt_with_its_headers(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1"})
    merge(root, "pkgb", "1", {"bin/b": "1"})
    db = sqlite3.connect(root / INDEX_FILE)
    db.execute("DROP TABLE headers")
    db.execute("DELETE FROM claims WHERE package = 'pkgb'")  # shows that it was rebuilt
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    assert read_headers([root])["pkgb"].version == "1"  # the old index is not trusted
    prefix = Prefix(root)
    try:
        assert prefix.owner(["bin/b"]) == {"bin/b": ["pkgb"]}
        assert set(prefix.summaries()) == {"pkga", "pkgb"}
    finally:
        prefix.close()
    assert set(_rows(root)) == {"pkga-1", "pkgb-1"}
    db = sqlite3.connect(root / INDEX_FILE)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_rows_agree_with_the_records_they_stand_for(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1", "lib/a.so": "so"})
    store = RecordStore(root / RECORDS_DIR)
    cached = {f: (i, s) for f, (_, s) in _rows(root).items() for i in [""]}
    found, stale = current(store.directory, cached, store.read)  # identities all wrong
    assert [r.file for r in stale] == ["pkga-1"]
    assert found == _from_records(root)


def test_the_planner_reads_the_table_without_a_lock_from_a_relative_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "1", {"bin/a": "1"})
    monkeypatch.chdir(tmp_path)
    assert set(peek_headers(Path("p") / INDEX_FILE)) == {"pkga-1"}
    assert read_headers([Path("p")])["pkga"].version == "1"
