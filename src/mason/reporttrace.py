"""``mason report --format trace``: the last run as Chrome trace-event JSON.

What Ninja and Bazel users load into Perfetto or ``chrome://tracing``: one complete
event (``"ph": "X"``, microseconds) per package and, nested in it on the same track, one
per phase. Packages that overlap in time go on different tracks (``tid``), named
``lane N`` by metadata events: a package prepared ahead or merging overlaps the others
without a job slot, so there may be more lanes than ``-j``. The job slots in use are the
``build slots`` counter (``"ph": "C"``), which never goes above ``-j``.
"""

from __future__ import annotations

from typing import Any

from mason.report import Run, Span, busy, critical_path

PID = 1


def _lanes(spans: list[Span]) -> list[int]:
    """A lane (track) for each span: the lowest one free when it starts."""
    ends: list[float] = []
    tracks = []
    for s in spans:
        free = next((i for i, end in enumerate(ends) if end <= s.start), None)
        if free is None:
            ends.append(s.end)
            free = len(ends) - 1
        ends[free] = s.end
        tracks.append(free + 1)
    return tracks


def render_trace(run: Run) -> dict[str, Any]:
    """The trace-event JSON object for ``run`` (``traceEvents``, ``displayTimeUnit``)."""
    spans = sorted((s for s in run.spans() if s.outcome != "skipped"), key=lambda s: s.start)
    t0 = run.start
    on_path = {s.label for s in critical_path(run)}

    def us(t: float) -> int:
        return round((t - t0) * 1e6)

    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": PID, "name": "process_name", "args": {"name": "mason install"}}
    ]
    tracks = _lanes(spans)
    for track in sorted(set(tracks)):
        events.append(
            {
                "ph": "M",
                "pid": PID,
                "tid": track,
                "name": "thread_name",
                "args": {"name": f"lane {track}"},
            }
        )
    for s, track in zip(spans, tracks, strict=True):
        args = {"outcome": s.outcome, "message": s.message, "critical_path": s.label in on_path}
        events.append(
            {
                "name": s.label,
                "cat": "package",
                "ph": "X",
                "pid": PID,
                "tid": track,
                "ts": us(s.start),
                "dur": max(us(s.end) - us(s.start), 1),
                "args": args,
            }
        )
        for phase, a, b in s.phases:
            events.append(
                {
                    "name": phase,
                    "cat": "phase",
                    "ph": "X",
                    "pid": PID,
                    "tid": track,
                    "ts": us(a),
                    "dur": max(us(b) - us(a), 1),
                    "args": {"package": s.label},
                }
            )
    for when, count in busy(run):
        events.append(
            {
                "name": "build slots",
                "ph": "C",
                "pid": PID,
                "ts": us(when),
                "args": {"in use": count},
            }
        )
    other: dict[str, Any] = {"counts": run.counts()}
    if run.info is not None:
        other |= {
            "command": list(run.info.command),
            "prefix": run.info.prefix,
            "jobs": run.info.jobs,
        }
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}
