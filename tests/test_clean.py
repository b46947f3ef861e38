"""Disk hygiene: kept build directories are reported and removed, never one in use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from mason.cli import main
from recipefactory import write_recipe

FAIL = 'head -c 200000 /dev/zero > big\necho "configure: error: no"; exit 1\n'
OK = 'mkdir -p "$DESTDIR$PREFIX/share"\necho ok > "$DESTDIR$PREFIX/share/tool"\n'
HOLDER = """
import sys, time
from pathlib import Path
from mason import builddirs
print(builddirs.make(Path(sys.argv[1]), "other-1.0"), flush=True)
time.sleep(60)
"""


@pytest.fixture
def work(cli_dir: Path) -> Path:
    return cli_dir


def kept_dirs(work: Path) -> list[str]:
    base = work / "local/var/tmp/mason"
    return sorted(p.name for p in base.iterdir() if not p.name.startswith("."))


def test_a_failed_build_is_reported_kept_and_cleaned(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_recipe(work / "pkgs", "tool", files={"spkg-install.in": FAIL})
    assert main(["install", "--catalog", "pkgs", "tool"]) == 1
    out = capsys.readouterr().out
    (kept,) = kept_dirs(work)
    assert kept.startswith("tool-1.0-")
    assert "kept 1 build directory (" in out
    assert f"in {work / 'local/var/tmp/mason'}: `mason clean --builds` removes them" in out
    assert main(["clean"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"removed build directory {work / 'local/var/tmp/mason' / kept} (")
    assert lines[1].startswith("freed ") and lines[1].endswith(" KiB")
    assert kept_dirs(work) == []
    assert main(["clean", "--builds"]) == 0
    assert capsys.readouterr().out == "nothing to clean\n"


def test_a_successful_install_removes_its_older_kept_builds(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_recipe(work / "pkgs", "tool", files={"spkg-install.in": FAIL})
    write_recipe(work / "pkgs", "other", files={"spkg-install.in": FAIL})
    assert main(["install", "--catalog", "pkgs", "-k", "tool", "other"]) == 1
    capsys.readouterr()
    assert [d.split("-")[0] for d in kept_dirs(work)] == ["other", "tool"]
    write_recipe(work / "pkgs", "tool", version="1.1", files={"spkg-install.in": OK})
    assert main(["install", "--catalog", "pkgs", "tool"]) == 0
    assert "kept 1 build directory" in capsys.readouterr().out
    assert [d.split("-")[0] for d in kept_dirs(work)] == ["other"]  # not another package's


def test_clean_leaves_a_directory_another_mason_uses(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = work / "local/var/tmp/mason"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(base)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None
        busy = Path(holder.stdout.readline().strip())
        assert main(["clean"]) == 0
        assert capsys.readouterr().out == "nothing to clean\n"
        assert busy.is_dir()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert main(["clean"]) == 0
    assert capsys.readouterr().out.startswith(f"removed build directory {busy} (")
    assert not busy.exists()


def test_clean_sources_keeps_what_recipes_name(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_recipe(work / "pkgs", "tool", version="2.0", tarball=True)
    upstream = work / "upstream"
    upstream.mkdir()
    for name in ("tool-2.0.tar.gz", "tool-1.0.tar.gz", ".tool-3.0.tar.gz.x.part"):
        (upstream / name).write_bytes(b"x" * 3000)
    assert main(["clean", "--sources", "--catalog", "pkgs"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"removed source {upstream / 'tool-1.0.tar.gz'} (2.9 KiB)",
        "freed 2.9 KiB",
    ]
    assert sorted(p.name for p in upstream.iterdir()) == [
        ".tool-3.0.tar.gz.x.part",
        "tool-2.0.tar.gz",
    ]


def test_clean_cache(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = work / "cache"
    (cache / "unpacked/abc/tree").mkdir(parents=True)
    (cache / "unpacked/abc/tree/x.py").write_text("x = 1\n")
    monkeypatch.setenv("MASON_CACHE", str(cache))
    assert main(["clean", "--cache"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"removed cache {cache / 'unpacked'} (")
    assert list(cache.iterdir()) == []


def test_clean_builds_on_a_missing_prefix(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clean", "--all", "--catalog", "pkgs"]) == 2
    assert f"no prefix at {work / 'local'}" in capsys.readouterr().err
    assert not (work / "local").exists()
