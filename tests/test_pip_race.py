"""``mason pip install X`` and ``mason install -j2 --all`` started together on one prefix.

Both start at one instant (a barrier: each child waits for a go-file before it execs
mason). ``mason pip`` holds the venv's lock for the whole pip run, so pip never runs
while a package merges; both succeed, and afterwards the records, ``verify`` and pip
agree: every catalog package mason's, ``other`` external, one dist-info per project.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipsupport import SITE, World, pip_args, six_template, world
from pypackages import wheel_recipe
from wheelfactory import make_wheel

__all__ = ["six_template", "world"]

_WAIT_THEN_EXEC = """
import os, sys, time
ready, go, *command = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
os.execv(sys.executable, [sys.executable, "-m", "mason", *command])
"""

NAMES = ("alpha", "beta", "gamma", "delta")


def add_wheels(w: World) -> None:
    for name in NAMES:
        files = {f"{name}/__init__.py": f"NAME = {name!r}\n", f"{name}/data.txt": "x" * 4000}
        wheel_recipe(w.catalog, name, make_wheel(w.catalog.parent / "w", name, "1.0", files))


def start_together(root: Path, *commands: list[str]) -> list[subprocess.Popen[str]]:
    go = root / "go"
    children = []
    for i, command in enumerate(commands):
        ready = root / f"ready{i}"
        argv = [sys.executable, "-c", _WAIT_THEN_EXEC, str(ready), str(go), *command]
        children.append(
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    deadline = time.monotonic() + 60
    while not all((root / f"ready{i}").exists() for i in range(len(commands))):
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.001)
    go.touch()
    return children


def one_round(w: World) -> None:
    common = ["--catalog", str(w.catalog), "--prefix", str(w.prefix)]
    install = ["install", *common, "-j2", "--all"]
    pip = ["pip", *common, *pip_args(w.links, ("install", "other"))]
    children = start_together(w.prefix.parent, install, pip)
    outputs = [child.communicate(timeout=300)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs

    rows = json.loads(w.mason("list", "--installed", "--json").stdout)
    kinds = {row["name"]: (row["kind"], row["changed_outside_mason"]) for row in rows}
    expected = {name: ("wheel", None) for name in (*NAMES, "six")}
    expected |= {"python_venv": ("venv", None), "other": ("external", "external: installed by pip")}
    assert kinds == expected
    verify = w.mason("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stderr == ""  # nothing was left to reconcile
    dists = sorted(p.name.split("-")[0] for p in (w.prefix / SITE).glob("*.dist-info"))
    assert dists == sorted(["other", "six", *NAMES])
    check = w.pip("check")
    assert check.returncode == 0, check.stdout


def race(w: World, rounds: int) -> None:
    add_wheels(w)
    template = w.prefix.with_name("template")
    w.prefix.rename(template)
    for _ in range(rounds):
        _fresh(template, w.prefix)
        one_round(w)


def test_mason_pip_racing_an_install(world: World) -> None:
    race(world, 2)


@pytest.mark.slow
def test_mason_pip_racing_an_install_20_rounds(world: World) -> None:
    race(world, 20)


def _fresh(template: Path, prefix: Path) -> None:
    import shutil

    for leftover in ("go", "ready0", "ready1"):
        (prefix.parent / leftover).unlink(missing_ok=True)
    shutil.rmtree(prefix, ignore_errors=True)
    shutil.copytree(template, prefix, symlinks=True)
