"""What mason.build adds around a recipe, as ratios against baselines measured in the same run.

    python bench/build_overhead.py [--rounds 5] [--files 50000] [--dirs 1000]

Cases (median of ``--rounds`` runs each):

* snapshot: ``snapshot_prefix`` + ``prefix_changes`` (the stray-write check: two walks
  with one ``lstat`` per entry) on a prefix of ``--files`` files in ``--dirs`` directories,
  vs ``find PREFIX -printf ''`` (one walk, no Python);
* script: ``run_script`` of an empty ``spkg-install.in`` (environment, wrapper, sourcing
  sdh.sh, log) vs ``bash -c true``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mason.build import BuildSpec, prefix_changes, prepare_build_dir, run_script, snapshot_prefix


def median_time(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_prefix(root: Path, files: int, dirs: int) -> None:
    for d in range(dirs):
        sub = root / "lib" / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(files // dirs):
            (sub / f"f{f}").write_bytes(b"x")


def bench_snapshot(root: Path, rounds: int) -> tuple[float, float]:
    def check() -> None:
        prefix_changes(snapshot_prefix(root))

    find = median_time(
        lambda: subprocess.run(["find", str(root), "-printf", ""], check=True), rounds
    )
    return median_time(check, rounds), find


def bench_script(root: Path, rounds: int) -> tuple[float, float]:
    recipe = root / "pkgs" / "pkg"
    recipe.mkdir(parents=True)
    (recipe / "spkg-install.in").write_text(":\n")
    build = root / "build"
    build.mkdir()
    spec = BuildSpec("pkg", "1.0", recipe, root / "local", build, root / "dest", root / "log")
    prepare_build_dir(spec)
    rounds *= 10  # a few milliseconds each: more rounds against the noise
    bash = median_time(lambda: subprocess.run(["bash", "-c", "true"], check=True), rounds)
    mason = median_time(lambda: run_script(spec, "spkg-install"), rounds)
    return mason, bash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--dirs", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_prefix(root / "prefix", args.files, args.dirs)
        ours, base = bench_snapshot(root / "prefix", args.rounds)
        print(
            f"snapshot+compare, {args.files} files: {ours:.3f} s; find: {base:.3f} s;"
            f" ratio {ours / base:.1f}"
        )
        ours, base = bench_script(root / "script", args.rounds)
        print(
            f"run_script (empty fragment): {ours * 1000:.1f} ms; bash -c true:"
            f" {base * 1000:.1f} ms; ratio {ours / base:.1f}"
        )


if __name__ == "__main__":
    main()
