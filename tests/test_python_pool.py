"""WheelPool: a wheel staged in a worker process, from the cache, or by the caller, is the
same staged tree; a worker that dies fails one wheel, not the pool."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from mason.python import Venv
from mason.python.errors import StagingWriteFailed
from mason.python.pool import SPREAD_SOURCES, WheelPool
from mason.python.wheels import StagedWheel, stage_wheel
from wheelfactory import make_wheel


def small_wheel(directory: Path) -> Path:
    return make_wheel(
        directory,
        "poolmod",
        "1.0",
        {"poolmod/__init__.py": "X = 1\n", "poolmod/util.py": "def f():\n    return 2\n"},
        entry_points={"console_scripts": {"poolmod-run": "poolmod.util:f"}},
    )


def many_sources_wheel(directory: Path) -> Path:
    files = {f"bigmod/m{i}.py": f"V = {i}\n" for i in range(SPREAD_SOURCES + 10)}
    return make_wheel(directory, "bigmod", "1.0", {"bigmod/__init__.py": "", **files})


def contents(staged: StagedWheel) -> dict[str, bytes]:
    return {str(rel): (staged.staged_root / rel).read_bytes() for rel in staged.files}


def test_worker_caller_and_cache_stage_the_same_tree(tmp_path: Path, venv: Venv) -> None:
    wheels = [small_wheel(tmp_path / "w"), many_sources_wheel(tmp_path / "w")]
    with WheelPool(2, tmp_path / "cache") as pool:
        for wheel in wheels:
            plain = stage_wheel(wheel, venv, tmp_path / "plain" / wheel.name)
            fresh = pool.stage(wheel, venv, tmp_path / "fresh" / wheel.name)  # fills the cache
            cached = pool.stage(wheel, venv, tmp_path / "cached" / wheel.name)
            assert contents(plain) == contents(fresh) == contents(cached)
            assert plain.digests == fresh.digests == cached.digests
            assert plain.bytecode == fresh.bytecode == cached.bytecode
            assert all(
                (cached.staged_root / rel).stat().st_nlink > 1
                for rel in cached.files
                if "/bin/" not in f"/{rel}" and not str(rel).endswith("RECORD")
            )


def test_a_dead_worker_fails_one_wheel_and_the_next_gets_new_workers(
    tmp_path: Path, venv: Venv
) -> None:
    wheel = small_wheel(tmp_path / "w")
    with WheelPool(2) as pool:
        pool.stage(wheel, venv, tmp_path / "first")
        executor = pool._executor
        assert executor is not None
        victim = next(iter(executor._processes.values()))  # the OOM killer, say
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        with pytest.raises(StagingWriteFailed, match="died"):
            pool.stage(wheel, venv, tmp_path / "second")
        again = pool.stage(wheel, venv, tmp_path / "third")
        assert (again.staged_root / again.dist_info / "RECORD").is_file()
        assert pool._executor is not executor
