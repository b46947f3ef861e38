"""Handlers of the store commands: ``merge``, ``owner``, ``files``, ``verify``, ``recover``,
and ``list --installed``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mason.commands.table import print_table
from mason.config import load_settings
from mason.store import PackageMeta, Prefix, Record, VerifyReport
from mason.trees import Trees


def _prefix(args: argparse.Namespace) -> Prefix:
    return Prefix(load_settings(catalog=args.catalog, prefix=args.prefix).prefix)


def _trees(args: argparse.Namespace) -> Trees:
    """The prefix and its venv's store when the venv lies outside it (:mod:`mason.trees`)."""
    from mason.commands.venvstate import reconciled

    settings = load_settings(catalog=args.catalog, prefix=args.prefix)
    return reconciled(Trees.open(settings.prefix, settings.venv))


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def merge(args: argparse.Namespace) -> int:
    """``mason merge NAME VERSION DIR``: install an already staged tree as a package."""
    prefix = _prefix(args)
    started = time.monotonic()
    staged = prefix.scan(Path(args.staged), args.name, copy=args.copy)
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


def owner(args: argparse.Namespace) -> int:
    """``mason owner PATH...``: which packages own each path (exit 1 if one is unowned)."""
    found = _trees(args).owner(args.paths)
    if args.json:
        _print_json(found)
    else:
        for path, owners in found.items():
            print(f"{path}: {', '.join(owners) if owners else '(not owned by any package)'}")
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


def _shown_version(r: Record) -> str:
    """The version there now (pip's, when pip replaced mason's; ``-``: removed)."""
    if r.outside is None:
        return r.version
    return r.outside.now or "-"


def _record_summary(r: Record) -> dict[str, object]:
    return {
        "name": r.name,
        "version": _shown_version(r),
        "kind": r.kind,
        "files": len(r.files),
        "install_date": r.install_date,
        "origin": (r.outside.installer or "unknown")
        if r.outside and r.outside.external
        else "mason",
        "changed_outside_mason": r.outside.describe() if r.outside is not None else None,
    }


def list_installed(args: argparse.Namespace) -> int:
    """``mason list --installed``: the packages the records say are installed (those pip
    changed or installed say so)."""
    records = _trees(args).records()
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


def _verify_json(report: VerifyReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "checked_files": report.checked_files,
        "missing": [{"package": p.package, "path": p.path} for p in report.missing],
        "modified": [
            {"package": p.package, "path": p.path, "reason": p.reason} for p in report.modified
        ],
        "unclaimed": list(report.unclaimed),
    }


def verify(args: argparse.Namespace) -> int:
    """``mason verify [PKG...]``: missing, modified and unclaimed files; exit 1 on any."""
    report = _trees(args).verify(args.packages or None)
    if args.json:
        _print_json(_verify_json(report))
        return 0 if report.ok else 1
    rows = [("missing", f"{p.path} ({p.package})") for p in report.missing]
    rows += [("modified", f"{p.path} ({p.package}): {p.reason}") for p in report.modified]
    rows += [("unclaimed", path) for path in report.unclaimed]
    print_table(rows, min_widths=(len("unclaimed"),), gap=1)
    print(
        f"{report.checked_files} recorded files checked: "
        + ("ok" if report.ok else "problems found")
    )
    return 0 if report.ok else 1


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
