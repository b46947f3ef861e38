"""``mason selftest``: do mason's guarantees hold on this filesystem? (issue 16.6)

Where a prefix lives decides what mason can promise: NFS, Lustre, a container's overlay,
FUSE or an encrypted home may lack a primitive the store relies on. :func:`run` finds out
for real in a scratch directory under the directory given: which primitives work and
which fallback the store uses (:mod:`mason.selftest.probes`), then a short race stress
and a kill -9 harness on a scratch prefix there (:mod:`mason.selftest.stress`). The
scratch directory is removed afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mason.errors import BadInput
from mason.selftest.probes import Probe, all_probes, filesystem_of
from mason.selftest.stress import StressReport, kill_every_op, race

__all__ = ["Probe", "SelftestReport", "run"]


@dataclass
class SelftestReport:
    """What was found on the filesystem holding ``directory``."""

    directory: Path
    mount: Path
    fstype: str
    probes: list[Probe] = field(default_factory=list)
    race: StressReport = field(default_factory=StressReport)
    kill: StressReport = field(default_factory=StressReport)
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        lost = [f"{p.name}: {p.detail}; {p.fallback}" for p in self.probes if p.guarantee_lost]
        return lost + self.race.failures + self.kill.failures

    @property
    def ok(self) -> bool:
        return not self.failures

    def verdict(self) -> str:
        where = f"{self.fstype} at {self.mount}"
        if self.ok:
            fallbacks = [p.name for p in self.probes if not p.works]
            extra = f" (with fallbacks for: {', '.join(fallbacks)})" if fallbacks else ""
            return f"selftest passed: mason's guarantees hold on {where}{extra}"
        return f"selftest FAILED on {where}: {self.failures[0]}"


def run(
    directory: Path,
    *,
    workers: int = 8,
    rounds: int = 3,
    on_step: Callable[[str], None] | None = None,
) -> SelftestReport:
    """Probe the filesystem of ``directory``, then stress a scratch prefix in it."""
    if not directory.is_dir():
        raise BadInput(
            f"{directory}: not a directory", hint="pass --dir DIR, a directory that exists"
        )
    started = time.monotonic()
    mount, fstype = filesystem_of(directory)
    report = SelftestReport(directory, mount, fstype)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".mason-selftest-", dir=directory))
    except OSError as e:
        report.probes = [Probe("writing", False, e.strerror or str(e), "none", True)]
        return report
    try:
        _step(on_step, "probing the filesystem's primitives")
        report.probes = [
            Probe("writing", True, "a scratch directory was made"),
            *all_probes(scratch),
        ]
        if any(p.guarantee_lost for p in report.probes):
            return report  # the stress would only show the same failure again
        _step(on_step, f"race: {rounds} rounds of {workers} merges released together")
        report.race = race(scratch, workers, rounds)
        _step(on_step, "kill -9: an upgrade killed after each of its operations")
        report.kill = kill_every_op(scratch)
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        report.seconds = time.monotonic() - started


def _step(on_step: Callable[[str], None] | None, what: str) -> None:
    if on_step is not None:
        on_step(what)
