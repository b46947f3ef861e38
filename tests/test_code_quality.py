"""The style and type gates, run by the default suite (and so by ``.ci/run``).

Each checker runs on the repository as a subprocess; any finding (or a checker that is not
installed: run ``scripts/setup-dev``) fails the test with the checker's own output.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

CHECKS = {
    "ruff check": ["ruff", "check", "--no-cache", "."],
    "ruff format": ["ruff", "format", "--check", "--no-cache", "."],
    "mypy --strict": ["mypy"],  # strict and the files to check: pyproject.toml
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_code_passes(name: str) -> None:
    argv = [sys.executable, "-m", *CHECKS[name]]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, f"{name} found problems:\n{done.stdout}{done.stderr}"
