"""A read-only prefix (an HPC stack exported read-only) and a prefix that does not exist.

The read-only prefix is a real read-only bind mount in a private mount namespace
(``unshare -m``), so any write, even by root, fails with EROFS: a query that passes wrote
nothing. A command that must write says the prefix is read-only, exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from mason.cli import main
from recipefactory import write_recipe

INSTALL = 'mkdir -p "$DESTDIR$PREFIX/bin"\necho hi > "$DESTDIR$PREFIX/bin/tool"\n'
MOUNT_RO = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_size) for p in root.rglob("*")
    }


def read_only(prefix: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``mason ARGV`` with ``prefix`` mounted read-only for it alone."""
    command = ["unshare", "-m", "sh", "-c", MOUNT_RO, "sh", str(prefix)]
    command += [sys.executable, "-m", "mason", *argv]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``work/local`` with package ``tool`` installed from ``work/pkgs``."""
    work = tmp_path_factory.mktemp("ro")
    probe = work / "probe"
    probe.mkdir()
    if read_only(probe, "--version", cwd=work).returncode != 0:
        pytest.skip("no private read-only bind mount here (unshare -m needs CAP_SYS_ADMIN)")
    write_recipe(work / "pkgs", "tool", version="1.0", files={"spkg-install.in": INSTALL})
    argv = ["install", "--catalog", str(work / "pkgs"), "--prefix", str(work / "local"), "tool"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "mason", *argv], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    return work


QUERIES = {
    "list": (["list", "--installed"], "tool  1.0"),
    "info": (["info", "tool"], "installed version: 1.0"),
    "files": (["files", "tool"], "bin/tool"),
    "owner": (["owner", "bin/tool"], "bin/tool: tool"),
    "verify": (["verify"], "recorded files checked: ok"),
    "plan": (["plan", "tool"], "nothing to do: 1 package(s) up to date"),
    "log": (["log", "tool"], "spkg-install exited with status 0"),
    "report": (["report", "-o", "../report.html"], "wrote ../report.html"),
}


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_queries_on_a_read_only_prefix(installed: Path, query: str) -> None:
    argv, expected = QUERIES[query]
    before = snapshot(installed / "local")
    done = read_only(installed / "local", *argv, "--catalog", "pkgs", cwd=installed)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert snapshot(installed / "local") == before


def test_owner_without_an_index_on_a_read_only_prefix(installed: Path) -> None:
    index = installed / "local/var/lib/mason/owners.sqlite"
    saved = index.read_bytes()
    index.unlink()
    try:
        done = read_only(installed / "local", "owner", "bin/tool", "--json", cwd=installed)
        assert done.returncode == 0, done.stderr
        assert '"bin/tool": [\n    "tool"\n  ]' in done.stdout
        assert not index.exists()
    finally:
        index.write_bytes(saved)


WRITERS = {
    "install": ["install", "--force", "tool"],
    "uninstall": ["uninstall", "tool"],
    "recover": ["recover"],
    "merge": ["merge", "other", "1.0", "pkgs/tool"],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_writers_say_the_prefix_is_read_only(installed: Path, command: str) -> None:
    done = read_only(installed / "local", *WRITERS[command], "--catalog", "pkgs", cwd=installed)
    assert done.returncode == 2
    assert f"mason: error: the prefix {installed / 'local'} is read-only" in done.stderr
    assert "Traceback" not in done.stderr


NEEDS_A_PREFIX = {
    "list": ["list", "--installed"],
    "files": ["files", "tool"],
    "owner": ["owner", "bin/tool"],
    "verify": ["verify"],
    "log": ["log", "tool"],
    "report": ["report"],
    "recover": ["recover"],
    "uninstall": ["uninstall", "tool"],
}


@pytest.mark.parametrize("command", sorted(NEEDS_A_PREFIX))
def test_a_missing_prefix_is_reported_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    missing = tmp_path / "nowhere"
    code = main([*NEEDS_A_PREFIX[command], "--prefix", str(missing)])
    assert code == 2
    assert f"mason: error: no prefix at {missing}: nothing is installed there" in (
        capsys.readouterr().err
    )
    assert not missing.exists()


@pytest.mark.parametrize("argv", [["plan", "tool"], ["info", "tool"], ["graph", "tool"]])
def test_catalog_queries_on_a_missing_prefix_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    write_recipe(tmp_path / "pkgs", "tool", files={"spkg-install.in": INSTALL})
    missing = tmp_path / "nowhere"
    assert main([*argv, "--catalog", str(tmp_path / "pkgs"), "--prefix", str(missing)]) == 0
    assert not missing.exists()
