"""The prefix and its venv (SPEC 6): where the venv is, and which store holds a package.

By default the prefix itself is the venv. ``--venv DIR`` (``MASON_VENV``, ``venv`` in
``mason.toml``) chooses another directory:

- **inside the prefix** (``local/var/lib/venv``): one store, the prefix's; the venv's
  files are prefix paths under ``DIR``;
- **outside the prefix**: a second :class:`~mason.store.Prefix` rooted at ``DIR``, with
  its own records, claims, lock, journal and work directories under ``DIR/var/``. The venv
  package and every package of tree ``venv`` merge there, the others into the prefix.

Every package belongs to one tree (:func:`tree_of`): ``pip`` and ``wheel`` packages
always to the venv (that is where wheels go), the others as the recipe says
(``trees.txt``, else ``venv`` for packages with ``install-requires.txt``).

The prefix remembers its venv in :data:`~mason.layout.VENV_LOCATION` from the first
use on; later commands find it without ``--venv``, and another ``--venv`` is refused
(:class:`VenvMismatch`). A prefix made before that file existed is its own venv when it
holds a ``pyvenv.cfg``. A venv inside the prefix is remembered relative to it (``.``: the
prefix itself), so a copied or moved prefix keeps its own venv; one outside is remembered
absolute with its ``pyvenv.cfg`` ``home``, and a venv gone or re-made since is refused
(:class:`VenvGone`) before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mason.errors import BadInput, UsageError
from mason.layout import BOOKKEEPING, STATE_DIR, VENV_LOCATION, WHEELS_DIR
from mason.store import (
    NotInstalled,
    Prefix,
    Record,
    RecoveryReport,
    VerifyReport,
    newest_by_name,
)
from mason.store.headers import Summary
from mason.store.uninstall import UninstallReport
from mason.store.verify import FileProblem
from mason.venvlocation import check_outside, read_location, venv_home, write_location

if TYPE_CHECKING:
    from mason.catalog import Recipe
    from mason.catalog.model import Tree


@dataclass(frozen=True)
class VenvPlace:
    """Where the venv of ``prefix`` is (``root``; both absolute, normalized)."""

    prefix: Path
    root: Path

    @property
    def separate(self) -> bool:
        """Whether the venv lies outside the prefix (and so has a store of its own)."""
        return not self.root.is_relative_to(self.prefix)


class VenvMismatch(UsageError):
    """``--venv`` names another venv than the one the prefix already has."""

    def __init__(self, prefix: Path, remembered: Path, requested: Path) -> None:
        self.prefix = prefix
        self.remembered = remembered
        self.requested = requested
        super().__init__(
            f"--venv {requested}: the prefix {prefix} already has its venv at {remembered}",
            hint=f"leave --venv out (or pass --venv {remembered}); a prefix keeps one venv",
        )


class BadVenvDir(UsageError):
    """A ``--venv`` directory that cannot be the prefix's venv."""

    def __init__(self, venv: Path, why: str) -> None:
        self.venv = venv
        super().__init__(f"--venv {venv}: {why}", hint="choose another directory for the venv")


class OutsideTree(BadInput):
    """A package staged files outside the root of its tree (the prefix, or the venv)."""

    def __init__(self, package: str, tree: Tree, root: Path, paths: Sequence[Path]) -> None:
        self.package = package
        self.tree = tree
        self.root = root
        self.paths = tuple(paths)
        listing = "\n  ".join(str(p) for p in self.paths)
        where = "the venv" if tree == "venv" else "the prefix"
        if tree == "venv":
            hint = (
                "install under $SAGE_INST_LOCAL (the venv); a package installing into the "
                "prefix belongs to it: trees.txt saying SAGE_LOCAL"
            )
        else:
            hint = (
                "install under $SAGE_INST_LOCAL (the prefix); a package installing into the "
                "venv (wheels, sdh_pip_install) belongs to it: trees.txt saying SAGE_VENV"
            )
        super().__init__(
            f"{package}: installs outside its tree ({where} {root}):\n  {listing}", hint=hint
        )


def tree_of(recipe: Recipe) -> Tree:
    """The tree ``recipe`` installs into (``pip``/``wheel`` packages: always the venv)."""
    return "venv" if recipe.kind in ("pip", "wheel") else recipe.tree


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def remembered_venv(prefix: Path) -> Path | None:
    """The venv ``prefix`` remembers; the prefix itself if it is a venv made before mason
    remembered venvs; ``None`` when it has none yet."""
    found = read_location(_normal(prefix))
    return found[0] if found is not None else None


