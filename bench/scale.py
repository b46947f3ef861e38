"""Does the cost of a command grow with the package, or with the prefix?

A SageMath install holds about 300,000 files. This builds a prefix of ``--packages``
packages x ``--files`` files each (300 x 1,000 by default; through the store's own merge,
so the records and the ownership index are mason's), and an empty prefix, then times each
command as a user runs it (a fresh ``python -m mason`` process, median of ``--runs``) on
both, with the peak memory (max RSS) of each process:

- ``merge`` of a new 10-file package, ``plan``, ``list --installed``, ``owner PATH``,
  ``files PKG``, ``verify PKG`` (the 10-file package) and ``uninstall PKG`` of it;
- a full ``verify`` of the big prefix, as files per second, in one process and with
  ``-j N`` (``--jobs``, default the number of cores).

Goal (issue 17): every command within 1.2x of its empty-prefix figure.

    python bench/scale.py [--packages 300] [--files 1000] [--runs 3] [--jobs N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = "tiny"  # the 10-file package every measured command is about


def fill(prefix: Path, packages: int, files: int) -> None:
    """``packages`` packages of ``files`` files each, in 20 directories apiece."""
    from mason.store import PackageMeta, Prefix

    store = Prefix(prefix)
    body = b"x" * 100
    for p in range(packages):
        name = f"pkg{p:03d}"
        staged = store.staging_dir(name)
        for d in range(20):
            sub = staged / "share" / name / f"d{d}"
            sub.mkdir(parents=True)
            for f in range(files // 20):
                (sub / f"f{f}.txt").write_bytes(body + f"{p} {d} {f}\n".encode())
        store.merge(store.scan(staged, name), PackageMeta(name, "1.0"))
    store.close()


def fill_apart(prefix: Path, packages: int, files: int) -> None:
    """:func:`fill` in a forked process: this one stays small, so the peak RSS of each
    measured command is its own (a child's maxrss starts at its parent's size at fork)."""
    child = multiprocessing.get_context("fork").Process(target=fill, args=(prefix, packages, files))
    child.start()
    child.join()
    if child.exitcode != 0:
        sys.exit(f"filling {prefix} failed ({child.exitcode})")


def write_catalog(root: Path, packages: int) -> None:
    for name in [SMALL, *(f"pkg{p:03d}" for p in range(packages))]:
        recipe = root / name
        recipe.mkdir(parents=True)
        (recipe / "package-version.txt").write_text("1.0\n")
        (recipe / "type").write_text("standard\n")
        (recipe / "spkg-install.in").write_text("true\n")


def stage_small(work: Path) -> Path:
    staged = work / "tiny-staged"
    shutil.rmtree(staged, ignore_errors=True)
    for f in range(10):
        path = staged / "share" / SMALL / f"f{f}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"tiny {f}\n")
    return staged


def run(argv: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one ``python -m mason`` process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "mason", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # verify and owner answer 1 for "problems found" / "not owned"
        err = child.stderr.read().decode() if child.stderr else ""
        sys.exit(f"mason {' '.join(argv)} failed ({code}): {err}")
    if child.stderr:
        child.stderr.close()
    return seconds, usage.ru_maxrss


def measure(
    work: Path, prefixes: dict[str, Path], catalog: Path, runs: int
) -> dict[str, dict[str, tuple[float, int]]]:
    """Median seconds and peak RSS of each step on each of ``prefixes``, by prefix. The
    prefixes take turns step by step (each still runs the steps in order), so that a
    moment of noise, or the file system still settling after the fill, falls on both."""
    owned = f"share/{SMALL}/f3.txt"
    steps: dict[str, list[str]] = {
        "merge 10 files": ["merge", SMALL, "1.0", "STAGED"],
        "plan": ["plan", SMALL],
        "list --installed": ["list", "--installed"],
        "owner PATH": ["owner", owned],
        "files PKG": ["files", SMALL],
        "verify PKG": ["verify", SMALL],
        "uninstall PKG": ["uninstall", SMALL],
    }
    samples: dict[str, dict[str, list[tuple[float, int]]]] = {
        name: {step: [] for step in steps} for name in prefixes
    }
    for _ in range(runs):
        for step, argv in steps.items():
            for name, prefix in prefixes.items():
                args = [str(stage_small(work)) if a == "STAGED" else a for a in argv]
                args += ["--prefix", str(prefix), "--catalog", str(catalog)]
                samples[name][step].append(run(args))
    return {
        name: {
            step: (statistics.median(s for s, _ in got), max(m for _, m in got))
            for step, got in by_step.items()
        }
        for name, by_step in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mason-scale-") as tmp:
        work = Path(tmp)
        catalog = work / "pkgs"
        write_catalog(catalog, args.packages)
        big, empty = work / "big", work / "empty"
        started = time.perf_counter()
        fill_apart(big, args.packages, args.files)
        filled = time.perf_counter() - started
        fill_apart(empty, 0, 0)
        subprocess.run(["sync"], check=True)
        measured = measure(work, {"big": big, "empty": empty}, catalog, args.runs)
        on_big, on_empty = measured["big"], measured["empty"]
        full = {
            jobs: run(["verify", "--prefix", str(big), "--catalog", str(catalog), "-j", str(jobs)])
            for jobs in (1, args.jobs)
        }

    total = args.packages * args.files
    print(
        f"prefix of {args.packages} packages x {args.files} files ({total} files, "
        f"filled in {filled:.1f} s) against an empty one; median of {args.runs} run(s)"
    )
    print(f"{'command':18} {'empty':>9} {'big':>9} {'ratio':>6}   {'RSS empty':>10} {'big':>9}")
    for step, (seconds, rss) in on_big.items():
        base, base_rss = on_empty[step]
        print(
            f"{step:18} {base * 1000:7.0f}ms {seconds * 1000:7.0f}ms {seconds / base:5.2f}x"
            f"   {base_rss / 1024:8.1f}MB {rss / 1024:7.1f}MB"
        )
    print("goal: each ratio <= 1.20")
    for jobs, (seconds, rss) in full.items():
        print(
            f"full verify -j{jobs} of {total} files: {seconds:.2f} s, "
            f"{total / seconds:,.0f} files/s, peak RSS {rss / 1024:.1f}MB (largest process)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
