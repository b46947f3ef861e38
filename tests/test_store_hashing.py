"""Hashing a staged tree on several cores gives what hashing it on one gives."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from mason.store import hashing
from mason.store.staged import StagedTree, scan_tree


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        d = root / f"lib/d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_bytes(f"{i}\n".encode() * (i % 5))
    (root / "lib/big.bin").write_bytes(bytes(range(256)) * (12 << 10))  # 3 MiB: 3 reads
    os.link(root / "lib/d0/f0.txt", root / "lib/d1/linked.txt")
    os.chmod(root / "lib/d2/f2.txt", 0o4755)  # made sane after it is read


def _summary(tree: StagedTree) -> list[tuple[str, int, str | None]]:
    return [(f.rel, f.size, f.sha256) for f in tree.files]


@pytest.fixture
def small_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "MIN_PER_WORKER", 10)


def test_workers_and_threads_hash_as_one_core(tmp_path: Path, small_workers: None) -> None:
    for name in ("one", "forked", "threads"):
        _tree(tmp_path / name, 200)
    one = scan_tree(tmp_path / "one", tmp_path / "prefix", "pkg", jobs=1)
    forked = scan_tree(tmp_path / "forked", tmp_path / "prefix", "pkg", jobs=3)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # a running thread: no fork, threads
    other.start()
    try:
        threaded = scan_tree(tmp_path / "threads", tmp_path / "prefix", "pkg", jobs=3)
    finally:
        stop.set()
        other.join()
    assert _summary(one) == _summary(forked) == _summary(threaded)
    big = (tmp_path / "one/lib/big.bin").read_bytes()
    assert one.entries["lib/big.bin"].sha256 == hashlib.sha256(big).hexdigest()
    for name in ("one", "forked", "threads"):
        assert os.stat(tmp_path / name / "lib/d2/f2.txt").st_mode & 0o7777 == 0o755 & ~0o022


def test_one_open_refuses_what_is_no_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # opened without blocking, then refused
    (tmp_path / "real").write_text("x")
    os.symlink("real", tmp_path / "link")  # never followed
    results = hashing.hash_files([str(tmp_path / n) for n in ("fifo", "link", "gone", "real")])
    assert [hashing.failed(r) is not None for r in results] == [True, True, True, False]
    assert results[3][0] == hashlib.sha256(b"x").hexdigest()
