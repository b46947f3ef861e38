"""What every package of a run shares: the catalog, the trees, the options, the job
budget, the guards of the live stores, the trash and the Python session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mason.catalog import Catalog, Recipe
from mason.events import Event, EventSink, Phase
from mason.install.guard import StrayCheck, StrayWriteGuard
from mason.install.options import InstallOptions
from mason.jobserver import Jobserver
from mason.store import Prefix, Record
from mason.trash import Trash
from mason.trees import Trees

if TYPE_CHECKING:
    from mason.binarycache.session import CacheSession
    from mason.install.python import PythonSession


@dataclass
class RunContext:
    """One run (or one :meth:`~mason.install.Installer.install_one` outside a run)."""

    catalog: Catalog
    trees: Trees
    options: InstallOptions
    upstream: Path
    emit: EventSink
    trash: Trash
    python: PythonSession
    jobserver: Jobserver | None = None
    #: per store root: its guard during builds (none: builds are not checked there)
    store_guards: dict[Path, StrayWriteGuard] = field(default_factory=dict)
    stray: StrayCheck = field(default_factory=StrayCheck)
    #: the records when the run started (``None``: outside a run, read when needed)
    previous: dict[str, Record] | None = None
    #: the binary cache of the run (``None``: no cache configured, no ``--push``)
    cache: CacheSession | None = None
    #: per package, the scheduler's priority (its critical path): the order in which
    #: merges waiting for the prefix lock go (empty outside a run)
    priority: Mapping[str, float] = field(default_factory=dict)

    @property
    def prefix(self) -> Prefix:
        """The prefix's store."""
        return self.trees.prefix

    def event(self, phase: Phase, recipe: Recipe, message: str = "") -> None:
        """Report ``phase`` of ``recipe``."""
        self.emit(Event(phase, recipe.name, recipe.version, message))

    def pass_fds(self) -> tuple[int, ...]:
        """The file descriptors a build's processes inherit (the jobserver's)."""
        return self.jobserver.pass_fds() if self.jobserver is not None else ()

    def guards(self) -> list[tuple[Prefix, StrayWriteGuard]]:
        """The guards a build runs under, per live store."""
        return [
            (store, self.store_guards[store.root])
            for store in self.trees.live
            if store.root in self.store_guards
        ]

    def previous_files(self, name: str) -> tuple[str, ...]:
        """The files of the installed version of ``name`` (which its merge may remove)."""
        previous = self.previous
        record = previous.get(name) if previous is not None else self.prefix.record(name)
        return tuple(record.files) if record is not None else ()
