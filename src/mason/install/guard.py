"""The stray-write guard: a build must not write into a live store (the prefix, or a venv
apart from it).

One small interface, :class:`StrayWriteGuard`: ``begin()`` before a build returns a
:class:`GuardWindow` whose ``changes()`` after it are the store's paths changed meanwhile
(``None``: unknown). Two implementations: :class:`mason.prefixwatch.PrefixWatch`
(inotify, O(changed)) and :class:`mason.build.staged.SnapshotGuard` (a walk before and
after, O(prefix)). :class:`RunGuard` is what a run uses per store: its inotify watch,
started by the first build that needs it, and snapshots where inotify cannot be used. A
build that cannot write into the store at all (a sandbox) needs no guard: the pipeline
asks :meth:`mason.install.context.RunContext.guards` which ones apply.

What the guard saw is then checked by :class:`StrayCheck`: the paths this run's own
merges made, replaced or removed meanwhile are mason's doing, not the build's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from mason.build.staged import SnapshotGuard, check_changes
from mason.prefixwatch import PrefixWatch
from mason.store import Prefix, Record


class GuardWindow(Protocol):
    """One build's view of a store, from ``begin()`` on."""

    def changes(self) -> list[str] | None:
        """Paths (relative to the store's root) changed since ``begin()``, sorted;
        ``None`` when they are unknown. Called once."""
        ...


class StrayWriteGuard(Protocol):
    """Something that can tell what changed in a live store during a build."""

    def begin(self) -> GuardWindow:
        """Start watching for one build (called right before it)."""
        ...


class RunGuard:
    """A run's guard of ``root``: its :class:`PrefixWatch`, started when the first build
    needs it (a run of wheel packages, which build nothing, never walks the prefix), and
    a :class:`SnapshotGuard` where inotify cannot be used or ``watch`` is false. A context
    manager (closes the watch)."""

    def __init__(self, root: Path, *, watch: bool = True) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._started = not watch
        self._watch: PrefixWatch | None = None
        self._snapshot = SnapshotGuard(root)

    def begin(self) -> GuardWindow:
        """A window of the watch, or a snapshot."""
        watch = self._get()
        return watch.begin() if watch is not None else self._snapshot.begin()

    def _get(self) -> PrefixWatch | None:
        with self._lock:
            if not self._started:
                self._started = True
                self.root.mkdir(parents=True, exist_ok=True)
                self._watch = PrefixWatch.start(self.root)
            return self._watch

    def __enter__(self) -> RunGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._watch is not None:
            self._watch.close()


@contextmanager
def guarded(
    guards: Sequence[tuple[Prefix, StrayWriteGuard]],
    check: Callable[[Prefix, list[str] | None], None],
) -> Iterator[None]:
    """Run the body (a build) between ``begin()`` and ``changes()`` of every guard of a
    store that exists; then, if the body succeeded, ``check`` each store's changes."""
    windows = [(store, guard.begin()) for store, guard in guards if store.root.is_dir()]
    try:
        yield
    finally:
        changed = [(store, window.changes()) for store, window in windows]
    for store, changes in changed:
        check(store, changes)


class StrayCheck:
    """Tells a build's stray writes from the changes this run's merges made meanwhile."""

    def __init__(self) -> None:
        # Paths this run's merges made, replaced or removed, per store root (noted before
        # the merge where known then).
        self._merged: dict[Path, set[str]] = {}
        self._lock = threading.Lock()

    def note_merged(self, store: Prefix, paths: Iterable[str]) -> None:
        """Paths of ``store`` that this run's merges make, replace or remove."""
        with self._lock:
            self._merged.setdefault(store.root, set()).update(paths)

    def check(self, package: str, store: Prefix, changes: list[str]) -> None:
        """Raise :class:`~mason.build.errors.WroteIntoPrefix` for the ``changes`` of
        ``store`` that neither this run's merges nor other packages' intact files explain."""
        with self._lock:
            merged = self._merged.get(store.root, set())
            changes = [path for path in changes if path not in merged]
        root = store.root

        def legitimate(path: str) -> bool:
            # Other packages merge while this one builds: the directories they created
            # hold their files (checked one by one). A claimed file is explained when it
            # is as its owner's record says: merges never change a file in place.
            return (root / path).is_dir() and not (root / path).is_symlink()

        changes = [path for path in changes if not legitimate(path)]
        if not changes:
            return
        with store.read_locked() as index:
            owners = {path: index.owners_of(path) for path in changes}
        intact = _IntactCheck(store)
        check_changes(
            package,
            root,
            changes,
            ignore=lambda p: any(intact(p, owner) for owner in owners[p]),
        )


class _IntactCheck:
    """Whether a path is as its owner's record says (records read once per check)."""

    def __init__(self, prefix: Prefix) -> None:
        self._prefix = prefix
        self._records: dict[str, Record | None] = {}

    def __call__(self, path: str, owner: str) -> bool:
        from mason.store.verify import check_file

        if owner not in self._records:
            self._records[owner] = self._prefix.record(owner)
        record = self._records[owner]
        info = record.files.get(path) if record is not None else None
        return info is not None and check_file(self._prefix.root / path, info) is None
