"""A model-based soak (issue 16.5): random sequences of what users do, checked against a model.

A Hypothesis ``RuleBasedStateMachine`` drives the real ``mason`` CLI over a small catalog
of real bash recipes (``a``; ``b`` and ``c`` need ``a``; ``d`` needs ``b``): install at
``-j1`` or ``-j3``, a version bump then install, uninstall, ``--force`` reinstall, an
install SIGKILLed at a random filesystem operation of its merges, two installs at once.
After every step the prefix must match a simple model: which packages are installed at
which version, which files each owns, ``verify`` clean; and on demand a fresh prefix
built at ``-j1`` must hold the same tree as the soaked one.

The default suite runs a short sequence; ``-m slow`` runs at least 500 steps. A sequence
Hypothesis shrank to a failure is kept below as a regression test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from installsupport import records, tree
from recipefactory import write_recipe

DEPS = {"a": [], "b": ["a"], "c": ["a"], "d": ["b"]}
NAMES = sorted(DEPS)
BODY = """d="$SAGE_DESTDIR$SAGE_LOCAL"
mkdir -p "$d/share/$PKG_BASE" "$d/bin"
echo "$PKG_BASE common" > "$d/share/$PKG_BASE/common.txt"
echo "$PKG_BASE $PKG_VER" > "$d/share/$PKG_BASE/v$PKG_VER.txt"
echo "$PKG_BASE $PKG_VER" > "$d/bin/$PKG_BASE"
"""


def closure(names: list[str]) -> set[str]:
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(DEPS[name])
    return out


def owned(name: str, version: str) -> set[str]:
    """The files the model says package ``name`` at ``version`` owns (the ``lib64 -> lib``
    compat link is mason's: no package owns it, SPEC 4)."""
    return {f"bin/{name}", f"share/{name}/common.txt", f"share/{name}/v{version}.txt"}


def write_catalog(catalog: Path, versions: dict[str, int]) -> None:
    for name in NAMES:
        deps = " ".join(DEPS[name]) or None
        write_recipe(
            catalog,
            name,
            version=f"{versions[name]}.0",
            deps=deps,
            files={"spkg-install.in": BODY},
        )


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mason", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


class Soak(RuleBasedStateMachine):
    """The prefix under random use, and the model it must match after every step."""

    steps = 0  # checked steps, over every run (the slow test wants at least 500)

    def __init__(self) -> None:
        super().__init__()
        self.work = Path(tempfile.mkdtemp(prefix="mason-soak-"))
        self.catalog = self.work / "pkgs"
        self.prefix = self.work / "prefix"
        self.versions = dict.fromkeys(NAMES, 1)  # the catalog's
        self.installed: dict[str, int] = {}  # the model

    @initialize()
    def catalog_written(self) -> None:
        write_catalog(self.catalog, self.versions)

    def install(self, names: list[str], *flags: str, env: dict[str, str] | None = None) -> int:
        proc = run(
            "install", "--catalog", self.catalog, "--prefix", self.prefix, *names, *flags, env=env
        )
        assert proc.returncode in (0, -9), proc.stdout + proc.stderr
        return proc.returncode

    @rule(
        names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=2), jobs=st.sampled_from([1, 3])
    )
    def install_some(self, names: list[str], jobs: int) -> None:
        assert self.install(names, f"-j{jobs}") == 0
        for name in closure(names):
            self.installed[name] = self.versions[name]

    @rule(name=st.sampled_from(NAMES))
    def bump_and_install(self, name: str) -> None:
        self.versions[name] += 1
        write_catalog(self.catalog, self.versions)
        assert self.install([name], "-j3") == 0
        for dep in closure([name]):
            self.installed[dep] = self.versions[dep]

    @precondition(lambda self: bool(self.installed))
    @rule(data=st.data())
    def uninstall_a_leaf(self, data: st.DataObject) -> None:
        leaves = [
            n for n in sorted(self.installed) if not any(n in DEPS[m] for m in self.installed)
        ]
        name = data.draw(st.sampled_from(leaves))
        proc = run("uninstall", "--catalog", self.catalog, "--prefix", self.prefix, name)
        assert proc.returncode == 0, proc.stderr
        del self.installed[name]

    @precondition(lambda self: bool(self.installed))
    @rule(data=st.data())
    def force_reinstall(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.installed)))
        assert self.install([name], "--force") == 0
        for dep in closure([name]):
            self.installed[dep] = self.versions[dep]

    @rule(name=st.sampled_from(NAMES), after=st.integers(min_value=1, max_value=30))
    def install_killed_in_a_merge(self, name: str, after: int) -> None:
        """SIGKILL at the ``after``th filesystem operation of a merge: each package of the
        run ends fully at its old version or its new one (or absent if it was not there)."""
        self.versions[name] += 1
        write_catalog(self.catalog, self.versions)
        before = dict(self.installed)
        code = self.install([name], "-j1", env={"MASON_TEST_KILL_AFTER_OPS": str(after)})
        assert code in (0, -9), code
        assert run("recover", "--prefix", self.prefix).returncode == 0
        actual = self.actual_versions()
        for dep in closure([name]):
            allowed = {before.get(dep), self.versions[dep]}
            assert actual.get(dep) in allowed, (dep, actual.get(dep), allowed)
            if dep in actual:
                self.installed[dep] = actual[dep]
            else:
                self.installed.pop(dep, None)

    @rule(
        first=st.lists(st.sampled_from(NAMES), min_size=1, max_size=2),
        second=st.lists(st.sampled_from(NAMES), min_size=1, max_size=2),
    )
    def two_installs_at_once(self, first: list[str], second: list[str]) -> None:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mason",
                    "install",
                    "--catalog",
                    str(self.catalog),
                    "--prefix",
                    str(self.prefix),
                    *names,
                    "-j2",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for names in (first, second)
        ]
        outputs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        for name in closure(first + second):
            self.installed[name] = self.versions[name]

    @precondition(lambda self: all(self.versions[n] == v for n, v in self.installed.items()))
    @rule()
    def same_tree_at_j1(self) -> None:
        """A fresh prefix built at -j1 from the same catalog holds the same tree."""
        fresh = self.work / "fresh"
        shutil.rmtree(fresh, ignore_errors=True)
        if self.installed:
            proc = run(
                "install",
                "--catalog",
                self.catalog,
                "--prefix",
                fresh,
                *sorted(self.installed),
                "-j1",
            )
            assert proc.returncode == 0, proc.stderr
        assert without_var(tree(fresh) if fresh.exists() else {}) == without_var(tree(self.prefix))

    def actual_versions(self) -> dict[str, int]:
        return {n: int(r["package_version"].split(".")[0]) for n, r in records(self.prefix).items()}

    @invariant()
    def prefix_matches_the_model(self) -> None:
        Soak.steps += 1
        if not self.prefix.exists():
            assert not self.installed
            return
        proc = run("verify", "--prefix", self.prefix)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        recs = records(self.prefix)
        assert {
            n: int(r["package_version"].split(".")[0]) for n, r in recs.items()
        } == self.installed
        for name, data in recs.items():
            assert set(data["files"]) == owned(name, data["package_version"]), name

    def teardown(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def without_var(t: dict[str, tuple[str, int, str]]) -> dict[str, tuple[str, int, str]]:
    return {k: v for k, v in t.items() if not k.startswith("var")}


SHORT = settings(
    max_examples=1,
    stateful_step_count=4,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
LONG = settings(
    max_examples=25,
    stateful_step_count=20,  # at least 500 steps in all
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_soak_short() -> None:
    Soak.TestCase.settings = SHORT
    Soak.TestCase().runTest()


@pytest.mark.slow
def test_soak_500_steps() -> None:
    Soak.TestCase.settings = LONG
    Soak.steps = 0
    while Soak.steps < 500:
        Soak.TestCase().runTest()
    print(f"soak: {Soak.steps} steps checked")
