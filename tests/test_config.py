"""``mason.toml``, the environment and the flags, as a user sets them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO
from mason.cli import main
from mason.config import DEFAULT_JOBS, KEYS
from recipefactory import write_recipe

JOBS = 'mkdir -p "$DESTDIR$PREFIX/share"\necho "$SAGE_NUM_THREADS" > "$DESTDIR$PREFIX/share/jobs"\n'


@pytest.fixture
def work(cli_dir: Path) -> Path:
    write_recipe(cli_dir / "pkgs", "tool", files={"spkg-install.in": JOBS})
    return cli_dir


def test_every_key_is_documented_in_one_table() -> None:
    text = (REPO / "docs/config.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert sorted(rows) == sorted(KEYS)
    assert f"| `-j N`, `--jobs N` | `{DEFAULT_JOBS}` |" in text


def test_an_unknown_key_names_the_file_and_the_closest_key(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "mason.toml").write_text('[mason]\ncatalog = "pkgs"\njbos = 4\n')
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert f"mason: error: {work / 'mason.toml'}: unknown key 'jbos'\n" in err
    assert "mason: hint: did you mean 'jobs'?" in err
    assert not (work / "local").exists()


def installed_jobs(work: Path, *argv: str) -> str:
    assert main(["install", "--catalog", "pkgs", "tool", "--force", *argv]) == 0
    return (work / "local/share/jobs").read_text().strip()


def test_jobs_from_the_flag_the_environment_the_file_or_the_default(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert installed_jobs(work) == str(DEFAULT_JOBS)
    (work / "mason.toml").write_text("jobs = 3\n")
    assert installed_jobs(work) == "3"
    monkeypatch.setenv("MASON_JOBS", "2")
    assert installed_jobs(work) == "2"
    assert installed_jobs(work, "-j", "4") == "4"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("jobs = 0\n", None, "'jobs' takes a number of jobs of at least 1, not 0"),
        ("jobs = true\n", None, "'jobs' takes a number of jobs of at least 1, not True"),
        ("", "many", "MASON_JOBS takes a number of jobs of at least 1, not 'many'"),
    ],
)
def test_bad_jobs_are_errors_naming_where_they_came_from(
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    toml: str,
    env: str | None,
    message: str,
) -> None:
    (work / "mason.toml").write_text(toml)
    if env is not None:
        monkeypatch.setenv("MASON_JOBS", env)
    assert main(["install", "--catalog", "pkgs", "tool"]) == 2
    assert message in capsys.readouterr().err
    assert not (work / "local").exists()
