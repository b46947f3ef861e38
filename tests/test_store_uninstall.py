"""Uninstall (SPEC 8): co-owned and user-changed files stay, empty dirs go, journaled."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from mason.store import NotInstalled, PackageInUse, PackageMeta, Prefix
from mason.store.fsops import KILL_ENV
from storesupport import NAMESPACE_INIT, Link, install, make_tree, tree_digest, wait_child

SITE = "lib/python3.11/site-packages"
SHARED = {f"{SITE}/backports/__init__.py": NAMESPACE_INIT, "lib64": Link("lib")}
A = {**SHARED, "bin/a": "a", "share/a/deep/x": "x", "share/a/y": "y", "etc/a.conf": "conf"}


def base(root: Path) -> None:
    install(root, "other", "1", {**SHARED, "bin/other": "o"})
    install(root, "a", "1", A)


def test_uninstall_keeps_shared_and_modified_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    base(root)
    (root / "etc/a.conf").write_text("edited by the user")
    report = Prefix(root).uninstall("a")
    assert set(report.removed) == {"bin/a", "share/a/deep/x", "share/a/y"}
    assert set(report.shared) == set(SHARED)
    assert report.modified == ("etc/a.conf",)
    assert (root / "etc/a.conf").read_text() == "edited by the user"
    assert not (root / "share").exists()  # emptied directories pruned
    assert (root / f"{SITE}/backports/__init__.py").exists() and (root / "lib64").is_symlink()
    assert (root / "bin/other").exists() and root.is_dir()
    prefix = Prefix(root)
    assert prefix.record("a") is None
    assert prefix.owner([f"{SITE}/backports/__init__.py", "bin/a"]) == {
        f"{SITE}/backports/__init__.py": ["other"],
        "bin/a": [],
    }
    assert prefix.verify().unclaimed == ("etc/a.conf",)


def test_uninstall_refuses_when_needed_unless_forced(tmp_path: Path) -> None:
    root = tmp_path / "p"
    install(root, "lib", "1", {"lib/libx.so": "x"})
    p = Prefix(root)
    staged = p.scan(make_tree(p.staging_dir("app"), {"bin/app": "app"}), "app")
    p.merge(staged, PackageMeta("app", "1", dependencies={"lib": "1"}))
    with pytest.raises(PackageInUse, match="app"):
        p.uninstall("lib")
    assert (root / "lib/libx.so").exists()
    p.uninstall("lib", force=True)
    assert not (root / "lib").exists()
    with pytest.raises(NotInstalled):
        p.uninstall("lib")


def test_kill_at_every_op_of_an_uninstall(tmp_path: Path) -> None:
    template, root = tmp_path / "template", tmp_path / "p"
    base(template)
    installed = tree_digest(template, skip_var=True)
    after = tmp_path / "after"
    base(after)
    Prefix(after).uninstall("a")
    removed = tree_digest(after, skip_var=True)
    kills, outcomes = 0, set()
    for n in range(1, 1000):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(template, root, symlinks=True)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.environ[KILL_ENV] = str(n)
            try:
                Prefix(root).uninstall("a")
            finally:
                os._exit(0)
        status = wait_child(pid)
        Prefix(root).recover()
        state = tree_digest(root, skip_var=True)
        assert state in (installed, removed)
        assert Prefix(root).verify().ok
        outcomes.add(state == removed)
        if os.WIFEXITED(status):
            assert state == removed
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
    assert outcomes == {True, False} and kills >= 5
