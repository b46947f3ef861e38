"""Comparing the prefix with the records: missing, modified and unclaimed files."""

from __future__ import annotations

import multiprocessing
import operator
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from mason.layout import is_compat_link, is_mason_own
from mason.store.headers import HasDependencies
from mason.store.records import FileInfo, Record
from mason.store.staged import sha256_file


@dataclass(frozen=True)
class FileProblem:
    """A recorded path that is missing or differs from its record."""

    package: str
    path: str
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of :meth:`mason.store.Prefix.verify`."""

    missing: tuple[FileProblem, ...] = ()
    modified: tuple[FileProblem, ...] = ()
    unclaimed: tuple[str, ...] = ()
    checked_files: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.modified or self.unclaimed)


def check_file(path: Path, info: FileInfo) -> str | None:
    """Why ``path`` does not match ``info`` (None if it does; "missing" if absent)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if info.kind == "symlink":
        if not stat.S_ISLNK(st.st_mode):
            return "is no longer a symlink"
        target = os.readlink(path)
        return None if target == info.target else f"symlink now points to {target!r}"
    if not stat.S_ISREG(st.st_mode):
        return "is no longer a regular file"
    if st.st_size != info.size or sha256_file(path) != info.sha256:
        return "content changed (sha256 differs)"
    return None


def check_records(prefix: Path, records: Mapping[str, Record]) -> VerifyReport:
    missing: list[FileProblem] = []
    modified: list[FileProblem] = []
    count = 0
    for name in sorted(records):
        for rel, info in sorted(records[name].files.items()):
            count += 1
            why = check_file(prefix / rel, info)
            if why == "missing":
                missing.append(FileProblem(name, rel, why))
            elif why is not None:
                modified.append(FileProblem(name, rel, why))
    return VerifyReport(tuple(missing), tuple(modified), (), count)


_SHARED: tuple[Path, Mapping[str, Record]] | None = None  # what forked workers check


def _check_slice(names: list[str]) -> VerifyReport:
    assert _SHARED is not None
    prefix, records = _SHARED
    return check_records(prefix, {n: records[n] for n in names})


def slices(records: Mapping[str, Record], jobs: int) -> list[list[str]]:
    """The package names in ``jobs`` slices of about as many files each (largest first,
    each to the lightest slice)."""
    bins: list[tuple[int, list[str]]] = [(0, []) for _ in range(jobs)]
    for name in sorted(records, key=lambda n: (-len(records[n].files), n)):
        i = min(range(jobs), key=lambda k: bins[k][0])
        bins[i] = (bins[i][0] + len(records[name].files), [*bins[i][1], name])
    return [names for _, names in bins if names]


def check_all(prefix: Path, records: Mapping[str, Record], jobs: int = 1) -> VerifyReport:
    """:func:`check_records` of every record plus the unclaimed files; with ``jobs`` > 1
    the records are checked by that many forked processes (one slice each) while this one
    walks the prefix for unclaimed files."""
    global _SHARED
    parts = slices(records, max(1, jobs))
    if len(parts) < 2:
        report = check_records(prefix, records)
        return replace(report, unclaimed=unclaimed_files(prefix, records))
    _SHARED = (prefix, records)  # inherited by the forked workers: nothing is pickled
    try:
        with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
            pending = pool.map_async(_check_slice, parts)
            unclaimed = unclaimed_files(prefix, records)
            found = pending.get()
    finally:
        _SHARED = None
    key = operator.attrgetter("package", "path")
    return VerifyReport(
        tuple(sorted((p for r in found for p in r.missing), key=key)),
        tuple(sorted((p for r in found for p in r.modified), key=key)),
        unclaimed,
        sum(r.checked_files for r in found),
    )


def walk_files(prefix: Path) -> Iterator[str]:
    """Every file and symlink in the prefix, outside mason's bookkeeping directories."""
    for dirpath, dirnames, filenames in os.walk(prefix):
        rel_dir = os.path.relpath(dirpath, prefix)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if is_mason_own(rel):
                continue
            link = os.path.join(dirpath, d)
            if os.path.islink(link):
                if not is_compat_link(rel, os.readlink(link)):
                    yield rel
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            link = os.path.join(dirpath, f)
            if is_mason_own(rel) or (
                os.path.islink(link) and is_compat_link(rel, os.readlink(link))
            ):
                continue
            yield rel


def unclaimed_files(prefix: Path, records: Mapping[str, Record]) -> tuple[str, ...]:
    claimed = {p for r in records.values() for p in r.files}
    return tuple(sorted(p for p in walk_files(prefix) if p not in claimed))


def missing_dependencies(records: Mapping[str, HasDependencies]) -> dict[str, list[str]]:
    """Installed packages whose recorded dependencies are not installed (any more), with
    those dependencies: what ``uninstall --force`` of a needed package leaves broken."""
    return {
        name: missing
        for name, record in sorted(records.items())
        if (missing := sorted(d for d in record.dependencies if d not in records))
    }
