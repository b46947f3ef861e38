"""The last run: recorded from the install events, read back and analysed for the report.

``mason install`` keeps every event of its run in ``var/log/mason/last-run.json``, with
what the run was (:class:`RunInfo`: when, the command, the prefix, ``-j``, the packages'
dependencies within the run). ``mason report`` reads it (:func:`load_run`) and turns it
into an HTML page (:mod:`mason.reporthtml`) or Chrome trace-event JSON
(:mod:`mason.reporttrace`). This module holds what both need: one :class:`Span` per
package, the critical path and how many packages ran at each moment.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from mason.errors import BadInput
from mason.events import Event, EventSink
from mason.layout import RUN_LOG

#: Phases that end a package's part of the run.
ENDS = ("done", "failed", "skipped")
FORMAT = 2


class EventJSON(TypedDict):
    phase: str
    package: str
    version: str
    message: str
    time: float


class RunInfoJSON(TypedDict):
    started: float
    command: list[str]
    prefix: str
    jobs: int
    dependencies: dict[str, list[str]]


class RunLogJSON(TypedDict, total=False):
    format: int
    run: RunInfoJSON
    events: list[EventJSON]


@dataclass(frozen=True)
class RunInfo:
    """What a run was: ``dependencies`` maps each planned package to the planned
    packages it waited for (by name)."""

    started: float
    command: tuple[str, ...]
    prefix: str
    jobs: int
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


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

    def save(self, prefix: Path, info: RunInfo | None = None) -> Path:
        """Write the events (and what the run was) atomically to the prefix's run log."""
        path = prefix / RUN_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        data: RunLogJSON = {
            "format": FORMAT,
            "events": [EventJSON(**asdict(e)) for e in self.events],  # type: ignore[typeddict-item]
        }
        if info is not None:
            data["run"] = {
                "started": info.started,
                "command": list(info.command),
                "prefix": info.prefix,
                "jobs": info.jobs,
                "dependencies": {k: list(v) for k, v in info.dependencies.items()},
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


@dataclass(frozen=True)
class Span:
    """One package's part of the run: its phases ``(phase, start, end)``, its outcome."""

    package: str
    version: str
    start: float
    end: float
    outcome: str  # done, failed, skipped, or "running" (the run ended first)
    message: str
    phases: tuple[tuple[str, float, float], ...]

    @property
    def label(self) -> str:
        return f"{self.package}-{self.version}"

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Run:
    """A recorded run: its events, read back, and what it was (``None`` for a run log
    written before mason kept it)."""

    events: tuple[EventJSON, ...]
    info: RunInfo | None = None

    @property
    def start(self) -> float:
        return min((e["time"] for e in self.events), default=0.0)

    @property
    def end(self) -> float:
        return max((e["time"] for e in self.events), default=0.0)

    def spans(self) -> list[Span]:
        """One span per package, in the order they started."""
        by_label: dict[str, list[EventJSON]] = {}
        for e in self.events:
            if e["package"]:
                by_label.setdefault(f"{e['package']}-{e['version']}", []).append(e)
        return [_span(evs, self.end) for evs in by_label.values()]

    def counts(self) -> dict[str, int]:
        """How many packages ended done, failed and skipped."""
        found = {outcome: 0 for outcome in ENDS}
        for span in self.spans():
            if span.outcome in found:
                found[span.outcome] += 1
        return found


def _span(events: Sequence[EventJSON], run_end: float) -> Span:
    last = events[-1]
    outcome = last["phase"] if last["phase"] in ENDS else "running"
    end = last["time"] if outcome != "running" else run_end
    phases = []
    for a, b in zip(events, [*events[1:], None], strict=True):
        if a["phase"] in ENDS or a["phase"] == "warning":
            continue
        phases.append((a["phase"], a["time"], b["time"] if b is not None else end))
    first = events[0]
    return Span(
        first["package"],
        first["version"],
        first["time"],
        end,
        outcome,
        last["message"],
        tuple(phases),
    )


def critical_path(run: Run) -> list[Span]:
    """The chain of packages that decided when the run ended, first to last.

    From the package that ended last, back through the dependency (within the run) that
    ended last, while there is one. Without recorded dependencies: the last package.
    """
    spans = {s.package: s for s in run.spans() if s.outcome != "skipped"}
    if not spans:
        return []
    deps = run.info.dependencies if run.info else {}
    chain = [max(spans.values(), key=lambda s: s.end)]
    while True:
        before = [spans[d] for d in deps.get(chain[-1].package, ()) if d in spans]
        if not before:
            return chain[::-1]
        chain.append(max(before, key=lambda s: s.end))


def busy(run: Run) -> list[tuple[float, int]]:
    """How many packages held a build slot, as ``(time, count)`` steps (count from that
    time on), from the run's ``slots`` events. A run log without them (written before
    mason recorded them) gives how many packages were between started and their end: that
    counts the ones prepared ahead and the merging ones too, so it may go above ``-j``."""
    told = [
        (e["time"], int(e["message"]))
        for e in run.events
        if e["phase"] == "slots" and str(e["message"]).isdigit()
    ]
    if told:
        return told
    changes: list[tuple[float, int]] = []
    for s in run.spans():
        if s.outcome != "skipped":
            changes += [(s.start, 1), (s.end, -1)]
    steps: list[tuple[float, int]] = []
    count = 0
    for when, delta in sorted(changes, key=lambda c: (c[0], c[1])):
        count += delta
        if steps and steps[-1][0] == when:
            steps[-1] = (when, count)
        else:
            steps.append((when, count))
    return steps


def _info(raw: Any) -> RunInfo | None:
    if not isinstance(raw, dict):
        return None
    deps = raw.get("dependencies", {})
    return RunInfo(
        started=float(raw.get("started", 0.0)),
        command=tuple(str(x) for x in raw.get("command", [])),
        prefix=str(raw.get("prefix", "")),
        jobs=int(raw.get("jobs", 1)),
        dependencies={str(k): tuple(v) for k, v in deps.items()} if isinstance(deps, dict) else {},
    )


def load_run(prefix: Path) -> Run:
    """The last run recorded in ``prefix``; :class:`BadInput` when there is none."""
    path = prefix / RUN_LOG
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"no run recorded in {prefix}", hint="run `mason install` first") from None
    except (OSError, json.JSONDecodeError) as e:
        raise BadInput(f"{path}: unreadable run log: {e}") from e
    if not isinstance(data, dict):
        raise BadInput(f"{path}: unreadable run log: not a JSON object")
    try:
        return Run(tuple(data.get("events", [])), _info(data.get("run")))
    except (TypeError, ValueError, AttributeError) as e:
        raise BadInput(f"{path}: unreadable run log: {e}") from e
