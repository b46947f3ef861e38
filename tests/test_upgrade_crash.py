"""Crash injection into upgrades and reinstalls (SPEC 8, 10): SIGKILL the merge of a new
version (or of the same version rebuilt) after every filesystem operation, through the API
and the real ``mason merge``; after recovery the package is fully old or fully new, the
co-owned namespace and the other package intact, no file left that no record claims."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mason.store import PackageMeta, Prefix
from storesupport import NAMESPACE_INIT, Link, Spec, make_tree
from upgradesupport import Operation, kill_at_every_op, merge

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"
SHARED: Spec = {f"{SITE}/backports/__init__.py": NAMESPACE_INIT, "lib64": Link("lib")}


def version(tag: str, files: int, *, only: str) -> Spec:
    """``pkga`` built as ``tag``: files both builds ship (new content), and ``only``-named
    files and a directory that only this build has."""
    spec: dict[str, str | bytes | Link] = {
        **SHARED,
        "lib/libdemo.so": f"library {tag}",
        "lib/libdemo.so.1": Link("libdemo.so"),
        "include/demo.h": f"header {tag}",
        f"{SITE}/backports/demo.py": f"VERSION = {tag!r}",
        f"share/{only}/only.txt": tag,
        f"bin/{only}": tag,
    }
    spec.update({f"include/demo/h{i}.h": f"{tag} {i}" for i in range(files)})
    spec.update({f"share/{only}/deep/f{i}": f"{tag} {i}" for i in range(files)})
    return spec


def setup(files: int) -> Operation:
    def run(root: Path) -> None:
        merge(root, "other", "1", {**SHARED, "bin/other": "o", "include/other.h": "o"})
        merge(root, "pkga", "1", version("1", files, only="old"))

    return run


def upgrade(staged: Path, new_version: str) -> Operation:
    def run(root: Path) -> None:
        p = Prefix(root)
        try:
            p.merge(p.scan(staged, "pkga", copy=True), PackageMeta("pkga", new_version))
        finally:
            p.close()

    return run


def step(tmp_path: Path, files: int, new_version: str, cli_every: int) -> int:
    staged = make_tree(tmp_path / "staged", version(new_version + "b", files, only="new"))
    cli = ["merge", "--copy", "pkga", new_version, str(staged)]
    seen = kill_at_every_op(
        tmp_path, setup(files), upgrade(staged, new_version), cli=cli, cli_every=cli_every
    )
    print(seen)
    assert seen.outcomes == {"old", "new"}
    return seen.kills


def test_kill_at_every_op_of_an_upgrade(tmp_path: Path) -> None:
    assert step(tmp_path, 3, "2", 4) >= 20


def test_kill_at_every_op_of_a_reinstall(tmp_path: Path) -> None:
    """The same version rebuilt (a recipe change, a dependency rebuilt)."""
    assert step(tmp_path, 3, "1", 4) >= 20


@pytest.mark.slow
def test_kill_at_every_op_of_a_large_upgrade(tmp_path: Path) -> None:
    assert step(tmp_path, 70, "2", 10) >= 200


@pytest.mark.slow
def test_kill_at_every_op_of_a_large_reinstall(tmp_path: Path) -> None:
    assert step(tmp_path, 70, "1", 10) >= 200
