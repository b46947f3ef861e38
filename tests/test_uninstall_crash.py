"""Crash injection into uninstall (SPEC 8, 10): SIGKILL ``Prefix.uninstall`` and the real
``mason uninstall`` after every filesystem operation; after recovery the package is fully
installed or fully gone, co-owned files intact, no file left that no record claims."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mason.store import Prefix
from storesupport import NAMESPACE_INIT, Link, Spec
from upgradesupport import Operation, kill_at_every_op, merge

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"
PYC = f"{SITE}/backports/__pycache__/__init__.cpython-3{sys.version_info.minor}.pyc"
SHARED: Spec = {
    f"{SITE}/backports/__init__.py": NAMESPACE_INIT,
    PYC: b"same byte-code in both",
    "lib64": Link("lib"),
}


def package(name: str, dirs: int, files: int) -> Spec:
    """``name`` with ``dirs`` x ``files`` files in nested directories, a module and a
    library, and the shared namespace."""
    spec: dict[str, str | bytes | Link] = {
        **SHARED,
        f"{SITE}/backports/{name}.py": name,
        f"lib/lib{name}.so": name,
        f"lib/lib{name}.so.1": Link(f"lib{name}.so"),
        f"bin/{name}": name,
    }
    for d in range(dirs):
        spec.update({f"share/{name}/d{d}/sub/f{f}.txt": f"{name} {d} {f}" for f in range(files)})
    return spec


def uninstall(name: str) -> Operation:
    def run(root: Path) -> None:
        p = Prefix(root)
        try:
            p.uninstall(name)
        finally:
            p.close()

    return run


def two_owners(dirs: int, files: int) -> Operation:
    def setup(root: Path) -> None:
        merge(root, "other", "1", {**SHARED, "bin/other": "o", "share/other/x": "x"})
        merge(root, "pkga", "1", package("pkga", dirs, files))

    return setup


SCRIPTS = "var/lib/mason/scripts"


def last_owner(dirs: int, files: int) -> Operation:
    def setup(root: Path) -> None:
        merge(root, "other", "1", {"bin/other": "o"})
        merge(root, "pkga", "1", package("pkga", dirs, files))
        for name in ("other", "pkga"):  # what mason install keeps for uninstall
            (root / SCRIPTS / name).mkdir(parents=True)
            (root / SCRIPTS / name / "spkg-postrm.in").write_text("true\n")

    return setup


def scripts_go_with_the_record(root: Path, outcome: str) -> None:
    assert (root / SCRIPTS / "pkga/spkg-postrm.in").exists() == (outcome == "old")
    assert (root / SCRIPTS / "other/spkg-postrm.in").exists()


def test_kill_uninstall_of_one_of_two_owners(tmp_path: Path) -> None:
    seen = kill_at_every_op(
        tmp_path, two_owners(3, 3), uninstall("pkga"), cli=["uninstall", "pkga"]
    )
    print(seen)
    assert seen.outcomes == {"old", "new"} and seen.kills >= 20, seen


def test_kill_uninstall_of_the_last_owner(tmp_path: Path) -> None:
    """The namespace directory, its byte-code, every emptied directory and the kept removal
    scripts go, crash or not."""
    seen = kill_at_every_op(
        tmp_path, last_owner(2, 2), uninstall("pkga"), also=scripts_go_with_the_record
    )
    print(seen)
    assert seen.outcomes == {"old", "new"} and seen.kills >= 10, seen


@pytest.mark.slow
def test_kill_uninstall_of_a_large_package(tmp_path: Path) -> None:
    seen = kill_at_every_op(
        tmp_path, last_owner(20, 10), uninstall("pkga"), cli=["uninstall", "pkga"], cli_every=10
    )
    print(seen)
    assert seen.outcomes == {"old", "new"} and seen.kills >= 200, seen
