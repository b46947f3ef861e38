"""A catalog with one of every mistake: one run reports all of them, exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mason.catalog import Catalog, CatalogError
from recipefactory import write_recipe

# (file, line, words of the message) for every problem the corpus holds
EXPECTED = [
    ("Bad-Name/", None, "bad package name"),
    ("cyc_a/dependencies", 1, "dependency cycle: cyc_a -> cyc_b -> cyc_c -> cyc_a"),
    ("empty_type/type", 1, "empty type"),
    ("no_tarball/checksums.ini", None, "no tarball="),
    ("no_type/type", None, "missing"),
    ("no_version/package-version.txt", None, "missing"),
    ("shebang/spkg-install.in", 1, "shebang"),
    ("slash_version/package-version.txt", 1, "bad version '1.0/2'"),
    ("space_version/package-version.txt", 1, "bad version '1.0 beta'"),
    ("typo_dep/dependencies", 1, "unknown dependency 'zlb'"),
    ("typo_dep/dependencies", 1, "did you mean zlib?"),
    ("undecodable/dependencies", 2, "not UTF-8"),
    ("unknown_type/type", 1, "unknown type 'standrad'"),
    ("bad_checksum/checksums.ini", 2, "sha1= must be 40 hexadecimal digits"),
    ("bad_checksum/checksums.ini", 3, "malformed line"),
    ("bad_function/dependencies", 1, "unsupported make function"),
    ("bad_tree/trees.txt", 1, "unknown tree"),
    ("two_bars/dependencies", 1, "more than one '|'"),
]


def broken_catalog(root: Path) -> Path:
    pkgs = root / "pkgs"
    write_recipe(pkgs, "zlib", tarball=True)
    write_recipe(pkgs, "Bad-Name")
    write_recipe(pkgs, "no_version", version=None, tarball=True)
    write_recipe(pkgs, "space_version", version="1.0 beta")
    write_recipe(pkgs, "slash_version", version="1.0/2")
    write_recipe(pkgs, "empty_type", type="")
    write_recipe(pkgs, "unknown_type", type="standrad")
    write_recipe(pkgs, "no_type", files={"type": None})
    write_recipe(pkgs, "typo_dep", deps="zlb")
    write_recipe(pkgs, "cyc_a", deps="cyc_b")
    write_recipe(pkgs, "cyc_b", deps="cyc_c")
    write_recipe(pkgs, "cyc_c", deps="| cyc_a")
    write_recipe(pkgs, "no_tarball", files={"checksums.ini": "sha1=" + "0" * 40 + "\n"})
    write_recipe(pkgs, "undecodable", files={"dependencies": b"zlib\n# caf\xe9\n"})
    write_recipe(
        pkgs,
        "bad_checksum",
        files={"checksums.ini": "tarball=x-VERSION.tar.gz\nsha1=xyz\nthis is not ini\n"},
    )
    write_recipe(pkgs, "shebang", files={"spkg-install.in": "#!/bin/bash\nmake\n"})
    write_recipe(pkgs, "bad_function", deps="$(shell rm -rf /)")
    write_recipe(pkgs, "bad_tree", files={"trees.txt": "SAGE_ELSEWHERE\n"})
    write_recipe(pkgs, "two_bars", deps="zlib | zlib | zlib")
    return pkgs


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    pkgs = broken_catalog(tmp_path)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(pkgs)
    problems = caught.value.problems
    for file, line, words in EXPECTED:
        matches = [p for p in problems if p.file == file and p.line == line and words in p.message]
        assert matches, f"no problem {file}:{line} {words!r} in:\n{caught.value}"
    assert len(problems) == len(EXPECTED) - 1  # the typo's hint is part of its message
    assert all(p.package for p in problems)
    assert isinstance(caught.value, ValueError)


def test_the_cli_reports_them_all_and_touches_nothing(tmp_path: Path) -> None:
    pkgs = broken_catalog(tmp_path)
    prefix = tmp_path / "local"
    for command in (["plan"], ["plan", "--all", "--json"], ["list"], ["info", "zlib"], ["graph"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mason",
                *command,
                "--catalog",
                str(pkgs),
                "--prefix",
                str(prefix),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert f"catalog {pkgs} has {len(EXPECTED) - 1} problems" in done.stderr
        for file, line, words in EXPECTED:
            where = file if line is None else f"{file}:{line}"
            assert any(
                row.strip().startswith(where) and words in row for row in done.stderr.splitlines()
            ), f"{where} {words!r} missing from:\n{done.stderr}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkgs"]


def test_missing_catalog_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such catalog directory"):
        Catalog.load(tmp_path / "nowhere")


def test_a_variable_loop_is_reported(tmp_path: Path) -> None:
    pkgs = tmp_path / "pkgs"
    write_recipe(pkgs, "a", deps="$(X)")
    (tmp_path / "variables.ini").write_text("X = $(Y)\nY = $(X)\n")
    with pytest.raises(CatalogError, match=r"\.\./variables\.ini: variable X refers to itself"):
        Catalog.load(pkgs)
