"""The crash-injection harness of the uninstall and upgrade tests (no tests here).

:func:`kill_at_every_op` SIGKILLs an operation on a prefix (``Prefix.uninstall``, a merge
that upgrades or reinstalls, or the real ``mason uninstall``) right after its 1st, 2nd, ...
Nth filesystem operation (``MASON_TEST_KILL_AFTER_OPS``, counted in ``mason.store.fsops``),
recovers (``Prefix.recover()``, ``mason recover``, or implicitly through the next query),
and checks SPEC 10 after each kill: every package fully old, fully new or absent (the whole
tree and the records equal one of the two uninterrupted outcomes); every recorded file
present with its hash and no unclaimed file (``verify``); the ownership index equal to the
records; no journal entry or transaction directory left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mason.store import PackageMeta, Prefix
from mason.store.fsops import KILL_ENV
from storesupport import Spec, make_tree, normalized_records, tree_digest, wait_child

#: The prefix as a user sees it: every path outside var/ (type, mode, content) + records.
State = tuple[dict[str, str], dict[str, dict[str, object]]]
#: How an operation runs: forked (the API) or as the real command line.
Operation = Callable[[Path], None]


def state(root: Path) -> State:
    return tree_digest(root, skip_var=True), normalized_records(root)


def merge(root: Path, name: str, version: str, spec: Spec) -> None:
    """Stage ``spec`` and merge it as ``name-version`` (an upgrade when installed)."""
    p = Prefix(root)
    try:
        staged = make_tree(p.staging_dir(name), spec)
        p.merge(p.scan(staged, name), PackageMeta(name, version))
    finally:
        p.close()


def run_killed(root: Path, operation: Operation, kill_after: int) -> int:
    """Fork; the child runs ``operation`` with the kill hook armed. Returns the wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            os.environ[KILL_ENV] = str(kill_after)
            operation(root)
            code = 0
        finally:
            os._exit(code)
    return wait_child(pid)


def run_cli_killed(root: Path, argv: list[str], kill_after: int) -> int:
    """Run ``python -m mason argv... --prefix root`` with the kill hook armed."""
    env = {**os.environ, KILL_ENV: str(kill_after)}
    command = [sys.executable, "-m", "mason", *argv, "--prefix", str(root)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    # as a wait status, so both runners answer alike
    return 0 if done.returncode == 0 else signal.SIGKILL


def recover(root: Path, n: int) -> None:
    """Explicitly (API or CLI), or implicitly through the next query taking the lock."""
    if n % 3 == 0:
        done = subprocess.run(
            [sys.executable, "-m", "mason", "recover", "--prefix", str(root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    elif n % 3 == 1:
        Prefix(root).recover()
    else:
        Prefix(root).records()


def check_invariants(root: Path, expected: dict[str, State]) -> str:
    """SPEC 10 after recovery; returns which outcome the prefix is at (``old``/``new``)."""
    bookkeeping = root / "var/lib/mason"
    assert os.listdir(bookkeeping / "journal") == []
    assert not (bookkeeping / "txn").exists() or os.listdir(bookkeeping / "txn") == []
    now = state(root)
    matches = [label for label, s in expected.items() if s == now]
    assert matches, f"neither old nor new: {sorted(now[1])}"
    prefix = Prefix(root)
    try:
        report = prefix.verify()
        assert report.ok, report
        records = prefix.records()
        claims = {p: sorted(n for n, r in records.items() if p in r.files) for p in now[0]}
        claims = {p: owners for p, owners in claims.items() if owners}
        assert prefix.owner(list(claims)) == claims
    finally:
        prefix.close()
    return matches[0]


@dataclass(frozen=True)
class Kills:
    """What stepping through an operation saw."""

    kills: int
    outcomes: frozenset[str]


def kill_at_every_op(
    tmp_path: Path,
    setup: Callable[[Path], None],
    operation: Operation,
    *,
    cli: list[str] | None = None,
    cli_every: int = 4,
    also: Callable[[Path, str], None] | None = None,
) -> Kills:
    """Kill ``operation`` after its Nth filesystem operation for N = 1, 2, ... until it
    completes; recover and check the invariants after each kill. With ``cli``, every
    ``cli_every``-th run is the real command line ``mason *cli`` instead. ``also(root,
    outcome)`` checks more after each recovery (outcome ``old`` or ``new``)."""
    template, done_ref = tmp_path / "template", tmp_path / "reference"
    setup(template)
    setup(done_ref)
    operation(done_ref)
    expected = {"old": state(template), "new": state(done_ref)}
    assert expected["old"] != expected["new"]
    root = tmp_path / "p"
    kills, outcomes = 0, set()
    for n in range(1, 100_000):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(template, root, symlinks=True)
        if cli is not None and n % cli_every == 0:
            status = run_cli_killed(root, cli, n)
        else:
            status = run_killed(root, operation, n)
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            assert check_invariants(root, expected) == "new"
            if also is not None:
                also(root, "new")
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
        recover(root, n)
        outcome = check_invariants(root, expected)
        if also is not None:
            also(root, outcome)
        outcomes.add(outcome)
    return Kills(kills, frozenset(outcomes))
