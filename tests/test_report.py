"""The run log and the HTML timeline of `mason report`."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from mason.events import Event
from mason.report import Recorder, load_run, render_html


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mason", *args], capture_output=True, text=True, check=False
    )


def test_recorder_forwards_and_saves_every_event(tmp_path: Path) -> None:
    seen: list[Event] = []
    rec = Recorder(seen.append)
    events = [
        Event("started", "zlib", "1.2", time=10.0),
        Event("building", "zlib", "1.2", time=11.0),
        Event("done", "zlib", "1.2", "3 file(s)", time=14.0),
        Event("started", "app", "2.0", time=14.5),
        Event("failed", "app", "2.0", "configure <failed>", time=15.0),
    ]
    for e in events:
        rec(e)
    assert seen == events
    rec.save(tmp_path)
    loaded = load_run(tmp_path)
    assert [(e["phase"], e["package"], e["time"]) for e in loaded] == [
        (e.phase, e.package, e.time) for e in events
    ]
    page = render_html(loaded)
    HTMLParser().feed(page)  # well-formed enough to parse
    assert "zlib-1.2" in page and "app-2.0" in page
    assert "configure &lt;failed&gt;" in page  # messages are escaped
    assert "2 packages, 5.0 s" in page


def test_report_without_a_run_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    done = _run("report", "--prefix", str(tmp_path / "p"), "-o", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert "no run recorded" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_of_a_real_install(tmp_path: Path) -> None:
    catalog = tmp_path / "pkgs"
    for name, deps in (("one", ""), ("two", "one")):
        d = catalog / name
        d.mkdir(parents=True)
        (d / "package-version.txt").write_text("1.0\n")
        (d / "type").write_text("standard\n")
        (d / "dependencies").write_text(deps + "\n")
        (d / "spkg-install.in").write_text(
            'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE"\n'
            'echo hi > "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE/hi.txt"\n'
        )
    prefix = tmp_path / "prefix"
    done = _run("install", "--catalog", str(catalog), "--prefix", str(prefix), "-j2")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "r.html"
    done = _run("report", "--prefix", str(prefix), "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "one-1.0" in page and "two-1.0" in page and "2 packages" in page
