"""CompilePool: byte-code from worker processes is the byte-code compiled in-process."""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mason.python.bytecode import CompileJob, CompilePool, pyc_name

TAG = sys.implementation.cache_tag


def sources(root: Path, count: int, *, broken: int = -1) -> list[CompileJob]:
    jobs = []
    for i in range(count):
        source = root / f"m{i}.py"
        source.write_text("def f(:\n" if i == broken else f"X = {i}\ndef f():\n    return X\n")
        target = root / "__pycache__" / pyc_name(source.name, TAG)
        jobs.append(CompileJob(source, target, f"/final/{source.name}"))
    (root / "__pycache__").mkdir(exist_ok=True)
    return jobs


def compiled(jobs: list[CompileJob]) -> dict[str, bytes]:
    return {j.target.name: j.target.read_bytes() for j in jobs if j.target.exists()}


def test_pool_gives_the_same_bytes_as_in_process_and_flags_bad_sources(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    here, there = sources(tmp_path / "a", 150, broken=77), sources(tmp_path / "b", 150, broken=77)
    with CompilePool(1) as inline:
        flags_here = inline.compile(here)
    with CompilePool(2) as pool:
        flags_there = pool.compile(there)
    assert flags_here == flags_there == [i != 77 for i in range(150)]
    assert compiled(here) == compiled(there)
    assert len(compiled(there)) == 149
    assert b"/final/m3.py" in compiled(there)[pyc_name("m3.py", TAG)]


def test_many_threads_share_one_pool(tmp_path: Path) -> None:
    batches = []
    for t in range(6):
        (tmp_path / str(t)).mkdir()
        batches.append(sources(tmp_path / str(t), 20 + t))
    with CompilePool(2) as pool, ThreadPoolExecutor(6) as threads:
        results = list(threads.map(pool.compile, batches))
    assert [len(r) for r in results] == [20 + t for t in range(6)]
    assert all(all(r) for r in results)
    assert all(j.target.is_file() for batch in batches for j in batch)


def test_a_dead_worker_costs_no_byte_code(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with CompilePool(2) as pool:
        assert all(pool.compile(sources(tmp_path / "a", 10)))
        executor = pool._executor
        assert executor is not None
        victim = next(iter(executor._processes.values()))  # the OOM killer, say
        os.kill(victim.pid, signal.SIGKILL)  # the executor then ends the other workers
        victim.join()
        again = sources(tmp_path / "b", 40)
        assert all(pool.compile(again))
        assert all(j.target.is_file() for j in again)
        assert all(pool.compile(sources(tmp_path / "b", 5)))  # new workers
        assert pool._executor is not executor
