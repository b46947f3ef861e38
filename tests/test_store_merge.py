"""Merging staged trees into a prefix: moves, co-ownership, collisions, upgrades, records."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mason.store import CollisionError, PackageMeta, Prefix
from storesupport import NAMESPACE_INIT, Link, install, make_tree, mason, tree_digest

SITE = "lib/python3.11/site-packages"


def test_new_directory_moves_in_with_one_rename(tmp_path: Path) -> None:
    prefix = Prefix(tmp_path / "p")
    staged = make_tree(prefix.staging_dir("foo"), {"share/foo/a": "a", "share/foo/sub/b": "b"})
    inode = os.stat(staged / "share").st_ino
    record = prefix.merge(prefix.scan(staged, "foo"), PackageMeta("foo", "1"))
    assert os.stat(tmp_path / "p/share").st_ino == inode  # moved, not copied
    assert sorted(record.files) == ["share/foo/a", "share/foo/sub/b"]
    assert not staged.exists()  # mason's own staging dir is cleaned up


def test_existing_directories_are_merged_into(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"share/pari/a.gp": "a", "include/a.h": "a"})
    install(p, "b", "1", {"share/pari/b.gp": "b", "include/b.h": "b"})
    assert sorted(os.listdir(p / "share/pari")) == ["a.gp", "b.gp"]
    assert Prefix(p).owner(["share/pari/a.gp", "include/b.h"]) == {
        "share/pari/a.gp": ["a"],
        "include/b.h": ["b"],
    }


def test_identical_files_are_co_owned(tmp_path: Path) -> None:
    p = tmp_path / "p"
    spec = {f"{SITE}/backports/__init__.py": NAMESPACE_INIT, "lib64": Link("lib")}
    install(p, "a", "1", {**spec, "lib/a.so": "a"})
    install(p, "b", "1", {**spec, "lib/b.so": "b"})
    owners = Prefix(p).owner([f"{SITE}/backports/__init__.py", "lib64"])
    # lib64 -> lib is mason's own link (layout.COMPAT_LINKS): in the prefix, owned by nobody
    assert owners == {f"{SITE}/backports/__init__.py": ["a", "b"], "lib64": []}
    assert os.readlink(p / "lib64") == "lib"


def test_equivalent_namespace_declarations_co_own_and_first_content_stays(
    tmp_path: Path,
) -> None:
    p = tmp_path / "p"
    init = f"{SITE}/zope/__init__.py"
    first = "# zope namespace\n" + NAMESPACE_INIT
    install(p, "a", "1", {init: first})
    rec = install(p, "b", "1", {init: "\n" + NAMESPACE_INIT + "\n# the end\n"})
    assert (p / init).read_text() == first
    assert Prefix(p).owner([init]) == {init: ["a", "b"]}
    assert rec.files[init].size == len(first)  # b's record describes what is there


def test_collision_names_both_packages_and_leaves_prefix_unchanged(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"bin/tool": "from a", "share/a/x": "x"})
    before = tree_digest(p)
    with pytest.raises(CollisionError) as err:
        install(p, "b", "1", {"bin/tool": "from b", "share/b/y": "y", "share/a/x": "other"})
    assert err.value.package == "b"
    assert err.value.owners == ("a",)
    assert {c.path for c in err.value.conflicts} == {"bin/tool", "share/a/x"}  # all at once
    assert "bin/tool" in str(err.value) and "a" in str(err.value)
    assert tree_digest(p) == before
    assert Prefix(p).record("b") is None


def test_allow_overwrite_replaces_another_packages_file(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"bin/tool": "from a"})
    install(p, "b", "1", {"bin/tool": "from b"}, allow_overwrite=True)
    assert (p / "bin/tool").read_text() == "from b"
    assert Prefix(p).owner(["bin/tool"]) == {"bin/tool": ["a", "b"]}


def test_unowned_file_in_the_way_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "p"
    make_tree(p, {"etc/conf": "mine"})
    with pytest.raises(CollisionError, match="unowned file"):
        install(p, "a", "1", {"etc/conf": "theirs"})
    assert (p / "etc/conf").read_text() == "mine"


def test_upgrade_replaces_files_and_removes_what_only_the_old_version_had(
    tmp_path: Path,
) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"bin/a": "v1", "share/a/old.txt": "old", "share/keep": "k"})
    old_inode = os.stat(p / "bin/a").st_ino
    rec = install(p, "a", "2", {"bin/a": "v2", "share/keep": "k", "share/a2/new": "n"})
    assert (p / "bin/a").read_text() == "v2"
    assert os.stat(p / "bin/a").st_ino != old_inode
    assert not (p / "share/a").exists()  # old-only file gone, empty directory pruned
    records = os.listdir(p / "var/lib/mason/installed")
    assert records == ["a-2"]
    assert sorted(rec.files) == ["bin/a", "share/a2/new", "share/keep"]
    assert Prefix(p).verify().ok
    assert os.listdir(p / "var/lib/mason/txn") == []  # backups dropped


def test_directory_symlink_in_prefix_is_followed(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"lib/liba.so": "a", "lib64": Link("lib")})
    rec = install(p, "b", "1", {"lib64/libb.so": "b"})
    assert (p / "lib64").is_symlink()
    assert (p / "lib/libb.so").read_text() == "b"
    assert list(rec.files) == ["lib/libb.so"]  # claims use the canonical path


def test_permissions_are_made_sane(tmp_path: Path) -> None:
    prefix = Prefix(tmp_path / "p")
    staged = make_tree(prefix.staging_dir("a"), {"bin/a": "x", "share/a/ro": "y"})
    os.chmod(staged / "bin/a", 0o6555)
    os.chmod(staged / "share/a/ro", 0o444)
    os.chmod(staged / "share/a", 0o555)
    old = os.umask(0o027)
    try:
        prefix.merge(prefix.scan(staged, "a"), PackageMeta("a", "1"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "p/bin/a").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "p/share/a/ro").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "p/share/a").st_mode) == 0o750


def test_absolute_symlink_into_staging_is_rewritten(tmp_path: Path) -> None:
    prefix = Prefix(tmp_path / "p")
    staged = make_tree(prefix.staging_dir("a"), {"lib/libz.so.1": "z"})
    os.symlink(staged / "lib/libz.so.1", staged / "lib/libz.so")
    rec = prefix.merge(prefix.scan(staged, "a"), PackageMeta("a", "1"))
    assert os.readlink(tmp_path / "p/lib/libz.so") == str(tmp_path / "p/lib/libz.so.1")
    assert rec.files["lib/libz.so"].target == str(tmp_path / "p/lib/libz.so.1")


def test_record_lists_what_the_merge_did(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1.2.p0", {"bin/a": "hello", "lib64": Link("lib"), "lib/x": ""})
    data = json.loads((p / "var/lib/mason/installed/a-1.2.p0").read_text())
    assert data["package_name"] == "a" and data["package_version"] == "1.2.p0"
    assert data["files"] == ["bin/a", "lib/x"]  # not mason's own lib64 -> lib
    assert data["file_info"]["bin/a"]["size"] == 5
    assert os.readlink(p / "lib64") == "lib"
    for key in ("install_date", "system_uname", "test_result", "txid", "mason_format"):
        assert key in data


def test_cli_merge_copy_owner_files_list_verify(tmp_path: Path) -> None:
    staged = make_tree(tmp_path / "dest", {"bin/hello": "hi\n", "share/doc/hello/README": "r"})
    p = str(tmp_path / "p")
    r = mason("merge", "hello", "2.12", str(staged), "--copy", "--prefix", p)
    assert r.returncode == 0, r.stderr
    assert "[hello-2.12] merged 2 files" in r.stdout
    assert (staged / "bin/hello").exists()  # --copy keeps DIR
    r = mason("owner", "bin/hello", f"{p}/share/doc/hello/README", "--prefix", p, "--json")
    assert json.loads(r.stdout) == {
        "bin/hello": ["hello"],
        f"{p}/share/doc/hello/README": ["hello"],
    }
    r = mason("owner", "bin/nothing", "--prefix", p)
    assert r.returncode == 1 and "not owned" in r.stdout
    r = mason("files", "hello", "--prefix", p)
    assert r.stdout.split() == ["bin/hello", "share/doc/hello/README"]
    r = mason("list", "--installed", "--prefix", p, "--json")
    assert [(x["name"], x["version"]) for x in json.loads(r.stdout)] == [("hello", "2.12")]
    assert mason("verify", "--prefix", p).returncode == 0


def test_verify_reports_missing_modified_and_unclaimed(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"bin/a": "a", "bin/b": "b", "lib64": Link("lib")})
    (p / "bin/a").unlink()
    (p / "bin/b").write_text("changed")
    (p / "bin/stray").write_text("?")
    r = mason("verify", "--prefix", str(p), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["missing"] == [{"package": "a", "path": "bin/a"}]
    assert [m["path"] for m in out["modified"]] == ["bin/b"]
    assert out["unclaimed"] == ["bin/stray"]


def test_cli_errors_exit_2_with_package_and_path(tmp_path: Path) -> None:
    p = str(tmp_path / "p")
    make_tree(tmp_path / "one", {"bin/x": "1"})
    make_tree(tmp_path / "two", {"bin/x": "2"})
    assert mason("merge", "one", "1", str(tmp_path / "one"), "--prefix", p).returncode == 0
    r = mason("merge", "two", "1", str(tmp_path / "two"), "--prefix", p)
    assert r.returncode == 2
    assert "two" in r.stderr and "bin/x" in r.stderr and "one" in r.stderr
    assert mason("files", "nothere", "--prefix", p).returncode == 2


def test_owner_index_is_rebuilt_from_the_records(tmp_path: Path) -> None:
    p = tmp_path / "p"
    install(p, "a", "1", {"bin/a": "a"})
    (p / "var/lib/mason/owners.sqlite").unlink()
    for side in ("-wal", "-shm"):
        Path(f"{p}/var/lib/mason/owners.sqlite{side}").unlink(missing_ok=True)
    assert Prefix(p).owner(["bin/a"]) == {"bin/a": ["a"]}
    r = mason("recover", "--prefix", str(p), "--json")
    assert json.loads(r.stdout)["index_rebuilt"] is True


def test_directory_created_between_plan_and_move_is_merged_into(tmp_path: Path) -> None:
    """A creator outside mason's lock takes a path the plan found free: not an error."""
    from mason.store.journal import Journal
    from mason.store.merge import PathTaken, Transaction, run_merge
    from mason.store.plan import Planner
    from mason.store.records import RecordStore

    root = tmp_path / "p"
    install(root, "base", "1", {"share/base": "b"})
    prefix = Prefix(root)
    staged = prefix.scan(make_tree(prefix.staging_dir("a"), {"share/new/x": "x"}), "a")
    state = root / "var/lib/mason"
    with prefix.write_locked() as index:
        plan = Planner(root, staged, index.owners_of).run()
        (root / "share/new").mkdir()  # the other creator, right between plan and move
        tx = Transaction(
            root, Journal(state / "journal", state / "txn"), RecordStore(state / "installed"), index
        )
        with pytest.raises(PathTaken):
            run_merge(tx, staged, PackageMeta("a", "1"), plan, None, 0.0)
    assert (staged.root / "share/new/x").exists()  # undone: still staged
    assert os.listdir(root / "share/new") == []
    record = prefix.merge(staged, PackageMeta("a", "1"))
    assert list(record.files) == ["share/new/x"]
    assert prefix.verify().ok


