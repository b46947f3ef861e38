"""Concurrent merges by real processes released together: no failures, same result as -j1."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mason.store import PackageMeta, Prefix
from storesupport import (
    NAMESPACE_INIT,
    Link,
    Spec,
    install,
    make_tree,
    normalized_records,
    tree_digest,
    wait_child,
)

SITE = "lib/python3.11/site-packages"
PYC = b"\xa7\r\r\n" + bytes(12) + b"namespace bytecode"
WORKERS = 16


def package_tree(i: int) -> Spec:
    """Package ``i``: shares backports/, __pycache__/, share/pari/, include/, lib64 -> lib."""
    return {
        f"{SITE}/backports/__init__.py": NAMESPACE_INIT,
        f"{SITE}/backports/__pycache__/__init__.cpython-311.pyc": PYC,
        f"{SITE}/backports/mod{i}.py": f"X = {i}\n",
        f"{SITE}/backports/__pycache__/mod{i}.cpython-311.pyc": PYC + bytes([i]),
        "share/pari/galdata/README": "shared\n",
        f"share/pari/pkg{i}.gp": f"{i}\n",
        f"include/pkg{i}.h": f"#define PKG{i}\n",
        "lib64": Link("lib"),
        f"lib/libpkg{i}.so": f"ELF {i}",
        f"share/pkg{i}/data/file": f"{i}",
    }


def name(i: int) -> str:
    return f"pkg{i:02d}"


def sequential_reference(root: Path) -> tuple[dict[str, str], dict[str, dict[str, object]]]:
    for i in range(WORKERS):
        install(root, name(i), "1.0", package_tree(i))
    return tree_digest(root, skip_var=True), normalized_records(root)


def _child(root: Path, staged: Path, i: int, barrier: multiprocessing.synchronize.Barrier) -> int:
    prefix = Prefix(root)
    tree = prefix.scan(staged, name(i))  # hashing happens before the lock, in parallel
    barrier.wait(60)
    prefix.merge(tree, PackageMeta(name(i), "1.0"))
    return 0


def concurrent_round(root: Path) -> list[int]:
    """Merge every package tree from its own process, all released by one barrier."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    prefix = Prefix(root)
    staged = [make_tree(prefix.staging_dir(name(i)), package_tree(i)) for i in range(WORKERS)]
    pids = []
    for i in range(WORKERS):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                code = _child(root, staged[i], i, barrier)
            finally:
                os._exit(code)
        pids.append(pid)
    return [os.waitstatus_to_exitcode(wait_child(pid)) for pid in pids]


def run_rounds(tmp_path: Path, rounds: int) -> None:
    want_tree, want_records = sequential_reference(tmp_path / "sequential")
    for r in range(rounds):
        root = tmp_path / f"round{r}"
        assert concurrent_round(root) == [0] * WORKERS, f"round {r}"
        assert tree_digest(root, skip_var=True) == want_tree, f"round {r}"
        assert normalized_records(root) == want_records, f"round {r}"
        assert Prefix(root).verify().ok
        shutil.rmtree(root)


def test_sixteen_processes_merge_shared_directories(tmp_path: Path) -> None:
    run_rounds(tmp_path, 24)


@pytest.mark.slow
def test_sixteen_processes_merge_shared_directories_1000_rounds(tmp_path: Path) -> None:
    run_rounds(tmp_path, 1000)


def _start_merge(prefix: Path, pkg: str, staged: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mason", "merge", pkg, "1", str(staged), "--prefix", str(prefix)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_cli_merges_at_once_one_reports_the_collision(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    a = make_tree(tmp_path / "a", {"bin/tool": "a", "share/pari/a": "a", "lib64": Link("lib")})
    b = make_tree(tmp_path / "b", {"bin/tool": "b", "share/pari/b": "b", "lib64": Link("lib")})
    procs = {"one": _start_merge(prefix, "one", a), "two": _start_merge(prefix, "two", b)}
    outputs = {k: p.communicate(timeout=60) for k, p in procs.items()}
    results = {k: (procs[k].returncode, err) for k, (_, err) in outputs.items()}
    codes = sorted(code for code, _ in results.values())
    assert codes == [0, 2], results
    loser = next(k for k, (code, _) in results.items() if code == 2)
    winner = "two" if loser == "one" else "one"
    err = results[loser][1]
    assert "bin/tool" in err and winner in err and loser in err
    assert Prefix(prefix).owner(["bin/tool", "lib64"]) == {"bin/tool": [winner], "lib64": [winner]}
    assert Prefix(prefix).verify().ok


def test_two_cli_merges_at_once_without_overlap_both_succeed(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    a = make_tree(tmp_path / "a", {"share/pari/a": "a", "include/a.h": "a"})
    b = make_tree(tmp_path / "b", {"share/pari/b": "b", "include/b.h": "b"})
    procs = [_start_merge(prefix, "one", a), _start_merge(prefix, "two", b)]
    for p in procs:
        p.communicate(timeout=60)
    assert [p.returncode for p in procs] == [0, 0]
    assert sorted(os.listdir(prefix / "share/pari")) == ["a", "b"]
    assert Prefix(prefix).verify().ok
