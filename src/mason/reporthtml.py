"""``mason report``: the last run as one self-contained HTML page.

A header (date, command, prefix, ``-j``, counts), a timeline with a time axis (one lane
per package, split by phase; failed and skipped packages marked, the critical path
highlighted), a lane of how many packages ran against ``-j``, the failed packages with the
tail of their logs, the critical path, and a table of packages by duration.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from pathlib import Path

from mason.report import Run, Span, busy, critical_path

COLORS = {
    "started": "#bbb",
    "fetching": "#7fb3d5",
    "building": "#f5b041",
    "checking": "#af7ac5",
    "merging": "#58d68d",
}
PHASES = ("fetching", "building", "checking", "merging")
TAIL = 20

_STYLE = """
body{font:13px sans-serif;margin:16px}h1{margin:0 0 8px}h2{margin:20px 0 6px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dt{color:#666}
.counts span{padding:1px 6px;border-radius:3px}.c-done{background:#d5f5e3}
.c-failed{background:#f5b7b1}.c-skipped{background:#eee}
.row{display:flex;align-items:center;height:18px}.name{width:260px;overflow:hidden;
white-space:nowrap;text-overflow:ellipsis}.lane{position:relative;flex:1;height:14px;
background:#f4f4f4}.seg{position:absolute;top:0;height:14px}
.row.critical .name{font-weight:bold}.row.critical .lane{outline:2px solid #1f618d}
.row.failed .name{color:#c0392b;font-weight:bold}.row.skipped .name{color:#999}
.end{position:absolute;top:0;height:14px;width:3px}.axis{height:16px;background:none}
.tick{position:absolute;top:0;font-size:11px;color:#555;border-left:1px solid #aaa;
padding-left:2px}.slots .lane{height:40px;background:#fbfbfb}.slots{height:44px}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.failed td:first-child{color:#c0392b}
pre{background:#fdf2f2;padding:6px;overflow:auto;max-height:300px}
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _tick_step(span: float) -> float:
    """A round step giving about eight ticks over ``span`` seconds."""
    raw = max(span / 8, 1e-3)
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def _pct(t: float, t0: float, span: float) -> float:
    return (t - t0) / span * 100


def _header(run: Run, spans: Sequence[Span], span: float) -> list[str]:
    info = run.info
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info.started if info else run.start))
    rows = [("date", when)]
    if info is not None:
        command = " ".join(info.command) or "mason install"
        rows += [("command", command), ("prefix", info.prefix), ("-j", str(info.jobs))]
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows)
    counts = run.counts()
    badges = " ".join(
        f"<span class=c-{k} id=count-{k}>{counts[k]} {k}</span>"
        for k in ("done", "failed", "skipped")
    )
    return [
        "<header id=summary><h1>mason: last run</h1>",
        f"<dl>{dl}</dl>",
        f"<p class=counts>{len(spans)} packages, {span:.1f} s: {badges}</p></header>",
    ]


def _axis(t0: float, span: float) -> str:
    step = _tick_step(span)
    ticks = []
    for i in range(int(span / step) + 1):
        left = _pct(t0 + i * step, t0, span)
        if left > 96 and i:
            break  # its label would be cut off at the right edge
        label = f"{i * step:g} s"
        ticks.append(f"<span class=tick style='left:{left:.3f}%'>{label}</span>")
    lane = f"<div class='lane axis'>{''.join(ticks)}</div>"
    return f"<div class='row axis-row'><div class=name></div>{lane}</div>"


def _lane(s: Span, t0: float, span: float, critical: bool) -> str:
    classes = " ".join(["row", s.outcome] + (["critical"] if critical else []))
    out = [f"<div class='{classes}' data-package='{_esc(s.label)}'>"]
    out.append(f"<div class=name title='{_esc(s.label)}'>{_esc(s.label)}</div><div class=lane>")
    for phase, a, b in s.phases:
        left, width = _pct(a, t0, span), (b - a) / span * 100
        title = _esc(f"{s.label}: {phase} {b - a:.2f} s")
        color = COLORS.get(phase, "#ddd")
        out.append(
            f"<div class='seg {phase}' title='{title}' style='left:{left:.3f}%;"
            f"width:{max(width, 0.2):.3f}%;background:{color}'></div>"
        )
    end_color = {"done": "#1e8449", "failed": "#c0392b"}.get(s.outcome, "#aaa")
    left = min(_pct(s.end, t0, span), 99.7)
    title = _esc(f"{s.outcome}: {s.message}")
    out.append(
        f"<div class=end title='{title}' style='left:{left:.3f}%;background:{end_color}'></div>"
    )
    out.append("</div></div>")
    return "".join(out)


def _slots(run: Run, t0: float, span: float) -> str:
    """A step line of how many packages held a build slot, against the ``-j`` budget (dashed)."""
    steps = busy(run)
    jobs = run.info.jobs if run.info else max((c for _, c in steps), default=1)
    top = max([jobs, *(c for _, c in steps)]) or 1
    points, level = [], 0
    for when, count in steps:
        x = _pct(when, t0, span) * 10
        points += [f"{x:.1f},{40 - level / top * 38:.1f}", f"{x:.1f},{40 - count / top * 38:.1f}"]
        level = count
    jy = 40 - jobs / top * 38
    peak = max((c for _, c in steps), default=0)
    return (
        f"<div class='row slots' id=slots data-jobs='{jobs}' data-peak='{peak}'>"
        f"<div class=name>build slots in use (peak {peak}, -j {jobs})</div><div class=lane>"
        "<svg viewBox='0 0 1000 40' preserveAspectRatio='none' width='100%' height='40'>"
        f"<line x1='0' x2='1000' y1='{jy:.1f}' y2='{jy:.1f}' stroke='#c0392b' "
        "stroke-dasharray='6 4'/>"
        f"<polyline fill='none' stroke='#1f618d' stroke-width='2' points='{' '.join(points)}'/>"
        "</svg></div></div>"
    )


def _tail(log: Path) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-TAIL:]
    except OSError:
        return []


def _failures(spans: Sequence[Span], logs: Path | None) -> list[str]:
    failed = [s for s in spans if s.outcome == "failed"]
    if not failed:
        return []
    out = ["<section id=failures><h2>Failed packages</h2>"]
    for s in failed:
        out.append(
            f"<article class=failure data-package='{_esc(s.label)}'><h3>{_esc(s.label)}</h3>"
        )
        out.append(f"<p class=why>{_esc(s.message)}</p>")
        if logs is not None:
            log = logs / f"{s.label}.log"
            out.append(f"<p>log: <code class=log-path>{_esc(log)}</code></p>")
            tail = _tail(log)
            if tail:
                out.append(f"<pre class=log-tail>{_esc(chr(10).join(tail))}</pre>")
        out.append("</article>")
    out.append("</section>")
    return out


def _critical(chain: Sequence[Span]) -> list[str]:
    items = "".join(f"<li>{_esc(s.label)} ({s.duration:.1f} s)</li>" for s in chain)
    total = sum(s.duration for s in chain)
    return [
        "<section id=critical><h2>Critical path</h2>",
        f"<p>{len(chain)} package(s), {total:.1f} s of work in a chain</p>",
        f"<ol>{items}</ol></section>",
    ]


def _table(spans: Sequence[Span]) -> list[str]:
    head = "".join(f"<th>{h}</th>" for h in ("package", "outcome", "total", *PHASES))
    rows = []
    for s in sorted(spans, key=lambda s: -s.duration):
        by_phase = {p: 0.0 for p in PHASES}
        for phase, a, b in s.phases:
            if phase in by_phase:
                by_phase[phase] += b - a
        cells = "".join(f"<td>{by_phase[p]:.2f}</td>" for p in PHASES)
        rows.append(
            f"<tr class={s.outcome}><td>{_esc(s.label)}</td><td>{s.outcome}</td>"
            f"<td>{s.duration:.2f}</td>{cells}</tr>"
        )
    return [
        "<section id=durations><h2>Packages by duration (s)</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>",
    ]


def render_html(run: Run, logs: Path | None = None) -> str:
    """The page for ``run``; ``logs`` is the directory of the build logs (for the tails)."""
    head = (
        f"<!doctype html><meta charset=utf-8><title>mason: last run</title><style>{_STYLE}</style>"
    )
    spans = run.spans()
    if not spans:
        return head + "<h1>mason: last run</h1><p>The run recorded no packages.</p>"
    t0 = run.start
    span = max(run.end - t0, 1e-6)
    chain = critical_path(run)
    on_path = {s.label for s in chain}
    out = [head, *_header(run, spans, span), "<section id=timeline><h2>Timeline</h2>"]
    out.append(_axis(t0, span))
    out += [_lane(s, t0, span, s.label in on_path) for s in sorted(spans, key=lambda s: s.start)]
    out.append(_slots(run, t0, span))
    legend = " ".join(
        f"<span style='background:{c};padding:0 6px'>{p}</span>" for p, c in COLORS.items()
    )
    out.append(f"<p class=legend>{legend} <b>bold, outlined</b>: the critical path</p></section>")
    out += _failures(spans, logs)
    out += _critical(chain)
    out += _table(spans)
    return "\n".join(out)
