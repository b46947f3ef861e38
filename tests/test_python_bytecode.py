"""CompilePool: byte-code from worker processes is the byte-code compiled in-process."""

from __future__ import annotations

import hashlib
import os
import py_compile
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mason.python.bytecode import Compiled, CompileJob, compile_sources, pyc_name
from mason.python.compilepool import CompilePool
from mason.python.pyccache import BytecodeCache
from mason.python.venv import SchemePaths, Venv

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
    assert flags_here == flags_there
    assert [done is not None for done in flags_there] == [i != 77 for i in range(150)]
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


def test_the_bytes_are_py_compiles_and_the_digest_is_theirs(tmp_path: Path) -> None:
    jobs = sources(tmp_path, 5)
    done = compile_sources(jobs, _this_venv(tmp_path))
    for job, result in zip(jobs, done, strict=True):
        reference = tmp_path / "ref.pyc"
        py_compile.compile(
            str(job.source),
            cfile=str(reference),
            dfile=job.dfile,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        data = job.target.read_bytes()
        assert data == reference.read_bytes()
        assert result == (hashlib.sha256(data).hexdigest(), len(data))


def test_the_cache_gives_the_same_bytes_and_survives_a_bad_entry(tmp_path: Path) -> None:
    cache = BytecodeCache(tmp_path / "cache")
    venv = _this_venv(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = [_with_digest(j) for j in sources(tmp_path / "a", 20)]
    again = [_with_digest(j) for j in sources(tmp_path / "b", 20)]
    assert all(compile_sources(first, venv, cache=cache))
    entries = sorted(cache.directory.rglob("*.pyc"))
    assert len(entries) == 20
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"garbage, not byte-code")  # a disk error, say
    os.replace(garbage, entries[0])
    with CompilePool(2) as pool:
        assert all(compile_sources(again, venv, pool, cache))
    assert compiled(first) == compiled(again)
    assert entries[0].read_bytes() != b"garbage, not byte-code"  # compiled and kept again
    assert all(j.target.stat().st_nlink >= 2 for j in again)  # linked, not copied


def _with_digest(job: CompileJob) -> CompileJob:
    digest = hashlib.sha256(job.source.read_bytes()).hexdigest()
    return CompileJob(job.source, job.target, job.dfile, digest)


def _this_venv(tmp_path: Path) -> Venv:
    """A Venv value for the running interpreter (compile_sources only reads its cache tag)."""
    paths = {name: Path("lib") for name in ("purelib", "platlib", "scripts", "data", "headers")}
    return Venv(tmp_path, Path(sys.executable), sys.version_info[:2], TAG, SchemePaths(**paths))


def test_callers_holding_every_core_still_get_their_byte_code(tmp_path: Path) -> None:
    # Both cores of the budget are held by callers (unpacking big wheels, say); each then
    # waits on the workers: it gives its core back, else no worker could ever start.
    batches = []
    for t in range(2):
        (tmp_path / str(t)).mkdir()
        batches.append(sources(tmp_path / str(t), 30))

    def unpack_then_compile(jobs: list[CompileJob]) -> list[Compiled]:
        with pool.slot():
            return pool.compile(jobs)

    with CompilePool(2) as pool, ThreadPoolExecutor(2) as threads:
        results = list(threads.map(unpack_then_compile, batches))
    assert all(all(r) for r in results) and [len(r) for r in results] == [30, 30]
    assert pool.compiled == 60 and 1 <= pool.peak <= 2


def test_sources_are_read_whole_without_a_buffered_file(tmp_path: Path) -> None:
    # one read of the size fstat gave, and on to the end of a file that is larger
    from mason.python.bytecode import _read

    for size in (0, 1, 4096, 3 * 1024 * 1024 + 7):
        path = tmp_path / f"m{size}.py"
        path.write_bytes(bytes(i % 251 for i in range(size)))
        assert _read(str(path)) == path.read_bytes()
    with pytest.raises(FileNotFoundError):
        _read(str(tmp_path / "missing.py"))
