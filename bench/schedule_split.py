"""Where ``bench/schedule.py``'s forced rebuild spends what the bound does not have.

Two parts, so that a makespan above the bound can be blamed on the right thing:

- :func:`simulate`: what an ideal list scheduler reaches on the same DAG and durations
  with mason's own priority (each job's critical path, :func:`mason.jobgraph.critical_paths`,
  ties by name, as :mod:`mason.scheduler` breaks them) and zero overhead: above the bound,
  the priority rule is to blame; at the bound, the rest is overhead;
- :func:`measure`: the run's own timestamps (the events of its run log, and the
  ``$EPOCHREALTIME`` each script wrote before and after its sleep) along the critical path
  of the bound (:func:`critical_chain`). Each gap between a package's script ending and
  the next one's starting is split into what the first did after its script (its slot
  given back, the scan, merge and record) and what the next did before its own (the
  scheduler starting it, its preparation and script start, the gate). What the run took
  after the chain's last script is the tail (other packages still running, the exit).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from dataclasses import dataclass
from graphlib import TopologicalSorter
from itertools import pairwise
from pathlib import Path

from mason.jobgraph import Job, critical_paths
from mason.layout import RUN_LOG

#: where each script of the bench writes ``<name> <start> <end>`` (see schedule.SCRIPT)
STAMPS = "share/schedule"


def simulate(
    durations: Mapping[str, float], prereqs: Mapping[str, tuple[str, ...]], jobs: int
) -> float:
    """The makespan of a list scheduler with mason's priority and no overhead."""
    graph = {n: Job(n, frozenset(prereqs[n]), durations[n]) for n in durations}
    priority = critical_paths(graph)
    waiting = {n: set(prereqs[n]) for n in durations}
    after: dict[str, list[str]] = {n: [] for n in durations}
    for name, deps in prereqs.items():
        for dep in deps:
            after[dep].append(name)
    ready = [(-priority[n], n) for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < jobs:
            name = heapq.heappop(ready)[1]
            heapq.heappush(running, (now + durations[name], name))
        now, name = heapq.heappop(running)
        for dependent in after[name]:
            waiting[dependent].discard(name)
            if not waiting[dependent]:
                heapq.heappush(ready, (-priority[dependent], dependent))
    return now


@dataclass(frozen=True)
class Step:
    """One link of the chain: ``package`` waited for ``dependency``."""

    dependency: str
    package: str
    release: float  # the dependency's script ended -> its merge starts (slot given back)
    merge: float  # the dependency's scan, merge, record, postinst ("merging" -> "done")
    wake: float  # the dependency done -> the package started (< 0: started early)
    prepare: float  # started -> slot granted (preparation, waiting for the dependency,
    # the script's start)
    gate: float  # the slot granted -> the script's fragment runs

    @property
    def gap(self) -> float:
        return self.release + self.merge + self.wake + self.prepare + self.gate


@dataclass(frozen=True)
class Split:
    """A forced rebuild's makespan, cut along its critical chain (seconds)."""

    startup: float  # process start -> the plan (interpreter, catalog, records, plan)
    first: float  # the plan -> the chain's first script starting
    scripts: float  # the chain's scripts (the sleeps and the fragment around them)
    steps: tuple[Step, ...]
    tail: float  # the chain's last script ended -> the process exited (other packages too)
    slot_extra: float  # slot-seconds held beyond the scripts, over every package
    packages: int

    @property
    def chain(self) -> tuple[str, ...]:
        return (self.steps[0].dependency, *(s.package for s in self.steps)) if self.steps else ()


def critical_chain(
    durations: Mapping[str, float], prereqs: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """The longest chain of ``durations`` through the DAG (the bound's critical path)."""
    finish: dict[str, float] = {}
    for name in TopologicalSorter(prereqs).static_order():
        finish[name] = max((finish[d] for d in prereqs[name]), default=0.0) + durations[name]
    chain = [max(finish, key=lambda n: finish[n])]
    while prereqs[chain[-1]]:
        chain.append(max(prereqs[chain[-1]], key=lambda d: finish[d]))
    return tuple(reversed(chain))


def measure(prefix: Path, chain: tuple[str, ...], started: float, ended: float) -> Split:
    """The split of the run that just installed into ``prefix`` along ``chain``
    (``started``, ``ended``: the process's wall clock)."""
    at: dict[str, dict[str, float]] = {}
    for event in json.loads((prefix / RUN_LOG).read_text())["events"]:
        if event["package"]:
            at.setdefault(event["package"], {})[event["phase"]] = event["time"]
        elif event["phase"] == "planned":
            planned = event["time"]
    for stamp in (prefix / STAMPS).iterdir():
        label, begin, end = stamp.read_text().split()
        name = label.rsplit("-", 1)[0]
        at[name]["t0"], at[name]["t1"] = float(begin), float(end)
    steps = tuple(_step(dep, name, at[dep], at[name]) for dep, name in pairwise(chain))
    held = sum(p["merging"] - p["building"] - (p["t1"] - p["t0"]) for p in at.values())
    return Split(
        startup=planned - started,
        first=at[chain[0]]["t0"] - planned,
        scripts=sum(at[n]["t1"] - at[n]["t0"] for n in chain),
        steps=steps,
        tail=ended - at[chain[-1]]["t1"],
        slot_extra=held,
        packages=len(at),
    )


def _step(dep: str, name: str, d: Mapping[str, float], p: Mapping[str, float]) -> Step:
    return Step(
        dependency=dep,
        package=name,
        release=d["merging"] - d["t1"],
        merge=d["done"] - d["merging"],
        wake=p["started"] - d["done"],
        prepare=p["building"] - p["started"],
        gate=p["t0"] - p["building"],
    )


def report(split: Split) -> list[str]:
    """The lines the bench prints for ``split``."""
    steps = split.steps
    gaps = sum(s.gap for s in steps)
    parts = ", ".join(
        f"{k} {sum(getattr(s, k) for s in steps):.2f}"
        for k in ("release", "merge", "wake", "prepare", "gate")
    )
    rows = [
        ("process start -> plan", split.startup, "s", ""),
        ("plan -> the chain's first script", split.first, "s", ""),
        (f"the chain's {len(split.chain)} scripts", split.scripts, "s", " ".join(split.chain)),
        (
            f"between them ({len(steps)} steps)",
            gaps,
            "s",
            f"{gaps / max(len(steps), 1) * 1000:.0f} ms a step: {parts}",
        ),
        ("the chain's last script -> exit", split.tail, "s", ""),
        (
            "slots held beyond the scripts",
            split.slot_extra,
            "slot-s",
            f"{split.slot_extra / split.packages * 1000:.1f} ms a package",
        ),
    ]
    return [
        f"  {label:<34}{value:6.2f} {unit}" + (f"  ({note})" if note else "")
        for label, value, unit, note in rows
    ]
