"""Handlers of the store commands: ``merge``, ``owner``, ``files``, ``verify``, ``recover``,
and ``list --installed``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mason.commands.table import print_table
from mason.config import load_settings
from mason.store import (
    NoPrefix,
    PackageMeta,
    Prefix,
    VerifyReport,
    missing_dependencies,
    require_writable,
)
from mason.store.hashing import default_jobs

if TYPE_CHECKING:
    from mason.config import Settings
    from mason.store.headers import Summary
    from mason.trees import Trees


def _prefix(args: argparse.Namespace) -> Prefix:
    prefix = Prefix(load_settings(catalog=args.catalog, prefix=args.prefix).prefix)
    require_writable(prefix.root)
    return prefix


def existing_prefix(prefix: Path) -> Path:
    """``prefix``, or :class:`NoPrefix` when there is none: a query creates nothing."""
    if not prefix.is_dir():
        raise NoPrefix(str(prefix))
    return prefix


def announce_recovery(stores: Iterable[Prefix]) -> None:
    """One line per interrupted change the stores' automatic recovery finished or undid."""
    for store in stores:
        report, store.recovered = store.recovered, None
        if report is None:
            continue
        for label in report.rolled_forward:
            print(
                f"mason: recovered: an interrupted change of {label} was completed", file=sys.stderr
            )
        for label in report.rolled_back:
            print(
                f"mason: recovered: an interrupted change of {label} was rolled back",
                file=sys.stderr,
            )


def _trees(args: argparse.Namespace, settings: Settings | None = None) -> Trees:
    """The prefix and its venv's store when the venv lies outside it (:mod:`mason.trees`);
    ``settings``: those already loaded for ``args``."""
    from mason.commands.venvstate import reconciled
    from mason.trees import Trees

    if settings is None:
        settings = load_settings(catalog=args.catalog, prefix=args.prefix)
    return reconciled(Trees.open(existing_prefix(settings.prefix), settings.venv))


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def merge(args: argparse.Namespace) -> int:
    """``mason merge NAME VERSION DIR``: install an already staged tree as a package."""
    prefix = _prefix(args)
    started = time.monotonic()
    jobs = args.jobs if args.jobs is not None else default_jobs()
    staged = prefix.scan(Path(args.staged), args.name, copy=args.copy, jobs=jobs)
    scanned = time.monotonic() - started
    meta = PackageMeta(args.name, args.version, timings={"scan": round(scanned, 6)})
    record = prefix.merge(staged, meta, allow_overwrite=args.allow_overwrite)
    if args.json:
        _print_json(
            {
                "package": record.name,
                "version": record.version,
                "files": len(record.files),
                "txid": record.txid,
            }
        )
    else:
        print(
            f"[{record.name}-{record.version}] merged {len(record.files)} files into {prefix.root}"
        )
    return 0


def _as_typed(path: str, stores: list[Path]) -> str:
    """A user's path for :meth:`Trees.owner`: a relative path that, taken from the current
    directory, lies in one of the stores becomes absolute; any other relative path is
    relative to the prefix."""
    if os.path.isabs(path):
        return path
    here = os.path.abspath(path)
    for root in stores:
        for base in {str(root), os.path.realpath(root)}:
            if here.startswith(base + os.sep):
                return here
    return path


def owner(args: argparse.Namespace) -> int:
    """``mason owner PATH...``: which packages own each path (exit 1 if one is unowned).

    A path is absolute, relative to the current directory, or relative to the prefix."""
    trees = _trees(args)
    stores = [s.root for s in trees.stores]
    asked = {path: _as_typed(path, stores) for path in args.paths}
    owners = trees.owner(list(dict.fromkeys(asked.values())))
    found = {path: owners[asked[path]] for path in args.paths}
    if args.json:
        _print_json(found)
    else:
        for path, names in found.items():
            print(f"{path}: {', '.join(names) if names else '(not owned by any package)'}")
    return 0 if all(found.values()) else 1


