"""The last run's timeline: recorded from the install events, rendered as HTML.

``mason install`` keeps every event of its run in ``var/log/mason/last-run.json``;
``mason report`` turns that file into a self-contained HTML page with one bar per package
(from its start to its end, split by phase), so a maintainer sees what ran in parallel,
what waited, and where the time went.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict

from mason.errors import BadInput
from mason.events import Event, EventSink
from mason.layout import RUN_LOG

#: The run log, relative to the prefix.

_COLORS = {
    "started": "#bbb",
    "fetching": "#7fb3d5",
    "building": "#f5b041",
    "checking": "#af7ac5",
    "merging": "#58d68d",
}
_ENDS = {"done": "#1e8449", "failed": "#c0392b", "skipped": "#aaa"}


class EventJSON(TypedDict):
    phase: str
    package: str
    version: str
    message: str
    time: float


class RunLogJSON(TypedDict):
    format: int
    events: list[EventJSON]


class Recorder:
    """An event sink that keeps every event and passes it on to ``forward``."""

    def __init__(self, forward: EventSink) -> None:
        self._forward = forward
        self._lock = threading.Lock()
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
        self._forward(event)

    def save(self, prefix: Path) -> Path:
        """Write the events atomically to the prefix's run log; return its path."""
        path = prefix / RUN_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        data: RunLogJSON = {
            "format": 1,
            "events": [EventJSON(**asdict(e)) for e in self.events],  # type: ignore[typeddict-item]
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".last-run.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a full disk leaves no temporary behind
            raise
        return path


def load_run(prefix: Path) -> list[EventJSON]:
    """The events of the last run in ``prefix``; :class:`BadInput` when there is none."""
    path = prefix / RUN_LOG
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"no run recorded in {prefix}", hint="run `mason install` first") from None
    except (OSError, json.JSONDecodeError) as e:
        raise BadInput(f"{path}: unreadable run log: {e}") from e
    events: list[EventJSON] = data.get("events", []) if isinstance(data, dict) else []
    return events


def _rows(events: list[EventJSON]) -> dict[str, list[EventJSON]]:
    rows: dict[str, list[EventJSON]] = {}
    for e in events:
        if e["package"]:
            rows.setdefault(f"{e['package']}-{e['version']}", []).append(e)
    return rows


def render_html(events: list[EventJSON]) -> str:
    """A self-contained HTML timeline of ``events``."""
    if not events:
        return "<!doctype html><title>mason run</title><p>The run recorded no events.</p>"
    t0 = min(e["time"] for e in events)
    t1 = max(e["time"] for e in events)
    span = max(t1 - t0, 1e-6)
    out = [
        "<!doctype html><meta charset=utf-8><title>mason: last run</title>",
        "<style>body{font:13px sans-serif}.row{display:flex;align-items:center;height:18px}"
        ".name{width:260px;overflow:hidden;white-space:nowrap}.lane{position:relative;"
        "flex:1;height:14px;background:#f4f4f4}.seg{position:absolute;top:0;height:14px}"
        "</style>",
        f"<h1>mason: last run</h1><p>{len(_rows(events))} packages, {span:.1f} s</p>",
    ]
    for label, evs in sorted(_rows(events).items(), key=lambda kv: kv[1][0]["time"]):
        out.append(f"<div class=row><div class=name>{html.escape(label)}</div><div class=lane>")
        for a, b in itertools.pairwise(evs):
            left, width = (a["time"] - t0) / span * 100, (b["time"] - a["time"]) / span * 100
            color = _COLORS.get(a["phase"], "#ddd")
            title = html.escape(f"{a['phase']} {b['time'] - a['time']:.2f}s {a['message']}")
            out.append(
                f"<div class=seg title='{title}' style='left:{left:.3f}%;"
                f"width:{max(width, 0.2):.3f}%;background:{color}'></div>"
            )
        end = evs[-1]
        color = _ENDS.get(end["phase"], "#ddd")
        title = html.escape(f"{end['phase']}: {end['message']}")
        left = (end["time"] - t0) / span * 100
        out.append(
            f"<div class=seg title='{title}' style='left:{min(left, 99.6):.3f}%;"
            f"width:0.4%;background:{color}'></div></div></div>"
        )
    legend = " ".join(
        f"<span style='background:{c};padding:0 6px'>{p}</span>"
        for p, c in {**_COLORS, **_ENDS}.items()
    )
    out.append(f"<p>{legend}</p>")
    return "\n".join(out)
