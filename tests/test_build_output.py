"""Seeing a build while it runs: ``install -v``, the ``checking`` phase, the last line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from conftest import REPO
from mason.commands.display import LiveDisplay
from mason.events import Event
from recipefactory import write_recipe

INSTALL = (
    'echo "compiling greet.c"\necho "linking greet"\n'
    'mkdir -p "$DESTDIR$PREFIX/share"\necho x > "$DESTDIR$PREFIX/share/greet"\n'
)
CHECK = 'echo "all 3 tests passed"\n'


def test_verbose_streams_build_output_prefixed_by_package(tmp_path: Path) -> None:
    files = {"spkg-install.in": INSTALL, "spkg-check.in": CHECK}
    write_recipe(tmp_path / "pkgs", "greet", files=files)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    argv = ["install", "-v", "--check", "--catalog", str(tmp_path / "pkgs")]
    argv += ["--prefix", str(tmp_path / "p"), "greet"]
    done = subprocess.run(
        [sys.executable, "-m", "mason", *argv], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for expected in (
        "[greet-1.0] compiling greet.c",
        "[greet-1.0] linking greet",
        "[greet-1.0] checking",
        "[greet-1.0] all 3 tests passed",
    ):
        assert expected in lines, done.stdout
    assert lines.index("[greet-1.0] linking greet") < lines.index("[greet-1.0] checking")
    assert lines.index("[greet-1.0] checking") < lines.index("[greet-1.0] all 3 tests passed")


def test_without_verbose_no_build_output(tmp_path: Path) -> None:
    write_recipe(tmp_path / "pkgs", "greet", files={"spkg-install.in": INSTALL})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    argv = ["install", "--catalog", str(tmp_path / "pkgs"), "--prefix", str(tmp_path / "p")]
    done = subprocess.run(
        [sys.executable, "-m", "mason", *argv, "greet"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "compiling greet.c" not in done.stdout


def test_the_live_view_shows_each_running_builds_last_line() -> None:
    console = Console(file=io.StringIO(), width=120)
    view = LiveDisplay(console)
    view(Event("planned", message="2 package(s) to install"))
    view(Event("started", "a", "1"))
    view(Event("building", "a", "1"))
    view(Event("started", "b", "1"))
    view(Event("checking", "b", "1"))
    view.line("a-1", "checking for gcc... gcc")
    view.line("b-1", "test 7 of 9 passed")
    console.print(view.render())
    rows = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert any("a-1" in r and "building" in r and "checking for gcc... gcc" in r for r in rows)
    assert any("b-1" in r and "checking" in r and "test 7 of 9 passed" in r for r in rows)


def test_the_logs_are_followed_only_for_a_display_that_shows_their_lines(tmp_path: Path) -> None:
    """On a pipe without ``-v`` no line is shown: the display gets the events directly
    (no thread polling the logs); with ``-v`` a real LogTail hands it the new lines."""
    from mason.commands.display import LineDisplay
    from mason.commands.logtail import LogTail, following

    out = io.StringIO()
    quiet = LineDisplay(out)
    with following(tmp_path, quiet) as sink:
        assert sink is quiet
    loud = LineDisplay(out, verbose=True)
    with following(tmp_path, loud) as sink:
        assert isinstance(sink, LogTail)
        sink(Event("started", "a", "1"))
        (tmp_path / "a-1.log").write_text("hello\n")
        sink(Event("done", "a", "1"))
    assert "[a-1] hello" in out.getvalue().splitlines()
