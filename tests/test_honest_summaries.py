"""Summaries that tell the truth: broken dependents, live and final counts alike."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from conftest import REPO
from mason.cli import main
from mason.commands.display import LiveDisplay
from mason.events import Event
from recipefactory import write_recipe

FILE = 'mkdir -p "$DESTDIR$PREFIX/share"\necho x > "$DESTDIR$PREFIX/share/$PKG_BASE"\n'


@pytest.fixture
def work(cli_dir: Path) -> Path:
    tmp_path = cli_dir
    write_recipe(tmp_path / "pkgs", "lib", files={"spkg-install.in": FILE})
    write_recipe(tmp_path / "pkgs", "app", deps="lib", files={"spkg-install.in": FILE})
    assert main(["install", "--catalog", "pkgs", "app"]) == 0
    return tmp_path


def test_forced_uninstall_names_what_it_broke_and_verify_reports_it(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["uninstall", "--force", "lib"]) == 0
    assert "mason: warning: app is now broken: it needs lib\n" in capsys.readouterr().err
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "broken    app: needs lib, not installed\n" in out
    assert out.endswith("problems found\n")
    assert main(["verify", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["missing_dependencies"]) == (False, {"app": ["lib"]})
    assert main(["install", "--catalog", "pkgs", "lib"]) == 0
    assert main(["verify"]) == 0


def test_the_live_view_counts_failed_and_skipped_apart() -> None:
    console = Console(file=io.StringIO(), width=100)
    view = LiveDisplay(console)
    for event in [
        Event("planned", message="3 package(s) to install"),
        Event("done", "a", "1"),
        Event("failed", "b", "1", "exit 1"),
        Event("skipped", "c", "1", "dependency b failed"),
    ]:
        view(event)
    console.print(view.render())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "3/3 done" in text
    assert "1 failed, 1 skipped" in text


def test_automatic_recovery_says_one_line(work: Path) -> None:
    staged = work / "staged/share/other"
    staged.mkdir(parents=True)
    for i in range(5):
        (staged / f"f{i}").write_text(f"{i}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MASON_TEST_KILL_AFTER_OPS": "3"}
    argv = [sys.executable, "-m", "mason", "merge", "other", "1.0", str(work / "staged")]
    killed = subprocess.run([*argv, "--prefix", str(work / "local")], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    env.pop("MASON_TEST_KILL_AFTER_OPS")
    again = subprocess.run(
        [sys.executable, "-m", "mason", "install", "--catalog", "pkgs", "app", "--force"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if "recovered" in line]
    assert len(said) == 1, again.stderr
    assert re.fullmatch(
        r"mason: recovered: an interrupted change of other-1\.0 was (completed|rolled back)",
        said[0],
    )
