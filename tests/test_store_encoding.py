"""The record file and the owner index of a merge, whose file entries the scan encodes.

The scan encodes the record body of a tree claimed as staged (outside the lock); a plan that
claims other paths (a followed ``lib64 -> lib``) or other content (a co-owned namespace
``__init__.py``) encodes its own. Either way the file on disk must be exactly the record's
JSON, and the index must hold exactly its paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mason.store import CollisionError, Prefix, Record
from mason.store.records import RecordStore
from storesupport import NAMESPACE_INIT, Link, Spec, install, tree_digest

SITE = "lib/python3.11/site-packages"
# Sorted as strings, "a b" < "a/" < "a.x" but a depth-first walk gives a/..., "a b", "a.x".
ODD: Spec = {
    "share/odd/a/z": "1",
    "share/odd/a b": "2",
    "share/odd/a.x": "3",
    "share/odd/!": "4",
    "share/odd/é ü": "5",
    "share/odd/emoji-\U0001f600": "6",
    'share/odd/quote"back\\slash': "7",
    "share/odd/tab\there": "8",
    "share/odd/link": Link("a.x"),
}


def reference_bytes(record: Record) -> bytes:
    """The record file as plain ``json.dumps`` writes it: file_info, files, then the
    other keys sorted; compact, ASCII."""
    data = record.to_json()
    paths = data["files"]
    ordered = {
        "file_info": {p: dict(sorted(data["file_info"][p].items())) for p in paths},
        "files": paths,
        **{k: v for k, v in sorted(data.items()) if k not in ("file_info", "files")},
    }
    for key in ("dependencies", "timings"):
        ordered[key] = dict(sorted(ordered[key].items()))  # type: ignore[attr-defined]
    return json.dumps(ordered, separators=(",", ":")).encode("ascii")


def check_written(prefix: Path, record: Record) -> None:
    path = RecordStore(prefix / "var/lib/mason/installed").path(record.name, record.version)
    on_disk = path.read_bytes()
    assert on_disk == reference_bytes(record)
    assert json.loads(on_disk)["files"] == sorted(record.files)
    p = Prefix(prefix)
    try:
        owners = p.owner(list(record.files))
        assert {f: record.name in o for f, o in owners.items()} == dict.fromkeys(record.files, True)
        assert p.recover().index_rebuilt  # the index rebuilt from the records agrees
        assert p.owner(list(record.files)) == owners
    finally:
        p.close()


@pytest.mark.parametrize("layout", ["new-dir", "into-existing-dir"])
def test_odd_names_are_recorded_sorted_and_claimed(tmp_path: Path, layout: str) -> None:
    p = tmp_path / "p"
    if layout == "into-existing-dir":
        install(p, "base", "1", {"share/odd/base": "b"})
    rec = install(p, "odd", "1", ODD)
    assert sorted(rec.files) == sorted(ODD)
    check_written(p, rec)


def test_followed_directory_symlink_records_canonical_paths(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"lib/liba.so": "a", "lib64": Link("lib")})
    rec = install(p, "b", "1", {"lib64/b/libb.so": "b", "lib64/libc.so": "c", "bin/b": "b"})
    assert sorted(rec.files) == ["bin/b", "lib/b/libb.so", "lib/libc.so"]
    check_written(p, rec)


def test_co_owned_namespace_records_the_content_that_stays(tmp_path: Path) -> None:
    p = tmp_path / "p"
    init = f"{SITE}/zope/__init__.py"
    first = "# zope namespace\n" + NAMESPACE_INIT
    install(p, "a", "1", {init: first})
    rec = install(p, "b", "1", {init: NAMESPACE_INIT + "# b\n", f"{SITE}/zope/b/x.py": "x"})
    assert rec.files[init].size == len(first)
    check_written(p, rec)


def test_upgrade_moves_claims_to_the_new_record(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"share/a/old": "1", "share/a/both": "1"})
    rec = install(p, "a", "2", {"share/a/both": "2", "share/a/new": "2"})
    check_written(p, rec)
    prefix = Prefix(p)
    try:
        assert prefix.owner(["share/a/old"]) == {"share/a/old": []}
    finally:
        prefix.close()


@pytest.mark.parametrize("name", ["foo", "foo.so"])
def test_one_path_staged_twice_through_a_followed_symlink_is_a_conflict(
    tmp_path: Path, name: str
) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"lib/liba.so": "a", "lib64": Link("lib")})
    spec: Spec = {f"lib/{name}": "1", f"lib64/{name}": "2"}
    if name == "foo":  # a new directory moved in whole, twice
        spec = {"lib/foo/x": "1", "lib64/foo/x": "2", "lib/foo/y": "1"}
    before = tree_digest(p)
    with pytest.raises(CollisionError) as info:
        install(p, "b", "1", spec)
    assert [(c.kind, c.path) for c in info.value.conflicts] == [
        ("duplicate", f"lib/{'foo/x' if name == 'foo' else name}")
    ]
    assert tree_digest(p) == before


def test_a_file_entry_is_encoded_as_json_dumps_would() -> None:
    from mason.store.records import FileInfo

    for info in (FileInfo("file", "0f" * 32, 0), FileInfo("file", "ab" * 32, 123456789)):
        assert info.encoded == json.dumps(info.to_json(), sort_keys=True, separators=(",", ":"))