def test_record_file_reads_back_as_the_record_returned(tmp_path: Path) -> None:
    p = tmp_path / "p"
    names = {
        "bin/a": "a",
        'share/odd "quoted" \\ name': "q",
        "share/ünïcode": "u",
        "lib/l": Link("x"),
    }
    rec = install(p, "a", "1", names)
    data = json.loads((p / "var/lib/mason/installed/a-1").read_bytes())
    assert data == rec.to_json()
    assert Prefix(p).record("a") == rec


def test_bytecode_of_equivalent_namespace_declarations_is_co_owned(tmp_path: Path) -> None:
    p = tmp_path / "p"
    pyc = f"{SITE}/backports/__pycache__/__init__.cpython-311.pyc"
    first = {f"{SITE}/backports/__init__.py": NAMESPACE_INIT, pyc: b"pyc of a", "bin/a": "a"}
    install(p, "a", "1", first)
    second = {f"{SITE}/backports/__init__.py": "# comment\n" + NAMESPACE_INIT, pyc: b"pyc of b"}
    install(p, "b", "1", second)
    assert (p / pyc).read_bytes() == b"pyc of a"  # the first content stays, with its source
    assert Prefix(p).owner([pyc]) == {pyc: ["a", "b"]}
    with pytest.raises(CollisionError) as err:  # a real module's byte-code is not shared
        install(p, "c", "1", {f"{SITE}/backports/__init__.py": "real = 1\n", pyc: b"pyc of c"})
    assert {c.path for c in err.value.conflicts} == {f"{SITE}/backports/__init__.py", pyc}


def test_verify_in_parallel_finds_what_one_process_finds(tmp_path: Path) -> None:
    p = tmp_path / "p"
    for n in range(5):
        install(p, f"pkg{n}", "1", {f"share/{n}/x": "x", f"share/{n}/y": "y", f"bin/{n}": "b"})
    (p / "share/1/x").unlink()
    (p / "share/3/y").write_text("changed")
    (p / "bin/4").unlink()
    (p / "bin/stray").write_text("?")
    one = mason("verify", "--prefix", str(p), "--json", "-j", "1")
    three = mason("verify", "--prefix", str(p), "--json", "-j", "3")
    assert three.returncode == one.returncode == 1
    assert json.loads(three.stdout) == json.loads(one.stdout)
    out = json.loads(three.stdout)
    assert out["checked_files"] == 15
    assert out["missing"] == [
        {"package": "pkg1", "path": "share/1/x"},
        {"package": "pkg4", "path": "bin/4"},
    ]
    assert [m["path"] for m in out["modified"]] == ["share/3/y"]
    assert out["unclaimed"] == ["bin/stray"]
