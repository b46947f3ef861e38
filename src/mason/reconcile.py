"""Keeping the records true when users run pip on the venv (SPEC 13).

pip upgrades, downgrades, removes and adds distributions behind mason's back. Every
command that reads the venv's state first asks :class:`VenvReconciler` (through
:meth:`mason.store.Prefix.reconcile`) whether anything changed, cheaply: one directory
listing per ``site-packages`` and the ``*.dist-info`` names and inode numbers found
there, compared with the listing mason kept the last time
(``var/lib/mason/venv-dists.json``); no file is read or hashed when they are equal.

When they differ, under the store's write lock, each project whose dist-info changed is
looked at (and only then are files read and hashed):

- a dist-info a mason record claims, whose ``INSTALLER`` says ``mason``: mason's own;
- any other: the distribution another installer (``INSTALLER``, pip) put there. The mason
  package that had the project is marked changed outside mason (``six: pip replaced
  1.17.0 with 1.16.0``) and claims what is there now: the files of the current ``RECORD``
  (hashed now) and those of its own still there. A project mason never had becomes an
  **external** package (record kind ``external``) claiming its ``RECORD``'s files;
- a project gone: a mason package is marked removed outside mason (its record keeps only
  what is still there); an external package's record goes.

The record changes and the new listing are written in one journaled transaction
(:mod:`mason.store.rewrite`). This module lives outside :mod:`mason.python` on purpose:
importing that package loads the wheel machinery, far more than the check costs.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mason.layout import BOOKKEEPING, STATE_DIR
from mason.store import FileInfo, Record
from mason.store.outside import EXTERNAL, Outside
from mason.store.rewrite import RecordChanges, RecordsView
from mason.store.staged import sha256_file

if TYPE_CHECKING:
    from mason.trees import Trees

#: mason's last listing of the venv's dist-info directories (relative to the store).
LISTING = f"{STATE_DIR}/venv-dists.json"
LISTING_FORMAT = 1
_VENV_CACHE = f"{STATE_DIR}/venv.json"  # mason.python.venv's answer: the scheme paths
MASON = "mason"
_BOOKKEEPING = tuple(f"{d}/" for d in BOOKKEEPING)

Listing = dict[str, int]  # dist-info directory (relative to the store) -> inode


def project_of(dist_info: str) -> str:
    """The package name of a ``name-version.dist-info`` directory's project."""
    name = os.path.basename(dist_info).removesuffix(".dist-info").rpartition("-")[0]
    return re.sub(r"[^a-z0-9_]", "_", re.sub(r"[-_.]+", "_", name).lower())


def version_of(dist_info: str) -> str:
    """The version in a ``name-version.dist-info`` directory's name."""
    return os.path.basename(dist_info).removesuffix(".dist-info").rpartition("-")[2]


def site_dirs(store: Path, venv: Path) -> tuple[str, ...]:
    """The venv's ``site-packages`` (purelib, platlib) relative to ``store``, from mason's
    cache of the venv (none: no venv made by mason yet)."""
    try:
        cache = json.loads((store / _VENV_CACHE).read_text(encoding="utf-8"))
        schemes = cache["schemes"]
        found = [os.path.normpath(venv / schemes[k]) for k in ("purelib", "platlib")]
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    rels = [os.path.relpath(p, store) for p in found]
    return tuple(dict.fromkeys(r for r in rels if not r.startswith("..")))


