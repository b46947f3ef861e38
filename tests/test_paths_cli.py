"""Paths and names as users type them: ``owner`` paths, ``--catalog`` roots, ``lib64``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mason.cli import main
from recipefactory import write_recipe

TOOL = 'mkdir -p "$DESTDIR$PREFIX/bin"\necho a > "$DESTDIR$PREFIX/bin/tool"\n'
LIB = 'mkdir -p "$DESTDIR$PREFIX/lib64"\necho b > "$DESTDIR$PREFIX/lib64/libb.so"\n'


@pytest.fixture
def work(cli_dir: Path) -> Path:
    """``local`` with ``tool`` (bin/tool) and ``lib`` (lib64/libb.so) installed."""
    tmp_path = cli_dir
    write_recipe(tmp_path / "pkgs", "tool", files={"spkg-install.in": TOOL})
    write_recipe(tmp_path / "pkgs", "lib", files={"spkg-install.in": LIB})
    assert main(["install", "--catalog", "pkgs", "tool", "lib"]) == 0
    return tmp_path


def owners(
    capsys: pytest.CaptureFixture[str], prefix: Path, *paths: str
) -> tuple[int, dict[str, list[str]]]:
    capsys.readouterr()
    code = main(["owner", "--json", "--prefix", str(prefix), *paths])
    return code, json.loads(capsys.readouterr().out)


def test_owner_takes_paths_from_here_absolute_or_in_the_prefix(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = str(work / "local/bin/tool")
    code, found = owners(
        capsys, work / "local", "local/bin/tool", absolute, "bin/tool", "lib/libb.so"
    )
    assert code == 0
    assert found == {
        "local/bin/tool": ["tool"],  # relative to the current directory
        absolute: ["tool"],
        "bin/tool": ["tool"],  # relative to the prefix
        "lib/libb.so": ["lib"],
    }
    monkeypatch.chdir(work / "local/bin")
    code, found = owners(capsys, work / "local", "tool", "./tool")
    assert (code, found) == (0, {"tool": ["tool"], "./tool": ["tool"]})


def test_owner_of_a_path_outside_the_prefix(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["owner", str(work / "pkgs/tool/type")]) == 2
    assert f"not inside the prefix {work / 'local'}" in capsys.readouterr().err


def test_lib64_is_no_package_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert os.readlink(work / "local/lib64") == "lib"
    capsys.readouterr()
    assert main(["files", "tool"]) == 0
    assert capsys.readouterr().out == "bin/tool\n"
    assert main(["files", "lib"]) == 0
    assert capsys.readouterr().out == "lib/libb.so\n"
    assert main(["uninstall", "tool"]) == 0
    out = capsys.readouterr().out
    assert "kept" not in out and "shared" not in out
    assert main(["verify"]) == 0
    assert "recorded files checked: ok" in capsys.readouterr().out
    assert os.readlink(work / "local/lib64") == "lib"


@pytest.mark.parametrize("layout", ["pkgs", "build/pkgs"])
def test_catalog_given_as_the_directory_above(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    write_recipe(tmp_path / "root" / layout, "tool", files={"spkg-install.in": TOOL})
    assert main(["info", "--json", "--catalog", str(tmp_path / "root"), "tool"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(tmp_path / "root" / layout / "tool")


def test_a_mistyped_catalog_says_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_recipe(tmp_path / "mypkgs", "tool", files={"spkg-install.in": TOOL})
    assert main(["list", "--catalog", str(tmp_path / "mypkg")]) == 2
    err = capsys.readouterr().err
    assert f"no such catalog directory (did you mean {tmp_path / 'mypkgs'}?)" in err
