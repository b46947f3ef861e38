"""The jobs a scheduler runs: one :class:`Job` per package, the graph they form, its
validation (every problem at once), each job's critical path (the scheduler's
priority), and what a run reports (:class:`SchedulerEvent`, :class:`Outcome`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mason.errors import BadInput
from mason.graph import CycleError, format_cycle, topological_order


@dataclass(frozen=True)
class Job:
    """One node of the DAG: usually one package build."""

    name: str
    deps: frozenset[str] = frozenset()
    """Jobs that must succeed before this one starts."""
    weight: float = 1.0
    """Expected duration (e.g. seconds of the last build); only ratios matter."""


EventKind = Literal["started", "finished", "failed", "skipped", "not_started", "slots"]


@dataclass(frozen=True)
class SchedulerEvent:
    """Something happened to a job; ``time`` is ``time.time()`` when it happened."""

    kind: EventKind
    job: str
    time: float
    error: BaseException | None = None
    """The exception ``work`` raised (``failed`` only)."""
    blocked_by: str | None = None
    """The failed job this one depends on (``skipped`` only)."""
    slots: int = 0
    """How many jobs hold a slot of the budget from ``time`` on (``slots`` only, whose
    ``job`` is empty): the count a run's report draws against ``-j``."""


@dataclass(frozen=True)
class Outcome:
    """What a :func:`run` did to every job."""

    done: tuple[str, ...]
    """Jobs that succeeded, in the order they finished."""
    failed: Mapping[str, BaseException]
    skipped: Mapping[str, str]
    """Job -> the failed job it (transitively) depends on."""
    not_started: tuple[str, ...]
    """Jobs never started because the run stopped (a failure without -k, or Ctrl-C)."""
    interrupted: bool = False
    signal: int = 0
    """The signal that stopped the run (SIGINT or SIGTERM; 0 if none did)."""
    lost_tokens: int = 0
    """Tokens found missing from the pool when all jobs were idle, and put back."""

    @property
    def ok(self) -> bool:
        """True if every job succeeded."""
        return not (self.failed or self.skipped or self.not_started or self.interrupted)


class BadJobGraph(BadInput):
    """The jobs given to :func:`run` do not form a valid DAG."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"cannot schedule these jobs:\n{lines}", hint="fix the dependencies named above"
        )


def validate(jobs: Mapping[str, Job]) -> None:
    """Raise :class:`BadJobGraph` listing every problem: names, unknown deps, cycles."""
    problems: list[str] = []
    for key, job in jobs.items():
        if key != job.name:
            problems.append(f"job {key!r} is keyed under another name ({job.name!r})")
        for dep in sorted(job.deps - jobs.keys()):
            problems.append(f"{key}: depends on {dep!r}, which is not a job")
        if not job.weight >= 0:
            problems.append(f"{key}: weight must be >= 0, not {job.weight}")
    if not problems:
        try:
            _order(jobs)
        except CycleError as e:
            problems.append(f"dependency cycle: {format_cycle(e.cycle)}")
    if problems:
        raise BadJobGraph(problems)


def critical_paths(jobs: Mapping[str, Job]) -> dict[str, float]:
    """For each job, its weight plus the heaviest chain of weights from it to a sink."""
    after = dependents(jobs)
    length: dict[str, float] = {}
    for name in reversed(_order(jobs)):
        tail = max((length[d] for d in after[name]), default=0.0)
        length[name] = jobs[name].weight + tail
    return length


def _order(jobs: Mapping[str, Job]) -> list[str]:
    return topological_order({name: tuple(job.deps) for name, job in jobs.items()})


def dependents(jobs: Mapping[str, Job]) -> dict[str, list[str]]:
    dependents: dict[str, list[str]] = {name: [] for name in jobs}
    for name, job in sorted(jobs.items()):
        for dep in job.deps:
            dependents[dep].append(name)
    return dependents
