"""The run log and the HTML timeline of `mason report`."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mason.events import Event
from mason.report import EventJSON, Recorder, Run, busy, load_run
from mason.reporthtml import render_html
from recipefactory import write_recipe


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
    assert [(e["phase"], e["package"], e["time"]) for e in loaded.events] == [
        (e.phase, e.package, e.time) for e in events
    ]
    page = render_html(loaded)
    HTMLParser().feed(page)  # well-formed enough to parse
    assert "zlib-1.2" in page and "app-2.0" in page
    assert "configure &lt;failed&gt;" in page  # messages are escaped
    assert "2 packages, 5.0 s" in page


def _logged(*events: Event) -> Run:
    return Run(tuple(EventJSON(**asdict(e)) for e in events), None)  # type: ignore[typeddict-item]


def test_busy_slots_are_the_schedulers_count_or_for_an_older_log_the_open_spans() -> None:
    packages = [
        Event("started", "a", "1", time=1.0),
        Event("started", "b", "1", time=1.5),  # prepared ahead, no slot yet
        Event("merging", "a", "1", time=3.0),  # a's slot went to b
        Event("started", "c", "1", time=3.5),  # prepared ahead
        Event("done", "a", "1", time=4.0),
        Event("done", "b", "1", time=6.0),
        Event("done", "c", "1", time=7.0),
    ]
    told = [Event("slots", message=m, time=t) for t, m in [(1.0, "1"), (5.0, "1"), (6.5, "0")]]
    assert busy(_logged(*packages, *told)) == [(1.0, 1), (5.0, 1), (6.5, 0)]
    # a run log from before the slots events: packages between started and their end
    assert busy(_logged(*packages)) == [(1.0, 1), (1.5, 2), (3.5, 3), (4.0, 2), (6.0, 1), (7.0, 0)]


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


SLOW = 'sleep 0.6\nmkdir -p "$DESTDIR$PREFIX/share"\necho x > "$DESTDIR$PREFIX/share/$PKG_BASE"\n'
QUICK = 'mkdir -p "$DESTDIR$PREFIX/share"\necho x > "$DESTDIR$PREFIX/share/$PKG_BASE"\n'
FAILS = (
    'echo "checking for frobnicator... no"\necho "configure: error: frobnicator missing"\nexit 1\n'
)
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def run_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A -k -j2 run: base -> slow -> top (the critical path), bad fails, after skipped."""
    work = tmp_path_factory.mktemp("report")
    pkgs = work / "pkgs"
    write_recipe(pkgs, "base", files={"spkg-install.in": QUICK})
    write_recipe(pkgs, "slow", deps="base", files={"spkg-install.in": SLOW})
    write_recipe(pkgs, "top", deps="slow", files={"spkg-install.in": QUICK})
    write_recipe(pkgs, "bad", files={"spkg-install.in": FAILS})
    write_recipe(pkgs, "after", deps="bad", files={"spkg-install.in": QUICK})
    done = _run(
        "install", "--catalog", str(pkgs), "--prefix", str(work / "p"), "-k", "-j2", "--all"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    return work / "p"


VOID = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "source", "wbr"}


class _Dom(HTMLParser):
    """Elements by id and class, and the text inside each element that has an id."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.by_class: dict[str, list[dict[str, str | None]]] = {}
        self.text: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.by_id[str(a["id"])] = a
        for c in (a.get("class") or "").split():
            self.by_class.setdefault(c, []).append(a)
        if tag not in VOID:
            self._open.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _, key in self._open:
            if key:
                self.text[key] = self.text.get(key, "") + data


def test_the_report_in_a_browser(run_prefix: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (scripts/setup-dev installs it)")
    page = tmp_path / "report.html"
    done = _run("report", "--prefix", str(run_prefix), "-o", str(page))
    assert done.returncode == 0, done.stderr
    shot = tmp_path / "report.png"
    browser = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1200,1000",
            f"--screenshot={shot}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert browser.returncode == 0, browser.stderr[-2000:]
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    dom = _Dom()
    dom.feed(browser.stdout)
    assert dom.text["count-done"] == "3 done"
    assert dom.text["count-failed"] == "1 failed"
    assert dom.text["count-skipped"] == "1 skipped"
    assert "-k -j2 --all" in dom.text["summary"] and str(run_prefix) in dom.text["summary"]
    rows = {
        str(a["data-package"]): str(a["class"])
        for a in dom.by_class["row"]
        if a.get("data-package")
    }
    assert rows == {
        "base-1.0": "row done critical",
        "slow-1.0": "row done critical",
        "top-1.0": "row done critical",
        "bad-1.0": "row failed",
        "after-1.0": "row skipped",
    }
    (failure,) = dom.by_class["failure"]
    assert failure["data-package"] == "bad-1.0"
    assert str(run_prefix / "var/log/mason/bad-1.0.log") in dom.text["failures"]
    assert "configure: error: frobnicator missing" in dom.text["failures"]
    assert dom.by_id["slots"]["data-jobs"] == "2"
    assert dom.by_id["slots"]["data-peak"] == "2"
    assert len(dom.by_class["tick"]) >= 3
    assert "base-1.0" in dom.text["critical"] and "bad-1.0" not in dom.text["critical"]
    table = dom.text["durations"]
    assert table.index("slow-1.0") < table.index("base-1.0")  # slowest first


def test_the_trace_is_chrome_trace_event_json(run_prefix: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    done = _run("report", "--prefix", str(run_prefix), "--format", "trace", "-o", str(out))
    assert done.returncode == 0, done.stderr
    trace = json.loads(out.read_text())
    assert set(trace) == {"traceEvents", "displayTimeUnit", "otherData"}
    assert trace["otherData"]["counts"] == {"done": 3, "failed": 1, "skipped": 1}
    events = trace["traceEvents"]
    for e in events:
        assert e["ph"] in ("X", "M", "C") and isinstance(e["pid"], int)
        if e["ph"] == "X":
            assert isinstance(e["ts"], int) and e["ts"] >= 0
            assert isinstance(e["dur"], int) and e["dur"] > 0
            assert isinstance(e["tid"], int) and e["cat"] in ("package", "phase")
    packages = {e["name"]: e for e in events if e.get("cat") == "package"}
    assert set(packages) == {"base-1.0", "slow-1.0", "top-1.0", "bad-1.0"}
    assert packages["bad-1.0"]["args"]["outcome"] == "failed"
    assert [n for n, e in sorted(packages.items()) if e["args"]["critical_path"]] == [
        "base-1.0",
        "slow-1.0",
        "top-1.0",
    ]
    for e in events:  # every phase lies inside its package, on the same track
        if e.get("cat") == "phase":
            pkg = packages[e["args"]["package"]]
            assert pkg["tid"] == e["tid"]
            assert pkg["ts"] <= e["ts"] and e["ts"] + e["dur"] <= pkg["ts"] + pkg["dur"] + 1
    by_track: dict[int, list[tuple[int, int]]] = {}
    for e in packages.values():
        by_track.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in by_track.values():  # packages on one track never overlap
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {f"lane {t}" for t in by_track}
    slots = [e for e in events if e["ph"] == "C"]  # the job slots in use, against -j2
    assert {e["name"] for e in slots} == {"build slots"}
    assert max(e["args"]["in use"] for e in slots) == 2 and slots[-1]["args"]["in use"] == 0
    assert [e["ts"] for e in slots] == sorted(e["ts"] for e in slots)
