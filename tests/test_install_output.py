"""What ``mason install`` shows: per-package logs, event lines when piped, a live view on
a terminal."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import threading
from pathlib import Path

from installsupport import install, mason, script_recipe

LINE = re.compile(r"^\[(?P<label>[a-z0-9_]+-[^\]]+)\] (?P<what>\S.*)$")


def catalog_of_three(catalog: Path) -> None:
    script_recipe(catalog, "first", body='echo "hello from $PKG_NAME"\n' + BODY)
    script_recipe(catalog, "second", deps="first")
    script_recipe(catalog, "third", version="2.0.p1")


BODY = 'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE" && touch "$_/f"\n'


def test_each_package_has_its_log(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    catalog_of_three(catalog)
    assert install(catalog, prefix, "second", "third").returncode == 0
    logs = prefix / "var/log/mason"
    assert sorted(p.name for p in logs.iterdir() if p.suffix == ".log") == [
        "first-1.0.log",
        "second-1.0.log",
        "third-2.0.p1.log",
    ]
    assert "hello from first-1.0" in (logs / "first-1.0.log").read_text()
    shown = mason("log", "--prefix", prefix, "first")
    assert shown.returncode == 0 and "hello from first-1.0" in shown.stdout


def test_piped_output_is_one_prefixed_line_per_event(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    catalog_of_three(catalog)
    proc = install(catalog, prefix, "second", "third", "-j2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "3 package(s) to install"
    assert lines[-1].startswith("installed 3, failed 0, skipped 0")
    events = [LINE.match(line) for line in lines[1:-1]]
    assert all(events), lines
    by_package: dict[str, list[str]] = {}
    for m in events:
        assert m is not None
        by_package.setdefault(m["label"], []).append(m["what"].split(":")[0])
    assert sorted(by_package) == ["first-1.0", "second-1.0", "third-2.0.p1"]
    for phases in by_package.values():
        assert phases == ["started", "building", "merging", "done"]
    assert "\x1b[" not in proc.stdout, "no terminal escapes when piped"
    # second may prepare while first merges (start_early), but builds only after it is done
    assert lines.index("[second-1.0] building") > next(
        i for i, line in enumerate(lines) if line.startswith("[first-1.0] done")
    )


def run_in_pty(args: list[str]) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a pseudo-terminal; return (status, output)."""
    main, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env
    )
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(), b"".join(chunks).decode(errors="replace")


def test_terminal_gets_the_live_display(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    catalog_of_three(catalog)
    # one slow package, so the live view refreshes at least once while it runs
    script_recipe(catalog, "slow", body="sleep 1\n" + BODY)
    status, out = run_in_pty(
        [
            sys.executable,
            "-m",
            "mason",
            "install",
            "--catalog",
            str(catalog),
            "--prefix",
            str(prefix),
            "second",
            "third",
            "slow",
            "-j2",
        ]
    )
    assert status == 0, out
    assert "\x1b[" in out, "rich drew with terminal escapes"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out).replace("\r", "\n")
    assert "4 package(s) to install" in text
    assert "0/0 done" not in text, "the view counts the planned packages from the start"
    assert re.search(r"[0-3]/4 done +1 running", text), "the live table was rendered"
    assert re.search(r"^  slow-1.0 +building", text, re.M), "with the running package"
    for label in ("first-1.0", "second-1.0", "third-2.0.p1", "slow-1.0"):
        assert re.search(rf"^ +done {label}: ", text, re.M), label
    assert "[second-1.0] started" not in text, "no piped-style lines"
    assert "installed 4, failed 0, skipped 0" in text


def test_the_live_view_never_prints_under_its_own_lock() -> None:
    # rich's Live refreshes holding its lock, then asks the view to render (the view's
    # lock); a job thread printing a "done" line under the view's lock, waiting for
    # Live's, deadlocked the two (a run hung with no output, killed by CI after 60 s).
    from rich.console import Console
    from rich.live import Live

    from mason.commands.display import LiveDisplay
    from mason.events import Event

    console = Console(file=io.StringIO(), force_terminal=True, force_interactive=True)
    view = LiveDisplay(console)
    live = Live(console=console, auto_refresh=False, get_renderable=view.render)
    live.start()
    with live._lock:  # as Live's refresh thread holds it
        printing = threading.Thread(target=view, args=(Event("done", "a", "1"),), daemon=True)
        printing.start()
        printing.join(0.5)  # it now waits for Live's lock to print its line
        rendered = threading.Thread(target=view.render, daemon=True)
        rendered.start()
        rendered.join(30)
    # deadlocked: leave the threads and the Live as they are (stopping it would hang too)
    assert not rendered.is_alive(), "render waited for a thread printing"
    printing.join(30)
    live.stop()
    assert "done" in console.file.getvalue()  # type: ignore[attr-defined]
