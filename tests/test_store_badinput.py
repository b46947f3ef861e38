"""Bad staged trees and type clashes: clear errors naming package and path, prefix untouched."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from mason.store import CollisionError, PackageMeta, Prefix, StagedTreeError
from mason.store.staged import scan_tree
from storesupport import Link, install, make_tree, mason, tree_digest, wait_child


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    p = tmp_path / "p"
    install(
        p,
        "base",
        "1",
        {"share/x/data": "d", "share/y": "file", "lib64": Link("lib"), "lib/libbase.so": "b"},
    )
    return p


def _staged_problems(prefix: Path, staged: Path, name: str = "bad") -> StagedTreeError:
    p = Prefix(prefix)
    before = tree_digest(prefix)
    with pytest.raises(StagedTreeError) as err:
        p.merge(p.scan(staged, name), PackageMeta(name, "1"))
    assert err.value.package == name
    assert tree_digest(prefix) == before
    return err.value


def test_file_where_prefix_has_directory_and_the_reverse(prefix: Path) -> None:
    before = tree_digest(prefix)
    with pytest.raises(CollisionError) as err:
        install(
            prefix,
            "bad",
            "1",
            {"share/x": "a file", "share/y/inner": "in a dir", "share/ok": "fine"},
        )
    kinds = {(c.kind, c.path) for c in err.value.conflicts}
    assert kinds == {("file-over-dir", "share/x"), ("dir-over-file", "share/y")}
    assert "bad" in str(err.value) and "share/x" in str(err.value)
    assert tree_digest(prefix) == before


def test_every_problem_of_a_staged_tree_is_reported_at_once(prefix: Path, tmp_path: Path) -> None:
    staged = make_tree(
        tmp_path / "s",
        {
            "bin/good": "ok",
            "lib/loop1": Link("loop2"),
            "lib/loop2": Link("loop1"),
            "lib/escape": Link("../../etc/passwd"),
            "lib/abs": Link("/etc/passwd"),
            "var/lib/mason/installed/evil": "x",
        },
    )
    os.mkfifo(staged / "bin/fifo")
    os.mknod(staged / "bin/dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    fd = os.open(os.fsencode(staged / "bin") + b"/bad\xffname", os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    (staged / "bin/new\nline").write_text("x")
    err = _staged_problems(prefix, staged)
    paths = {p.path for p in err.problems}
    assert {
        "lib/loop1",
        "lib/loop2",
        "lib/escape",
        "lib/abs",
        "bin/fifo",
        "bin/dev",
        "var/lib/mason/installed",  # (the wheel store next to it is for packages)
    } <= paths
    assert any("UTF-8" in p.reason for p in err.problems)
    assert any("newline" in p.reason for p in err.problems)
    assert "bad" in str(err) and "lib/escape" in str(err) and "outside the prefix" in str(err)
    assert len(err.problems) == 9


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's files")
def test_unreadable_files_and_directories(prefix: Path) -> None:
    """Scanned by an unprivileged user: root's mode-000 file and directory are unreadable."""
    import json
    import tempfile

    staged = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(staged, 0o755)
        make_tree(staged, {"share/secret": "s", "share/ok": "fine", "lib/closed/x": "x"})
        os.chmod(staged / "share/secret", 0)
        os.chmod(staged / "lib/closed", 0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.setgid(65534)
                os.setuid(65534)
                scan_tree(staged, prefix, "bad")
                out = []
            except StagedTreeError as e:
                out = [[p.path, p.reason] for p in e.problems]
            finally:
                os.write(write, json.dumps(locals().get("out", "crashed")).encode())
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as f:
            problems = json.loads(f.read())
        assert wait_child(pid) == 0
        assert [p for p, _ in problems] == ["lib/closed", "share/secret"], problems
        assert all("permission" in why.lower() for _, why in problems), problems
    finally:
        shutil.rmtree(staged)


def test_cli_reports_bad_tree_with_exit_2(prefix: Path, tmp_path: Path) -> None:
    staged = make_tree(tmp_path / "s", {"lib/escape": Link("../../../outside")})
    before = tree_digest(prefix)
    r = mason("merge", "bad", "1", str(staged), "--prefix", str(prefix))
    assert r.returncode == 2
    assert "bad" in r.stderr and "lib/escape" in r.stderr
    assert tree_digest(prefix) == before


@pytest.mark.parametrize("jobs", ["0", "-1", "many"])
def test_merge_refuses_a_job_count_below_one(prefix: Path, tmp_path: Path, jobs: str) -> None:
    staged = make_tree(tmp_path / "s", {"bin/x": "x"})
    before = tree_digest(prefix)
    r = mason("merge", "-j", jobs, "other", "1", str(staged), "--prefix", str(prefix))
    assert r.returncode == 2
    assert f"takes a number of jobs of at least 1, not {jobs!r}" in r.stderr
    assert tree_digest(prefix) == before


def test_bad_package_name_is_rejected(prefix: Path, tmp_path: Path) -> None:
    staged = make_tree(tmp_path / "s", {"bin/x": "x"})
    r = mason("merge", "Bad-Name", "1", str(staged), "--prefix", str(prefix))
    assert r.returncode == 2 and "Bad-Name" in r.stderr


def test_link_chains_dotdot_targets_and_outside_hard_links(prefix: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    os.chmod(outside, 0o4755)
    staged = make_tree(tmp_path / "s", {"share/deep/f": "f", "share/ok": "ok"})
    os.symlink("../..", staged / "share/deep/up")  # alone: the staging root, fine
    os.symlink("deep/up/../../..", staged / "share/escape")  # through it: outside
    os.symlink(f"{prefix}/../elsewhere", staged / "share/abs")
    os.link(outside, staged / "share/linked")
    os.link(staged / "share/ok", staged / "share/ok2")  # both links inside: fine
    err = _staged_problems(prefix, staged)
    assert {p.path for p in err.problems} == {"share/escape", "share/abs", "share/linked"}
    assert stat.S_IMODE(outside.stat().st_mode) == 0o4755  # never chmod'ed


def test_known_digests_are_trusted_only_for_their_own_files(prefix: Path, tmp_path: Path) -> None:
    """What the caller hashed (or linked from mason's cache) is taken as it is, and may have
    links outside the tree; an unknown outside link is still refused, a stale size hashed."""
    outside = tmp_path / "cache-entry.py"
    outside.write_text("X = 1\n")
    staged = make_tree(tmp_path / "s", {"lib/mod.py": "Y = 2\n"})
    os.link(outside, staged / "lib/cached.py")
    with pytest.raises(StagedTreeError) as err:
        scan_tree(staged, prefix, "pkg")
    assert [p.path for p in err.value.problems] == ["lib/cached.py"]

    claimed = "ab" * 32  # what the caller says; the scan does not read the file
    known = {"lib/cached.py": (claimed, 6), "lib/mod.py": ("cd" * 32, 999)}
    tree = scan_tree(staged, prefix, "pkg", known)
    assert tree.entries["lib/cached.py"].sha256 == claimed
    real = hashlib.sha256(b"Y = 2\n").hexdigest()
    assert tree.entries["lib/mod.py"].sha256 == real  # the size did not match: hashed
