"""The removal scripts the store keeps with a record (``PackageMeta.kept``): written in the
merge's transaction, replaced by an upgrade, removed with the record, and after a crash at
any point of an upgrade exactly those of the version the record says."""

from __future__ import annotations

from pathlib import Path

import pytest

from mason.errors import BadInput
from mason.layout import SCRIPTS_DIR
from mason.store import PackageMeta, Prefix
from storesupport import make_tree, tree_digest
from upgradesupport import Operation, kill_at_every_op, merge

OLD = {"spkg-postrm.in": b"echo old postrm\n"}
NEW = {"spkg-prerm.in": b"echo new prerm\n"}


def kept(root: Path, name: str = "pkga") -> dict[str, bytes]:
    where = root / SCRIPTS_DIR / name
    return {p.name: p.read_bytes() for p in where.iterdir()} if where.is_dir() else {}


def merge_kept(
    root: Path, version: str, files: dict[str, bytes], scripts: dict[str, bytes]
) -> None:
    p = Prefix(root)
    try:
        staged = make_tree(p.staging_dir("pkga"), {k: v for k, v in files.items()})
        p.merge(p.scan(staged, "pkga"), PackageMeta("pkga", version, kept=scripts))
    finally:
        p.close()


def test_kept_files_follow_the_record(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge_kept(root, "1", {"bin/a": b"1"}, OLD)
    assert kept(root) == OLD
    merge_kept(root, "2", {"bin/a": b"2"}, NEW)
    assert kept(root) == NEW
    merge_kept(root, "3", {"bin/a": b"3"}, {})
    assert kept(root) == {}
    merge_kept(root, "4", {"bin/a": b"4"}, OLD)
    Prefix(root).uninstall("pkga")
    assert not (root / SCRIPTS_DIR / "pkga").exists()


def test_a_kept_file_name_with_a_slash_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "other", "1", {"bin/other": "o"})
    before = tree_digest(root)
    with pytest.raises(BadInput, match="kept file"):
        merge_kept(root, "1", {"bin/a": b"1"}, {"../escape": b"x"})
    assert tree_digest(root) == before


def test_kill_at_every_op_of_an_upgrade_keeps_the_scripts_of_the_record(tmp_path: Path) -> None:
    def setup(root: Path) -> None:
        merge(root, "other", "1", {"bin/other": "o"})
        merge_kept(root, "1", {"bin/a": b"1", "share/a/old": b"old"}, OLD)

    staged = make_tree(tmp_path / "staged", {"bin/a": b"2", "share/a/new": b"new"})

    def upgrade(root: Path) -> None:
        p = Prefix(root)
        try:
            tree = p.scan(staged, "pkga", copy=True)
            p.merge(tree, PackageMeta("pkga", "2", kept=NEW))
        finally:
            p.close()

    def scripts_match(root: Path, outcome: str) -> None:
        assert kept(root) == (OLD if outcome == "old" else NEW)

    operation: Operation = upgrade
    seen = kill_at_every_op(tmp_path, setup, operation, also=scripts_match)
    assert seen.outcomes == {"old", "new"}
