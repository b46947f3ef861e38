"""``mason selftest`` through the real CLI: on this machine's filesystems, and where a
guarantee cannot hold (a read-only filesystem)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from installsupport import mason
from mason.selftest.probes import all_probes
from smallfs import small_fs


def test_every_primitive_works_on_this_filesystem(tmp_path: Path) -> None:
    probes = all_probes(tmp_path)
    assert [(p.name, p.works, p.guarantee_lost) for p in probes] == [
        ("renameat2 RENAME_NOREPLACE", True, False),
        ("hard links", True, False),
        ("flock", True, False),
        ("fsync of directories", True, False),
    ]


@pytest.mark.slow
def test_selftest_passes_here_and_cleans_up(tmp_path: Path) -> None:
    proc = mason("selftest", "--dir", tmp_path, "--workers", "3", "--rounds", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("filesystem: ") for line in lines)
    for primitive in ("renameat2 RENAME_NOREPLACE", "hard links", "flock", "fsync of directories"):
        assert any(line.startswith(f"  yes {primitive}: ") for line in lines), primitive
    assert "  race: 3 concurrent merges, 0 problems" in lines
    assert any(line.startswith("  kill -9: ") and line.endswith(" 0 problems") for line in lines)
    assert lines[-1].startswith("selftest passed: mason's guarantees hold on ")
    assert list(tmp_path.iterdir()) == [], "the scratch directory is removed"


@pytest.mark.slow
def test_selftest_defaults_to_beside_the_prefix_and_speaks_json(tmp_path: Path) -> None:
    proc = mason("selftest", "--prefix", tmp_path / "local", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["directory"] == str(tmp_path) and report["ok"] is True
    assert report["race_merges"] == 24 and report["kills"] > 5


def test_selftest_fails_where_mason_cannot_write(tmp_path: Path) -> None:
    with small_fs(tmp_path / "ro", size="1m") as fs:
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        proc = mason("selftest", "--dir", fs)
    assert proc.returncode == 1
    assert "FAILED: writing: Read-only file system; none" in proc.stderr
    assert proc.stdout.splitlines()[-1].startswith(f"selftest FAILED on tmpfs at {fs}: writing")