def locate_venv(prefix: Path, requested: Path | None = None) -> VenvPlace:
    """Where the venv of ``prefix`` is: ``requested``, or the remembered one, or the prefix.

    Raises :class:`VenvMismatch` when ``requested`` is not the remembered venv, and
    :class:`BadVenvDir` when it holds the prefix or lies in mason's own directories.
    Nothing is written.
    """
    prefix = _normal(prefix)
    found = read_location(prefix)
    if found is not None:
        check_outside(prefix, *found)
    remembered = found[0] if found is not None else None
    if requested is None:
        return VenvPlace(prefix, remembered or prefix)
    root = _normal(requested)
    _check_place(prefix, root)
    if remembered is not None and remembered != root:
        raise VenvMismatch(prefix, remembered, root)
    return VenvPlace(prefix, root)


def _check_place(prefix: Path, root: Path) -> None:
    if root == prefix:
        return
    if prefix.is_relative_to(root):
        raise BadVenvDir(root, f"it holds the prefix {prefix}")
    if root.is_relative_to(prefix):
        rel = root.relative_to(prefix)
        if any(rel.is_relative_to(d) for d in BOOKKEEPING):
            raise BadVenvDir(root, f"it lies in mason's own directories of the prefix ({rel})")
    real_prefix, real_root = Path(os.path.realpath(prefix)), Path(os.path.realpath(root))
    if not root.is_relative_to(prefix) and real_root.is_relative_to(real_prefix):
        raise BadVenvDir(root, f"it leads into the prefix {prefix} through a symlink")


def remember_venv(place: VenvPlace) -> None:
    """Write the venv's location into the prefix once (first writer wins, atomically); a
    venv outside the prefix gets its ``home`` added once it exists.

    Raises :class:`VenvMismatch` when the prefix already remembers another venv.
    """
    target = place.prefix / VENV_LOCATION
    inside = place.root.is_relative_to(place.prefix)
    home = None if inside else venv_home(place.root)
    found = read_location(place.prefix) if target.is_file() else None
    if found is not None and found[0] != place.root:
        raise VenvMismatch(place.prefix, found[0], place.root)
    if found is not None and (found[1] is not None or home is None):
        return
    where = os.path.relpath(place.root, place.prefix) if inside else str(place.root)
    if not write_location(place.prefix, where, home, replace=found is not None):
        remember_venv(place)  # another process wrote it meanwhile: compare with it


