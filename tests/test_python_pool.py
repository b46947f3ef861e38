"""WheelPool: a wheel staged in a worker process, from the cache, or by the caller, is the
same staged tree; a worker that dies fails one wheel, not the pool; a big wheel's modules
are compiled once each, while it is unpacked, on no more cores than the budget."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mason.python import Venv
from mason.python.errors import BadWheel, StagingWriteFailed
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


def test_a_big_wheel_compiles_each_module_once_within_the_budget(
    tmp_path: Path, venv: Venv
) -> None:
    wheel = many_sources_wheel(tmp_path / "w")
    sources = SPREAD_SOURCES + 11
    with WheelPool(2, tmp_path / "cache") as pool:
        staged = pool.stage(wheel, venv, tmp_path / "fresh")  # unpacked here, compiled there
        assert pool.compiled == sources  # each module once, none at the end again
        assert len(staged.bytecode) == sources and not staged.not_compiled
        assert 1 <= pool.peak <= 2  # this thread's core and one worker's
        pool.stage(wheel, venv, tmp_path / "cached")
        assert pool.compiled == sources  # linked from the cache: nothing compiled


def test_threads_staging_at_once_never_use_more_cores_than_the_budget(
    tmp_path: Path, venv: Venv
) -> None:
    wheels = [many_sources_wheel(tmp_path / "w"), small_wheel(tmp_path / "w")] * 3
    with WheelPool(2) as pool, ThreadPoolExecutor(6) as threads:
        done = list(
            threads.map(
                lambda i: pool.stage(wheels[i], venv, tmp_path / str(i)), range(len(wheels))
            )
        )
        executor = pool._executor
        assert executor is not None and len(executor._processes) <= 2
    assert 1 <= pool.peak <= 2
    assert all((d.staged_root / d.dist_info / "RECORD").is_file() for d in done)
    assert pool.compiled == 3 * (SPREAD_SOURCES + 11)  # the small wheels compile in workers


def test_a_bad_big_wheel_leaves_no_byte_code_behind(tmp_path: Path, venv: Venv) -> None:
    files = {f"badmod/m{i}.py": f"V = {i}\n" for i in range(SPREAD_SOURCES + 10)}
    last = f"badmod/m{SPREAD_SOURCES + 9}.py"
    wrong = {last: "sha256=" + "A" * 43}  # found only once every module is written
    wheel = make_wheel(tmp_path / "w", "badmod", "1.0", files, record_overrides=wrong)
    with WheelPool(2) as pool:
        with pytest.raises(BadWheel, match="didn't match RECORD"):
            pool.stage(wheel, venv, tmp_path / "staged")
        assert pool.compiled > 0  # compiling had started while unpacking
    assert not (tmp_path / "staged").exists()


def test_warming_the_workers_takes_no_core_of_the_budget() -> None:
    # A caller unpacking a big wheel right after warm() must not wait for the forkserver
    # to import the staging code: starting the workers is no work of the run's.
    with WheelPool(2) as pool:
        pool.warm()
        assert pool.peak == 0
        with pool.slot():
            assert pool.peak == 1
            # the other core is a worker's, while this thread holds its own
            assert pool.submit(True, os.getpid).result(timeout=60) != os.getpid()


def test_one_caller_at_a_time_works_in_process_and_a_waiting_one_keeps_no_core() -> None:
    # Two threads unpacking big wheels at once would share one GIL on two cores of the
    # budget, the workers idle: the second waits for the first, and the workers go on.
    with WheelPool(2) as pool:
        holding, done = threading.Event(), threading.Event()
        entered: list[int] = []

        def first() -> None:
            with pool.slot():
                holding.set()
                done.wait(60)

        def second() -> None:
            with pool.slot():
                entered.append(pool.peak)

        one = threading.Thread(target=first)
        one.start()
        assert holding.wait(30)
        two = threading.Thread(target=second)
        two.start()
        try:
            while pool._callers_waiting == 0 and not entered:  # the second one waits
                time.sleep(0.01)
            assert pool.submit(True, os.getpid).result(timeout=30) != os.getpid()
            assert entered == []
        finally:
            done.set()
        one.join(30)
        two.join(30)
        assert len(entered) == 1 and pool.peak == 2  # a caller's core and a worker's


def test_workers_come_from_the_server_started_ahead_of_the_pool() -> None:
    # A run with wheels starts the forkserver first (mason.install.run): the pool made
    # later forks its workers from that very server, not from one of its own.
    from multiprocessing import forkserver

    from mason.python.compilepool import start_server

    start_server().join(timeout=60)
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert server is not None
    with WheelPool(2) as pool:
        pool.warm()
        assert pool.submit(True, os.getppid).result(timeout=60) == server
