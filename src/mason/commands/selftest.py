"""Handler of ``mason selftest``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mason.commands.query import _settings


def selftest(args: argparse.Namespace) -> int:
    """``mason selftest [--dir DIR]``: 0 if every guarantee holds there, else 1."""
    from mason.selftest import run

    directory = Path(args.dir) if args.dir else _settings(args).prefix.parent
    directory = directory.absolute()
    quiet = args.json

    def step(what: str) -> None:
        if not quiet:
            print(f"... {what}", flush=True)

    report = run(directory, workers=args.workers, rounds=args.rounds, on_step=step)
    if args.json:
        print(json.dumps(_as_json(report), indent=2))
        return 0 if report.ok else 1
    print(f"filesystem: {report.fstype}, mounted at {report.mount} (tested in {directory})")
    for p in report.probes:
        mark = "yes" if p.works else "no "
        fallback = f"; mason uses: {p.fallback}" if p.fallback and not p.works else ""
        print(f"  {mark} {p.name}: {p.detail}{fallback}")
    if report.race.merges:
        print(
            f"  race: {report.race.merges} concurrent merges, {len(report.race.failures)} problems"
        )
    if report.kill.kills:
        print(
            f"  kill -9: {report.kill.kills} kills recovered, {len(report.kill.failures)} problems"
        )
    for failure in report.failures:
        print(f"  FAILED: {failure}", file=sys.stderr)
    print(f"{report.verdict()} ({report.seconds:.1f} s)")
    return 0 if report.ok else 1


def _as_json(report: object) -> dict[str, object]:
    from mason.selftest import SelftestReport

    assert isinstance(report, SelftestReport)
    return {
        "directory": str(report.directory),
        "mount": str(report.mount),
        "fstype": report.fstype,
        "probes": [
            {
                "name": p.name,
                "works": p.works,
                "detail": p.detail,
                "fallback": p.fallback,
                "guarantee_lost": p.guarantee_lost,
            }
            for p in report.probes
        ],
        "race_merges": report.race.merges,
        "kills": report.kill.kills,
        "failures": report.failures,
        "ok": report.ok,
        "verdict": report.verdict(),
    }