class VenvReconciler:
    """The :class:`~mason.store.rewrite.Reconciler` of the venv whose store is at
    ``store`` (the prefix, or the venv's own store when it lies outside the prefix)."""

    def __init__(self, store: Path, venv: Path) -> None:
        self.root = store
        self.sites = site_dirs(store, venv)

    def observe(self) -> Listing:
        """The dist-info directories there now, with their inode numbers (readdir's own:
        nothing is stat'ed)."""
        found: Listing = {}
        for site in self.sites:
            try:
                with os.scandir(self.root / site) as entries:
                    for entry in entries:
                        if entry.name.endswith(".dist-info"):
                            found[f"{site}/{entry.name}"] = entry.inode()
            except (FileNotFoundError, NotADirectoryError):
                continue
        return found

    def last(self) -> Listing | None:
        """The listing mason kept the last time (``None``: never reconciled)."""
        try:
            data = json.loads((self.root / LISTING).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != LISTING_FORMAT:
            return None
        dists = data.get("dists")
        return dists if isinstance(dists, dict) else None

    def up_to_date(self) -> bool:
        return not self.sites or self.observe() == self.last()

    def changes(self, view: RecordsView) -> RecordChanges:
        now, before = self.observe(), self.last()
        if before is None:  # never reconciled: every dist-info the records claim counts
            before = {d: -1 for d in _claimed_dist_infos(view.records, self.sites)}
        changed = {d for d in now.keys() | before.keys() if now.get(d) != before.get(d)}
        records = dict(view.records)
        write: dict[str, Record] = {}
        drop: list[str] = []
        notes: list[str] = []
        for project in sorted({project_of(d) for d in changed}):
            present = sorted(d for d in now if project_of(d) == project)
            gone = sorted(d for d in changed if d in before and project_of(d) == project)
            found = _Project(self.root, view, records, project, present, gone).result()
            if found is None:
                continue
            change, note = found
            notes.append(note)
            if isinstance(change, Record):
                records[change.name] = write[change.name] = change
            else:
                records.pop(change, None)
                write.pop(change, None)
                drop.append(change)
        listing = json.dumps({"format": LISTING_FORMAT, "dists": now}, sort_keys=True)
        return RecordChanges(
            tuple(write.values()), tuple(drop), ((LISTING, listing.encode()),), tuple(notes)
        )


class _Project:
    """One project whose dist-info directories changed: who had it, what is there now."""

    def __init__(
        self,
        root: Path,
        view: RecordsView,
        records: Mapping[str, Record],
        project: str,
        present: list[str],
        gone: list[str],
    ) -> None:
        self.root = root
        self.view = view
        self.records = records
        self.project = project
        self.present = present
        self.gone = gone

    def result(self) -> tuple[Record | str, str] | None:
        """The record to write (or the name of the one to drop) and what happened; ``None``
        when the records are true already."""
        foreign = [d for d in self.present if not self._mine(d)]
        owner = self._owner()
        if foreign:
            return self._replaced(owner, foreign)
        if self.present or owner is None:
            return None
        return self._removed(self.records[owner])

    def _owner(self) -> str | None:
        """The package that had the project: a mason package first, else an external one."""
        found: list[str] = []
        for dist in [*self.gone, *self.present]:
            found += self.view.owners_of(f"{dist}/RECORD")
        found.append(self.project)
        for name, record in self.records.items():
            if record.outside is not None and record.outside.dist_info in self.gone:
                found.append(name)
        known = [n for n in dict.fromkeys(found) if n in self.records]
        ours = [n for n in known if not _external(self.records[n])]
        return next(iter(ours or known), None)

    def _mine(self, dist: str) -> bool:
        """Whether mason installed ``dist`` (a record claims it, ``INSTALLER`` says mason)."""
        owners = self.view.owners_of(f"{dist}/RECORD")
        ours = any(o in self.records and self.records[o].outside is None for o in owners)
        return ours and _installer(self.root / dist) == MASON

    def _still_there(self, record: Record, taken: Iterable[str] = ()) -> dict[str, FileInfo]:
        """``record``'s files that are still there, not under a dist-info that went, and not
        ``taken`` by the distribution there now."""
        skip = set(taken)
        gone = tuple(f"{d}/" for d in self.gone)
        return {
            path: info
            for path, info in record.files.items()
            if path not in skip and not path.startswith(gone) and os.path.lexists(self.root / path)
        }

    def _removed(self, record: Record) -> tuple[Record | str, str] | None:
        if _external(record):
            return record.name, f"{record.name}: {record.version} uninstalled outside mason"
        was = record.outside.was if record.outside is not None else record.version
        outside = Outside(None, was, None, None)
        new = replace(record, files=self._still_there(record), outside=outside)
        return None if new == record else (new, outside.note(record.name))

    def _replaced(self, owner: str | None, foreign: list[str]) -> tuple[Record | str, str] | None:
        dist = foreign[-1]
        files: dict[str, FileInfo] = {}
        for d in foreign:
            files |= _record_files(self.root, d)
        installer, version = _installer(self.root / dist) or None, version_of(dist)
        old = self.records.get(owner) if owner is not None else None
        if old is None or _external(old):
            outside = Outside(installer, None, version, dist)
            new = _external_record(owner or self.project, version, files, outside)
            if old is not None:
                new = replace(new, install_date=old.install_date, txid=old.txid)
        else:
            was = old.outside.was if old.outside is not None else old.version
            outside = Outside(installer, was, version, dist)
            kept = self._still_there(old, files)
            new = replace(old, files={**kept, **files}, outside=outside)
        if old is not None and new == old:
            return None
        return new, outside.note(new.name)


def _claimed_dist_infos(records: Mapping[str, Record], sites: tuple[str, ...]) -> set[str]:
    """The dist-info directories in ``sites`` whose RECORD a record claims."""
    found = set()
    for record in records.values():
        for path in record.files:
            if (
                path.endswith(".dist-info/RECORD")
                and os.path.dirname(path).rsplit("/", 1)[0] in sites
            ):
                found.add(os.path.dirname(path))
    return found


def _external(record: Record) -> bool:
    return record.outside is not None and record.outside.external


def _external_record(
    name: str, version: str, files: Mapping[str, FileInfo], outside: Outside
) -> Record:
    from datetime import UTC, datetime

    return Record(
        name=name,
        version=version,
        files=dict(files),
        txid="reconcile",
        kind=EXTERNAL,
        install_date=datetime.now(UTC).isoformat(timespec="seconds"),
        system_uname=" ".join(os.uname()),
        outside=outside,
    )


def _installer(dist: Path) -> str:
    """What ``INSTALLER`` of a dist-info says (``""``: nothing)."""
    try:
        return (dist / "INSTALLER").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _record_files(root: Path, dist: str) -> dict[str, FileInfo]:
    """The files ``dist``'s ``RECORD`` lists that exist (relative to ``root``), as they are
    now; without a readable RECORD, the files of the dist-info directory."""
    site = os.path.dirname(dist)
    try:
        text = (root / dist / "RECORD").read_text(encoding="utf-8")
        paths = [row[0] for row in csv.reader(text.splitlines()) if row]
    except (OSError, UnicodeDecodeError, csv.Error):
        paths = [
            os.path.relpath(os.path.join(d, f), root / site)
            for d, _, names in os.walk(root / dist)
            for f in names
        ]
    found: dict[str, FileInfo] = {}
    for path in paths:
        rel = os.path.normpath(os.path.join(site, path))
        if rel.startswith(("..", "/")) or rel.startswith(_BOOKKEEPING):
            continue
        info = _file_info(root / rel)
        if info is not None:
            found[rel] = info
    return found


def _file_info(path: Path) -> FileInfo | None:
    try:
        if path.is_symlink():
            target = os.readlink(path)
            return FileInfo("symlink", None, len(target), target)
        if path.is_file():
            return FileInfo("file", sha256_file(path), path.stat().st_size)
    except OSError:
        pass
    return None


def reconciler_of(trees: Trees) -> VenvReconciler:
    """The reconciler of the venv of ``trees`` (its store: the prefix's, or the venv's)."""
    return VenvReconciler(trees.store("venv").root, trees.place.root)


def reconcile_venv(trees: Trees) -> tuple[str, ...]:
    """Bring the records of ``trees``' venv up to date (:meth:`Prefix.reconcile`); one
    line per change found."""
    return trees.store("venv").reconcile(reconciler_of(trees))
