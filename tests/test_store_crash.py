"""Crash injection: SIGKILL a merge after its Nth filesystem operation, for every N.

After each kill, recovery (explicit, or implicit in the next command taking the write
lock) must leave every package fully old, fully new, or absent; every recorded file present
with its hash; no file that no record claims; an ownership index matching the records.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from mason.store import PackageMeta, Prefix
from mason.store.fsops import KILL_ENV, POWER_LOG_ENV
from powercut import Model, lost_sets, read_log, replay
from smallfs import scratch_fs
from storesupport import (
    NAMESPACE_INIT,
    Link,
    Spec,
    assert_index_matches_records,
    install,
    make_tree,
    mason,
    normalized_records,
    tree_digest,
    wait_child,
)

SITE = "lib/python3.11/site-packages"
SHARED: Spec = {f"{SITE}/backports/__init__.py": NAMESPACE_INIT, "lib64": Link("lib")}
OTHER: Spec = {**SHARED, "share/pari/b.gp": "b", "include/b.h": "b"}


def old_version(extra: int) -> Spec:
    spec: dict[str, str | bytes | Link] = {
        **SHARED,
        "bin/a": "v1",
        "share/a/old.txt": "only in v1",
        f"{SITE}/backports/a1.py": "v1",
        "include/a.h": "v1",
    }
    spec.update({f"include/a/h{i}.h": f"v1 {i}" for i in range(extra)})
    return spec


def new_version(extra: int) -> Spec:
    spec: dict[str, str | bytes | Link] = {
        **SHARED,
        "bin/a": "v2",
        "share/a2/new.txt": "new dir",
        f"{SITE}/backports/a2.py": "v2",
        "include/a.h": "v2",
        "include/a_extra.h": "v2",
        "lib/liba.so": "v2",
        "share/pari/a.gp": "v2",
    }
    spec.update({f"include/a/h{i}.h": f"v2 {i}" for i in range(extra)})
    spec.update({f"share/pari/a{i}.gp": f"v2 {i}" for i in range(extra)})
    return spec


def base_prefix(root: Path, extra: int, upgrade: bool) -> None:
    install(root, "other", "1", OTHER)
    if upgrade:
        install(root, "pkga", "1", old_version(extra))


def fresh_copy(template: Path, root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(template, root, symlinks=True)


def merge_in_child(root: Path, staged: Path, env: dict[str, str]) -> int:
    """Fork; the child merges pkga 2 with ``env`` set (the kill hook, or the power-cut
    log). Returns the wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            os.environ.update(env)
            p = Prefix(root)
            p.merge(p.scan(staged, "pkga"), PackageMeta("pkga", "2"))
            code = 0
        finally:
            os._exit(code)
    return wait_child(pid)


def check_invariants(root: Path, expected: dict[str, tuple[dict[str, str], str]]) -> str:
    """All of SPEC 10 after recovery; returns which version pkga ended at."""
    state = root / "var/lib/mason"
    assert os.listdir(state / "journal") == []
    assert os.listdir(state / "txn") == []
    records = sorted(os.listdir(state / "installed"))
    versions = [r for r in records if r.startswith("pkga-")] or ["absent"]
    assert "other-1" in records and len(versions) == 1 and len(records) <= 2, records
    digest, records_json = expected[versions[0]]
    assert tree_digest(root, skip_var=True) == digest
    assert str(normalized_records(root)) == records_json
    report = Prefix(root).verify()
    assert report.ok, report
    assert_index_matches_records(Prefix(root))
    return versions[0]


def reference(tmp_path: Path, extra: int, upgrade: bool) -> dict[str, tuple[dict[str, str], str]]:
    out = {}
    old = tmp_path / "ref-old"
    base_prefix(old, extra, upgrade)
    new = tmp_path / "ref-new"
    base_prefix(new, extra, upgrade)
    install(new, "pkga", "2", new_version(extra))
    for label, root in (("pkga-1" if upgrade else "absent", old), ("pkga-2", new)):
        out[label] = (tree_digest(root, skip_var=True), str(normalized_records(root)))
    return out


def step_through_every_op(
    tmp_path: Path, extra: int, upgrade: bool, recover: Callable[[Path, int], None]
) -> int:
    expected = reference(tmp_path, extra, upgrade)
    template = tmp_path / "template"
    base_prefix(template, extra, upgrade)
    root = tmp_path / "p"
    kills = 0
    outcomes = set()
    for n in range(1, 10_000):
        fresh_copy(template, root)
        staged = make_tree(Prefix(root).staging_dir("pkga"), new_version(extra))
        status = merge_in_child(root, staged, {KILL_ENV: str(n)})
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            assert check_invariants(root, expected) == "pkga-2"
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        recover(root, n)
        outcomes.add(check_invariants(root, expected))
    assert outcomes == set(expected)  # both roll back and roll forward happened
    return kills


