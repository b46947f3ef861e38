"""How fast mason reads and plans a real catalog, and how fast `mason --help` starts.

Figures, not a test (the machine is noisy). Each is the median of ``--runs`` runs, measured
in this one run against a baseline measured the same way:

- reading the sage-9.8 catalog (410 recipes) with ``Catalog.load`` and planning ``--all``
  in-process (goal: read + plan < 0.3 s);
- ``mason plan --all --json`` end to end in a fresh interpreter, against
  ``python -c pass``;
- ``mason --help`` start-up (goal < 150 ms), against ``python -c pass``: the parser must
  not import the catalog, the planner or anything heavy.

    python bench/catalog.py [--catalog DIR] [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CATALOG = HERE.parent.parent / "shared" / "catalogs" / "sage-9.8" / "pkgs"


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def process(*argv: str) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run([sys.executable, *argv], check=True, capture_output=True)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    if not args.catalog.is_dir():
        print(f"no catalog at {args.catalog}", file=sys.stderr)
        return 2

    from mason.catalog import Catalog
    from mason.plan import make_plan

    catalog = Catalog.load(args.catalog)
    read = median_seconds(lambda: Catalog.load(args.catalog), args.runs)
    plan = median_seconds(lambda: make_plan(catalog, all=True), args.runs)
    python = median_seconds(process("-c", "pass"), args.runs)
    cli = ("-m", "mason", "plan", "--all", "--json", "--catalog", str(args.catalog))
    end_to_end = median_seconds(process(*cli), args.runs)
    helps = median_seconds(process("-m", "mason", "--help"), args.runs)

    print(f"catalog: {args.catalog} ({len(catalog)} recipes), median of {args.runs} runs")
    print(f"read catalog               {read * 1000:8.1f} ms")
    print(f"plan --all                 {plan * 1000:8.1f} ms")
    print(f"read + plan                {(read + plan) * 1000:8.1f} ms   (goal < 300 ms)")
    print(f"python -c pass (baseline)  {python * 1000:8.1f} ms")
    print(
        f"mason plan --all --json    {end_to_end * 1000:8.1f} ms   "
        f"({end_to_end / python:.1f}x baseline, {(end_to_end - python) * 1000:.0f} ms over it)"
    )
    print(
        f"mason --help               {helps * 1000:8.1f} ms   "
        f"({helps / python:.1f}x baseline, {(helps - python) * 1000:.0f} ms over it; goal < 150 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
