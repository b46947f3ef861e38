"""kill -9 during ``mason pip``'s reconciliation, and during the install that replaces
what pip put there: the next command recovers to a consistent state.

The store's crash harness (``MASON_TEST_KILL_AFTER_OPS``, :mod:`mason.store.fsops`)
SIGKILLs the process right after its Nth filesystem operation; each N is tried in turn
until the operation finishes without being killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from installsupport import mason
from mason.reconcile import reconcile_venv, reconciler_of
from mason.store.fsops import KILL_ENV
from mason.trees import Trees
from pipsupport import SITE, World, six_template, world
from storesupport import assert_index_matches_records, wait_child

__all__ = ["six_template", "world"]


def fresh(template: Path, prefix: Path) -> None:
    shutil.rmtree(prefix, ignore_errors=True)
    shutil.copytree(template, prefix, symlinks=True)


def reconcile_in_child(prefix: Path, kill_after: int) -> int:
    """Fork; the child does what ``mason pip`` does once pip is done (the lock held, the
    records reconciled), killed after ``kill_after`` operations."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            os.environ[KILL_ENV] = str(kill_after)
            trees = Trees.open(prefix)
            store = trees.store("venv")
            with store.write_locked() as index:
                store.reconcile_locked(index, reconciler_of(trees))
            code = 0
        finally:
            os._exit(code)
    return wait_child(pid)


def assert_consistent(w: World) -> dict[str, dict[str, object]]:
    """SPEC 10 for the venv: no unfinished transaction, verify clean, the claims match the
    records, one dist-info per project. Returns the records by name."""
    state = w.prefix / "var/lib/mason"
    assert os.listdir(state / "journal") == [] and os.listdir(state / "txn") == []
    trees = Trees.open(w.prefix)
    report = trees.verify()
    assert report.ok, report
    assert_index_matches_records(trees)
    records = trees.records()
    trees.close()
    projects = [p.name.split("-")[0] for p in (w.prefix / SITE).glob("*.dist-info")]
    assert len(projects) == len(set(projects)), projects
    return {
        n: json.loads((state / "installed" / r.filename).read_text()) for n, r in records.items()
    }


def test_kill_during_reconciliation(world: World) -> None:
    assert world.pip("install", "six==1.16.0", "other").returncode == 0  # not reconciled yet
    template = world.prefix.with_name("template")
    world.prefix.rename(template)
    kills = 0
    for n in range(1, 200):
        fresh(template, world.prefix)
        status = reconcile_in_child(world.prefix, n)
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        if n % 2:  # the next command recovers and reconciles on its own
            done = world.mason("list", "--installed")
            assert done.returncode == 0, done.stderr
        else:  # explicitly
            trees = Trees.open(world.prefix)
            trees.recover()
            reconcile_venv(trees)
            trees.close()
        records = assert_consistent(world)
        assert records["six"]["outside"]["now"] == "1.16.0"
        assert records["other"]["kind"] == "external"
        assert reconciler_of(Trees.open(world.prefix)).up_to_date()
    assert kills >= 8


def kill_points(every: int) -> list[int]:
    return list(range(1, 200, every))


def step_through_replacing_install(world: World, every: int) -> int:
    assert world.pip("install", "six==1.16.0").returncode == 0
    assert world.mason("verify").returncode == 0  # reconciled: six changed outside mason
    template = world.prefix.with_name("template")
    world.prefix.rename(template)
    outcomes: set[str] = set()
    kills = 0
    for n in kill_points(every):
        fresh(template, world.prefix)
        done = mason(
            "install",
            "--catalog",
            world.catalog,
            "--prefix",
            world.prefix,
            "six",
            env={KILL_ENV: str(n)},
        )
        if done.returncode == 0:
            outcomes.add("1.17.0")
            assert_consistent(world)
            break
        assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
        kills += 1
        # killed at any instant, before any recovery: one dist-info of six, never two or none
        assert len(world.dist_infos()) == 1, (n, world.dist_infos())
        verify = world.mason("verify")  # recovers first
        assert verify.returncode == 0, verify.stdout + verify.stderr
        records = assert_consistent(world)
        (dist,) = world.dist_infos()
        version = dist.removeprefix("six-").removesuffix(".dist-info")
        assert world.python("import six; print(six.__version__)") == version
        outside = records["six"].get("outside")
        assert (outside["now"] if outside else "1.17.0") == version
        outcomes.add(version)
    assert outcomes == {"1.16.0", "1.17.0"}  # both roll back and roll forward happened
    assert world.pip("check").returncode == 0
    return kills


def test_kill_during_the_replacing_install(world: World) -> None:
    assert step_through_replacing_install(world, 4) >= 3


@pytest.mark.slow
def test_kill_at_every_op_of_the_replacing_install(world: World) -> None:
    assert step_through_replacing_install(world, 1) >= 10