def recover_some_way(root: Path, n: int) -> None:
    """Explicitly (API or CLI), or implicitly through the next command taking the lock."""
    if n % 3 == 0:
        r = mason("recover", "--prefix", str(root))
        assert r.returncode == 0, r.stderr
    elif n % 3 == 1:
        Prefix(root).recover()
    else:  # the next query recovers on its own before reading
        assert Prefix(root).record("other") is not None


def test_kill_at_every_op_of_an_upgrade(tmp_path: Path) -> None:
    kills = step_through_every_op(tmp_path, 2, True, recover_some_way)
    print(f"{kills} kills")
    assert kills >= 20


@pytest.mark.slow
def test_kill_at_every_op_of_a_large_upgrade(tmp_path: Path) -> None:
    kills = step_through_every_op(tmp_path, 70, True, recover_some_way)
    print(f"{kills} kills")
    assert kills >= 200


def test_kill_at_every_op_of_a_first_install(tmp_path: Path) -> None:
    kills = step_through_every_op(tmp_path, 1, False, recover_some_way)
    assert kills >= 10


@pytest.mark.slow
def test_kill_at_every_op_of_a_large_first_install(tmp_path: Path) -> None:
    assert step_through_every_op(tmp_path, 40, False, recover_some_way) >= 40


# -- power loss, modelled (docs/merge.md) ---------------------------------------------------


def power_cut_sweep(
    tmp_path: Path, extra: int, upgrade: bool, model: Model, limit: int
) -> dict[str, int]:
    """Every state a power cut after every operation of the merge may leave (up to
    ``limit`` per crash point), recovered and checked; returns the counts."""
    with scratch_fs(tmp_path / "scratch") as scratch:
        return _power_cut_sweep(scratch, extra, upgrade, model, limit)


def _power_cut_sweep(
    tmp_path: Path, extra: int, upgrade: bool, model: Model, limit: int
) -> dict[str, int]:
    expected = reference(tmp_path, extra, upgrade)
    root, base, log = tmp_path / "p", tmp_path / "base", tmp_path / "ops.jsonl"
    base_prefix(root, extra, upgrade)
    staged = make_tree(Prefix(root).staging_dir("pkga"), new_version(extra))
    shutil.copytree(root, base, symlinks=True)
    assert merge_in_child(root, staged, {POWER_LOG_ENV: str(log)}) == 0
    ops = read_log(log)
    record = str(root / "var/lib/mason/installed/pkga-2")
    rng = random.Random(16)
    stats = {"operations": len(ops), "crash points": len(ops) + 1, "states": 0, "replay gaps": 0}
    for n in range(len(ops) + 1):
        for lost in lost_sets(ops, n, model, limit, rng):
            fresh_copy(base, root)
            stats["replay gaps"] += replay(ops, n, lost, root / "var/lib/mason/owners.sqlite")
            Prefix(root).recover()
            outcome = check_invariants(root, expected)
            stats["states"] += 1
            committed = any(o.kind == "rename" and o.fields["dst"] == record for o in ops[:n])
            if committed and not any(ops[i].fields.get("dst") == record for i in lost):
                assert outcome == "pkga-2", f"a durable commit was rolled back (cut after op {n})"
            if n == len(ops):
                assert outcome == "pkga-2", "a merge that returned was lost"
    return stats


@pytest.mark.parametrize("model", [pytest.param("ext4-ordered", marks=pytest.mark.slow), "weak"])
def test_power_cut_at_every_op_of_an_upgrade(tmp_path: Path, model: Model) -> None:
    stats = power_cut_sweep(tmp_path, 2, True, model, limit=8)
    print(f"power cut ({model}): {stats}")
    assert stats["states"] > stats["crash points"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ext4-ordered", "weak"])
@pytest.mark.parametrize("upgrade", [True, False], ids=["upgrade", "first-install"])
def test_power_cut_states_of_a_merge_in_depth(tmp_path: Path, model: Model, upgrade: bool) -> None:
    stats = power_cut_sweep(tmp_path, 6, upgrade, model, limit=128)
    print(f"power cut ({model}, {'upgrade' if upgrade else 'first install'}): {stats}")
    assert stats["states"] > stats["crash points"]