class Trees:
    """The stores of a prefix and its venv: one, or two when the venv is outside it.

    Queries (records, owners, files, verify) see the packages of both. Paths of the venv's
    own store are given absolute; the prefix's stay relative to the prefix.
    """

    def __init__(self, prefix: Prefix, place: VenvPlace) -> None:
        self.prefix = prefix
        self.place = place
        self.venv_store = (
            Prefix(place.root, lock_timeout=prefix.lock_timeout) if place.separate else None
        )

    @classmethod
    def open(cls, prefix: Path, venv: Path | None = None) -> Trees:
        """The trees of ``prefix``, its venv located by :func:`locate_venv`."""
        return cls(Prefix(prefix), locate_venv(prefix, venv))

    def store(self, tree: Tree) -> Prefix:
        """The store packages of ``tree`` merge into."""
        if tree == "venv" and self.venv_store is not None:
            return self.venv_store
        return self.prefix

    def store_for(self, recipe: Recipe) -> Prefix:
        """The store ``recipe`` merges into (its staged paths are relative to its root)."""
        return self.store(tree_of(recipe))

    def inst_local(self, recipe: Recipe) -> Path | None:
        """``$SAGE_INST_LOCAL`` of ``recipe``'s build: the venv for its packages, else
        ``None`` (the prefix)."""
        return self.place.root if tree_of(recipe) == "venv" else None

    @property
    def live(self) -> tuple[Prefix, ...]:
        """The stores a build must not write into: the prefix, and a venv apart from it
        (whether it exists yet or not)."""
        venv = self.venv_store
        return (self.prefix,) if venv is None else (self.prefix, venv)

    @property
    def wheel_store(self) -> Path:
        """The live wheel store (``$SAGE_SPKG_WHEELS``): in the venv's store, as SageMath
        keeps it under ``$SAGE_VENV`` (the prefix's unless the venv lies outside it)."""
        return self.store("venv").root / WHEELS_DIR

    def other(self, store: Prefix) -> Prefix | None:
        """The store that is not ``store`` (``None``: there is only one)."""
        if self.venv_store is None:
            return None
        return self.prefix if store is self.venv_store else self.venv_store

    @property
    def stores(self) -> tuple[Prefix, ...]:
        """The prefix's store, and the venv's when it has one that exists."""
        venv = self.venv_store
        if venv is None or not (venv.root / STATE_DIR).is_dir():
            return (self.prefix,)
        return (self.prefix, venv)

    def records(self) -> dict[str, Record]:
        """Every installed package's record, by name (both stores; of a package with a
        record in each, a transient state while it moves, the newest install)."""
        found = (r for store in self.stores for r in store.records().values())
        return newest_by_name((r.name, r.installed_at, r) for r in found)

    def summaries(self) -> dict[str, Summary]:
        """:meth:`records` without the files (from the indexes' headers tables)."""
        found = (s for store in self.stores for s in store.summaries().values())
        return newest_by_name((s.name, s.installed_at, s) for s in found)

    def store_of(self, name: str) -> Prefix | None:
        """The store holding ``name``'s record (``None``: not installed; the store of the
        newest install when both hold one)."""
        found = ((s, s.record(name)) for s in self.stores)
        held = [(name, r.installed_at, s) for s, r in found if r is not None]
        return newest_by_name(held).get(name)

    def record(self, name: str) -> Record | None:
        """The record of ``name``, or None if it is not installed."""
        store = self.store_of(name)
        return store.record(name) if store is not None else None

    def files(self, name: str) -> list[str]:
        """The paths ``name`` owns: relative to the prefix, absolute in the venv's store."""
        store = self.store_of(name)
        if store is None:
            raise NotInstalled(name, str(self.prefix.root))
        return [self._shown(store, p) for p in store.files(name)]

    def owner(self, paths: Sequence[str]) -> dict[str, list[str]]:
        """The packages owning each path (absolute, or relative to the prefix)."""
        found: dict[str, list[str]] = {}
        for path in paths:
            store = self._store_for_path(path)
            found[path] = store.owner([path])[path]
        return found

    def _store_for_path(self, path: str) -> Prefix:
        venv = self.venv_store
        if venv is None or not os.path.isabs(path):
            return self.prefix
        full = os.path.normpath(path)
        for root in {str(venv.root), os.path.realpath(venv.root)}:
            if full == root or full.startswith(root + os.sep):
                return venv
        return self.prefix

    def verify(self, names: Sequence[str] | None = None, jobs: int = 1) -> VerifyReport:
        """:meth:`Prefix.verify` of both stores, in one report."""
        if not names:
            return self._combined([(s, s.verify(None, jobs)) for s in self.stores])
        wanted = list(dict.fromkeys(names))
        by_store: dict[int, list[str]] = {}
        missing: list[str] = []
        for name in wanted:
            store = self.store_of(name)
            if store is None:
                missing.append(name)
            else:
                by_store.setdefault(id(store), []).append(name)
        if missing:
            raise NotInstalled(", ".join(missing), str(self.prefix.root))
        parts = [(s, s.verify(by_store[id(s)])) for s in self.stores if id(s) in by_store]
        return self._combined(parts)

    def _combined(self, parts: list[tuple[Prefix, VerifyReport]]) -> VerifyReport:
        def problems(store: Prefix, found: tuple[FileProblem, ...]) -> list[FileProblem]:
            return [replace(p, path=self._shown(store, p.path)) for p in found]

        return VerifyReport(
            missing=tuple(p for s, r in parts for p in problems(s, r.missing)),
            modified=tuple(p for s, r in parts for p in problems(s, r.modified)),
            unclaimed=tuple(self._shown(s, p) for s, r in parts for p in r.unclaimed),
            checked_files=sum(r.checked_files for _, r in parts),
        )

    def recover(self) -> RecoveryReport:
        """:meth:`Prefix.recover` of both stores."""
        reports = [s.recover() for s in self.stores]
        return RecoveryReport(
            rolled_forward=tuple(x for r in reports for x in r.rolled_forward),
            rolled_back=tuple(x for r in reports for x in r.rolled_back),
            index_rebuilt=all(r.index_rebuilt for r in reports),
        )

    def uninstall(self, name: str, *, force: bool = False) -> UninstallReport:
        """:meth:`Prefix.uninstall` in the store holding ``name``; paths shown as by
        :meth:`files`."""
        store = self.store_of(name)
        if store is None:
            raise NotInstalled(name, str(self.prefix.root))
        report = store.uninstall(name, force=force)
        if store is self.prefix:
            return report
        return replace(
            report,
            removed=tuple(self._shown(store, p) for p in report.removed),
            shared=tuple(self._shown(store, p) for p in report.shared),
            modified=tuple(self._shown(store, p) for p in report.modified),
        )

    def _shown(self, store: Prefix, path: str) -> str:
        return path if store is self.prefix else str(store.root / path)

    def close(self) -> None:
        """Close the stores' index connections."""
        for store in (self.prefix, self.venv_store):
            if store is not None:
                store.close()
