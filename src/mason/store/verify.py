"""Comparing the prefix with the records: missing, modified and unclaimed files."""

from __future__ import annotations

import hashlib
import multiprocessing
import operator
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from mason.layout import is_compat_link, is_mason_own
from mason.store.headers import HasDependencies
from mason.store.records import FileInfo, Record, RecordStore
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


def check_file(path: Path | str, info: FileInfo) -> str | None:
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
    if st.st_size != info.size or _sha256(path, st.st_size) != info.sha256:
        return "content changed (sha256 differs)"
    return None


def _sha256(path: Path | str, size: int) -> str:
    """:func:`sha256_file` of a file ``lstat`` says has ``size`` bytes: a small one in one
    read (one byte more than expected, so a file that grew since differs)."""
    if size > _SMALL:
        return sha256_file(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, size + 1)
    finally:
        os.close(fd)
    return hashlib.sha256(data).hexdigest()


_SMALL = 1 << 20


def check_records(prefix: Path, records: Mapping[str, Record]) -> VerifyReport:
    missing: list[FileProblem] = []
    modified: list[FileProblem] = []
    count = 0
    base = os.path.join(prefix, "")
    for name in sorted(records):
        for rel, info in sorted(records[name].files.items()):
            count += 1
            why = check_file(base + rel, info)
            if why == "missing":
                missing.append(FileProblem(name, rel, why))
            elif why is not None:
                modified.append(FileProblem(name, rel, why))
    return VerifyReport(tuple(missing), tuple(modified), (), count)


_SHARED: tuple[Path, RecordStore] | None = None  # what forked workers check


def _check_slice(names: list[str]) -> VerifyReport:
    assert _SHARED is not None
    prefix, store = _SHARED
    found = {n: store.find(n) for n in names}
    return check_records(prefix, {n: r for n, r in found.items() if r is not None})


def slices(sizes: Mapping[str, int], jobs: int) -> list[list[str]]:
    """The package names in ``jobs`` slices of about as many files each (``sizes``: the
    number of files of each; the largest first, each to the lightest slice)."""
    bins: list[tuple[int, list[str]]] = [(0, []) for _ in range(jobs)]
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        i = min(range(jobs), key=lambda k: bins[k][0])
        bins[i] = (bins[i][0] + sizes[name], [*bins[i][1], name])
    return [names for _, names in bins if names]


def check_all(
    prefix: Path,
    store: RecordStore,
    sizes: Mapping[str, int],
    claimed: Callable[[], set[str]],
    jobs: int = 1,
) -> VerifyReport:
    """Every record of ``store`` checked (``sizes``: each package's number of files) and
    the files of the prefix no record claims.

    With ``jobs`` > 1, that many forked processes each read and check one slice of the
    records while this one walks the prefix for files outside ``claimed()`` (the paths
    the ownership index holds: it need not read the records).
    """
    global _SHARED
    parts = slices(sizes, max(1, jobs))
    if len(parts) < 2:
        records = store.all()
        report = check_records(prefix, records)
        paths = {p for r in records.values() for p in r.files}
        return replace(report, unclaimed=unclaimed_files(prefix, paths))
    _SHARED = (prefix, store)  # inherited by the forked workers: nothing is pickled
    try:
        with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
            pending = pool.map_async(_check_slice, parts)
            unclaimed = unclaimed_files(prefix, claimed())
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
    """Every file and symlink in the prefix, outside mason's bookkeeping directories
    (mason's own compatibility links left out); unreadable directories are skipped."""
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(os.path.join(prefix, rel_dir)) as found:
                entries = list(found)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if is_mason_own(rel):
                continue
            if entry.is_symlink():
                if not is_compat_link(rel, os.readlink(entry.path)):
                    yield rel
            elif entry.is_dir():
                pending.append(rel)
            else:
                yield rel


def unclaimed_files(prefix: Path, claimed: set[str]) -> tuple[str, ...]:
    """The files of :func:`walk_files` outside ``claimed``, sorted."""
    return tuple(sorted(p for p in walk_files(prefix) if p not in claimed))


def missing_dependencies(records: Mapping[str, HasDependencies]) -> dict[str, list[str]]:
    """Installed packages whose recorded dependencies are not installed (any more), with
    those dependencies: what ``uninstall --force`` of a needed package leaves broken."""
    return {
        name: missing
        for name, record in sorted(records.items())
        if (missing := sorted(d for d in record.dependencies if d not in records))
    }