def files(args: argparse.Namespace) -> int:
    """``mason files PKG``: the paths a package owns, relative to the prefix (absolute for
    a package of a venv outside the prefix)."""
    paths = _trees(args).files(args.package)
    if args.json:
        _print_json(paths)
    else:
        for p in paths:
            print(p)
    return 0


def _shown_version(r: Summary) -> str:
    """The version there now (pip's, when pip replaced mason's; ``-``: removed)."""
    if r.outside is None:
        return r.version
    return r.outside.now or "-"


def _record_summary(r: Summary) -> dict[str, object]:
    return {
        "name": r.name,
        "version": _shown_version(r),
        "kind": r.kind,
        "files": r.files,
        "install_date": r.install_date,
        "origin": (r.outside.installer or "unknown")
        if r.outside and r.outside.external
        else "mason",
        "changed_outside_mason": r.outside.describe() if r.outside is not None else None,
    }


def list_installed(args: argparse.Namespace) -> int:
    """``mason list --installed``: the packages the records say are installed (those pip
    changed or installed say so)."""
    records = _trees(args).summaries()
    if args.json:
        _print_json([_record_summary(records[n]) for n in sorted(records)])
    else:
        rows = []
        for n in sorted(records):
            r = records[n]
            why = f"({r.outside.describe()})" if r.outside is not None else ""
            rows.append((n, _shown_version(r), why))
        print_table(rows)
    return 0


def _verify_json(report: VerifyReport, broken: dict[str, list[str]]) -> dict[str, object]:
    return {
        "ok": report.ok and not broken,
        "checked_files": report.checked_files,
        "missing": [{"package": p.package, "path": p.path} for p in report.missing],
        "modified": [
            {"package": p.package, "path": p.path, "reason": p.reason} for p in report.modified
        ],
        "unclaimed": list(report.unclaimed),
        "missing_dependencies": broken,
    }


def verify(args: argparse.Namespace) -> int:
    """``mason verify [PKG...]``: missing, modified and unclaimed files, and installed
    packages whose dependencies are not installed; exit 1 on any."""
    settings = load_settings(catalog=args.catalog, prefix=args.prefix, jobs=args.jobs)
    trees = _trees(args, settings)
    report = trees.verify(args.packages or None, settings.jobs)
    announce_recovery(trees.stores)
    broken = missing_dependencies(trees.summaries())
    if args.packages:
        broken = {n: deps for n, deps in broken.items() if n in args.packages}
    ok = report.ok and not broken
    if args.json:
        _print_json(_verify_json(report, broken))
        return 0 if ok else 1
    rows = [("missing", f"{p.path} ({p.package})") for p in report.missing]
    rows += [("modified", f"{p.path} ({p.package}): {p.reason}") for p in report.modified]
    rows += [("unclaimed", path) for path in report.unclaimed]
    rows += [
        ("broken", f"{name}: needs {', '.join(deps)}, not installed")
        for name, deps in broken.items()
    ]
    print_table(rows, min_widths=(len("unclaimed"),), gap=1)
    print(f"{report.checked_files} recorded files checked: " + ("ok" if ok else "problems found"))
    return 0 if ok else 1


def recover(args: argparse.Namespace) -> int:
    """``mason recover``: finish or undo interrupted transactions, rebuild the index."""
    report = _trees(args).recover()
    if args.json:
        _print_json(
            {
                "rolled_forward": list(report.rolled_forward),
                "rolled_back": list(report.rolled_back),
                "index_rebuilt": report.index_rebuilt,
            }
        )
        return 0
    for label in report.rolled_forward:
        print(f"[{label}] interrupted install completed")
    for label in report.rolled_back:
        print(f"[{label}] interrupted install undone")
    if not (report.rolled_forward or report.rolled_back):
        print("nothing to recover; ownership index rebuilt from the records")
    return 0
