"""Benchmark of the reconciliation every command does first (:mod:`mason.reconcile`).

    python bench/reconcile.py [--dists 200] [--calls 500]

A real venv (stdlib ``venv``, no pip) gets ``--dists`` distributions merged by mason (one
package each: a module and its ``*.dist-info`` with ``INSTALLER`` mason), and the first
reconciliation writes mason's listing. Then, per call, medians of:

- **unchanged**: the check a command makes when nobody ran pip (one ``scandir`` of
  ``site-packages``, the kept listing read and compared; no lock, nothing hashed). The
  goal is under 5 ms;
- the baseline, measured in the same run: reading the records (``Trees.records()``, what
  ``mason list --installed`` needs anyway);
- **one changed**: a distribution replaced the way pip does (a new dist-info with
  ``INSTALLER`` pip), reconciled: the write lock, the files of the new ``RECORD`` hashed,
  one journaled transaction. Each call replaces another distribution.

Prints milliseconds and the ratios against the baseline.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path

from mason.python import ensure_venv
from mason.reconcile import reconcile_venv
from mason.store import PackageMeta, Prefix
from mason.trees import Trees

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"


def _row(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_dist(root: Path, name: str, version: str, installer: str) -> None:
    """A module ``name.py`` and ``name-version.dist-info`` (METADATA, INSTALLER, RECORD)."""
    site = root / SITE
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/INSTALLER": f"{installer}\n".encode(),
    }
    rows = [_row(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)


def make_prefix(root: Path, dists: int) -> Trees:
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    ensure_venv(root, state=root)  # mason's cache of the venv: where site-packages is
    prefix = Prefix(root)
    for i in range(dists):
        staged = prefix.staging_dir(f"d{i}")
        write_dist(staged, f"dist{i}", "1.0", "mason")
        prefix.merge(prefix.scan(staged, f"dist{i}"), PackageMeta(f"dist{i}", "1.0", kind="wheel"))
    trees = Trees.open(root)
    reconcile_venv(trees)  # the first one writes the listing
    return trees


def median_ms(calls: int, fn: Callable[[int], object]) -> float:
    times = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dists", type=int, default=200)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mason-bench-reconcile-") as tmp:
        trees = make_prefix(Path(tmp) / "local", args.dists)

        def unchanged(_: int) -> None:
            assert reconcile_venv(trees) == ()

        def replaced(i: int) -> None:
            name = f"dist{i % args.dists}"
            site = trees.prefix.root / SITE
            for old in site.glob(f"{name}-*.dist-info"):
                for f in old.iterdir():
                    f.unlink()
                old.rmdir()
            write_dist(trees.prefix.root, name, f"2.{i}", "pip")
            assert len(reconcile_venv(trees)) == 1

        base = median_ms(args.calls, lambda _: trees.records())
        quiet = median_ms(args.calls, unchanged)
        changed = median_ms(min(args.calls, args.dists), replaced)
    print(f"{args.dists} distributions, median of {args.calls} calls")
    print(f"  unchanged venv (the check every command makes): {quiet:8.3f} ms  goal < 5 ms")
    print(f"  baseline: reading the records (Trees.records): {base:8.3f} ms")
    print(f"  one distribution replaced by pip, reconciled:   {changed:8.3f} ms")
    ratios = f"unchanged {quiet / base:.2f}x, one changed {changed / base:.2f}x"
    print(f"  ratios to the baseline: {ratios}")


if __name__ == "__main__":
    main()
