"""Prefix locks with real processes: shared readers, one writer, timeouts, dead holders."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from mason.store import Lock, LockTimeout, Prefix
from storesupport import install

CTX = multiprocessing.get_context("fork")


def hold(path: Path, mode: str, ready: object, release: object) -> None:
    lock = Lock(path)
    lock.acquire("shared" if mode == "shared" else "exclusive")
    ready.set()  # type: ignore[attr-defined]
    release.wait(60)  # type: ignore[attr-defined]
    lock.release()


def holder(path: Path, mode: str) -> tuple[multiprocessing.process.BaseProcess, Callable[[], None]]:
    ready, release = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=hold, args=(path, mode, ready, release))
    proc.start()
    assert ready.wait(30)

    def stop() -> None:
        release.set()
        proc.join(30)

    return proc, stop


def test_readers_share(tmp_path: Path) -> None:
    path = tmp_path / "var/lock/prefix.lock"
    _, stop = holder(path, "shared")
    try:
        with Lock(path).shared(timeout=10) as lock:
            assert lock.mode == "shared"
    finally:
        stop()


def test_writer_excludes_readers_and_writers(tmp_path: Path) -> None:
    path = tmp_path / "var/lock/prefix.lock"
    _, stop = holder(path, "exclusive")
    try:
        with pytest.raises(LockTimeout, match=r"prefix\.lock"):
            Lock(path).acquire("shared", timeout=0.2)
        with pytest.raises(LockTimeout):
            Lock(path).acquire("exclusive", timeout=0.2)
    finally:
        stop()
    with Lock(path).exclusive(timeout=10):
        pass


def test_dead_holder_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "var/lock/prefix.lock"
    proc, _ = holder(path, "exclusive")
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    with Lock(path).exclusive(timeout=10) as lock:
        assert lock.mode == "exclusive"


def test_queries_wait_for_a_merge_in_progress(tmp_path: Path) -> None:
    root = tmp_path / "p"
    install(root, "a", "1", {"bin/a": "a"})
    _, stop = holder(root / "var/lock/prefix.lock", "exclusive")
    try:
        with pytest.raises(LockTimeout) as err:
            Prefix(root, lock_timeout=0.2).owner(["bin/a"])
        assert err.value.hint is not None and "another mason process" in err.value.hint
    finally:
        stop()
    assert Prefix(root, lock_timeout=10).owner(["bin/a"]) == {"bin/a": ["a"]}
