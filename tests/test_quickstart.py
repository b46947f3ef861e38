"""The README's quick start, run as written, with a stock distribution ``python3``.

Debian's and Ubuntu's ``python3`` are externally managed (PEP 668): ``pip install .``
outside a venv is refused. The quick start must work there, in one command. This test
runs the README's first command word for word in a fresh copy of the repository, with a
``python3`` first on ``PATH`` that is externally managed (``wheelhouse.system_python``),
and pip kept offline: no index, and a ``--find-links`` directory holding mason's
dependencies re-packed from this interpreter plus a setuptools wheel found on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from wheelhouse import system_python, wheelhouse

# where this kind of machine keeps wheels (the local package index, Debian's python3-*-whl)
MACHINE_WHEELS = (Path("/opt/pypi/files"), Path("/usr/share/python-wheels"))


def quick_start_command() -> str:
    """The first indented command under ``## Quick start`` in the README."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    return next(line.strip() for line in section.splitlines() if line.startswith("    "))


def fresh_copy(dest: Path) -> Path:
    """The repository's files as a clone would have them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def setuptools_dirs() -> list[str]:
    found = [d for d in MACHINE_WHEELS if any(d.glob("setuptools-*.whl"))]
    if not found:
        pytest.skip(f"no setuptools wheel in {', '.join(map(str, MACHINE_WHEELS))} (offline)")
    return [str(d) for d in found]


def test_the_quick_start_command_makes_a_venv() -> None:
    command = quick_start_command()
    assert command.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert command.endswith("&& local/bin/hello")


@pytest.mark.slow
def test_quick_start_on_an_externally_managed_python(tmp_path: Path) -> None:
    run_quick_start(system_python(tmp_path / "system"), tmp_path)


@pytest.mark.slow
def test_quick_start_on_the_distributions_own_python3(tmp_path: Path) -> None:
    """Debian 12's python3 is 3.11.2: older than the interpreter the tests run on."""
    python = Path("/usr/bin/python3")
    if not python.exists() or not list(Path("/usr/lib").glob("python3.*/EXTERNALLY-MANAGED")):
        pytest.skip(f"{python} is not a distribution's externally managed python3")
    run_quick_start(python, tmp_path)


def run_quick_start(python: Path, tmp_path: Path) -> None:
    """The README's first command in a fresh copy, ``python`` first on PATH, pip offline."""
    refused = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "externally-managed-environment" in refused.stderr

    wheels = tmp_path / "wheels"
    wheelhouse(wheels, ["packaging", "installer", "rich"])
    repo = fresh_copy(tmp_path / "mason")
    env = {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": " ".join([str(wheels), *setuptools_dirs()]),
    }
    env.pop("PYTHONPATH", None)  # the mason that runs is the one pip installed
    done = subprocess.run(
        ["bash", "-c", quick_start_command()], cwd=repo, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("Hello from mason's demo, built with")
    mason = repo / ".venv/bin/mason"
    assert Path(os.path.realpath(repo / ".venv/bin/python")).parent == python.parent.resolve()
    listed = subprocess.run(
        [str(mason), "list", "--installed"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0
    assert ["hello", "1.0"] in [line.split() for line in listed.stdout.splitlines()]
