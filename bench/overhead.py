"""Per-package overhead of `mason install` against the seed system's pipeline.

Generates 300 trivial script packages in a random DAG (each `spkg-install.in` writes five
files into DESTDIR), then installs them twice into fresh prefixes, in one run:

- baseline: GNU make -j2 drives, per package, the shell pipeline the seed system uses
  (run the script into a DESTDIR, `find` for the manifest, `cp -Rp` into the prefix,
  write a JSON record);
- mason: `mason install --all -j2`.

Prints both wall times, their ratio and mason's per-package overhead in ms.

With ``--breakdown``, a third install runs with the store's ``fsync``/``syncfs`` calls
stubbed out (a diagnostic, NOT a mode of mason: it shows how much of the difference is
the durability of the merges' commits, SPEC 10, which the baseline does not have).

    python bench/overhead.py [--packages 300] [--runs 3] [--breakdown]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = """\
mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_NAME"
for i in 1 2 3 4 5; do
    echo "$PKG_NAME $i" > "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_NAME/file$i.txt"
done
"""

PIPELINE = r"""#!/bin/bash
# The seed system's per-package pipeline.
set -e
name=$1; prefix=$2; catalog=$3; work=$4
dest=$work/$name-dest
mkdir -p "$dest"
( export SAGE_DESTDIR=$dest DESTDIR=$dest SAGE_LOCAL=$prefix PREFIX=$prefix PKG_NAME=$name
  cd "$work" && bash "$catalog/$name/spkg-install.in" )
( cd "$dest$prefix" && find . -type f -o -type l | sed 's|^\./||' | sort ) > "$work/$name.files"
cp -Rp "$dest$prefix/." "$prefix/"
mkdir -p "$prefix/var/lib/sage/installed"
{ printf '{"package_name": "%s", "package_version": "1.0", "files": [' "$name"
  sed 's/.*/"&"/' "$work/$name.files" | paste -sd, -
  printf ']}\n'; } > "$prefix/var/lib/sage/installed/$name-1.0"
rm -rf "$dest"
"""


def make_catalog(root: Path, n: int, seed: int = 1) -> dict[str, list[str]]:
    rng = random.Random(seed)
    deps: dict[str, list[str]] = {}
    for i in range(n):
        name = f"p{i:03d}"
        pool = [f"p{j:03d}" for j in range(max(0, i - 40), i)]
        deps[name] = sorted(rng.sample(pool, min(len(pool), rng.randint(0, 3))))
        d = root / name
        d.mkdir(parents=True)
        (d / "package-version.txt").write_text("1.0\n")
        (d / "type").write_text("standard\n")
        (d / "dependencies").write_text(" ".join(deps[name]) + "\n")
        (d / "spkg-install.in").write_text(SCRIPT)
    return deps


def run_make(catalog: Path, deps: dict[str, list[str]], work: Path) -> float:
    prefix = work / "prefix-make"
    scratch = work / "scratch"
    for p in (prefix, scratch):
        shutil.rmtree(p, ignore_errors=True)
        p.mkdir(parents=True)
    # Without this, two `cp -Rp` creating share/ at once fail with "File exists" about one
    # run in three: the very race mason removes. The baseline gets the head start.
    (prefix / "share").mkdir()
    pipeline = work / "pipeline.sh"
    pipeline.write_text(PIPELINE)
    lines = [f"all: {' '.join(deps)}", ""]
    for name, ds in deps.items():
        lines += [
            f"{name}: {' '.join(ds)}",
            f"\t@bash {pipeline} {name} {prefix} {catalog} {scratch}",
            "",
        ]
    makefile = work / "Makefile"
    makefile.write_text("\n".join(lines))
    t = time.perf_counter()
    subprocess.run(
        ["make", "-j2", "-f", str(makefile), "all"], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t


NO_FSYNC = """\
import os, sys
import mason.store.fsops as fsops
os.fsync = lambda fd: None
fsops.syncfs = lambda path: None
from mason.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_mason(catalog: Path, work: Path, durable: bool = True) -> float:
    prefix = work / "prefix-mason"
    shutil.rmtree(prefix, ignore_errors=True)
    python = [sys.executable, "-m", "mason"] if durable else [sys.executable, "-c", NO_FSYNC]
    t = time.perf_counter()
    subprocess.run(
        [*python, "install", "--all", "-j2", "--catalog", str(catalog), "--prefix", str(prefix)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--packages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--breakdown", action="store_true", help="also time mason without fsync")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        work = Path(tmp)
        catalog = work / "catalog"
        deps = make_catalog(catalog, args.packages)
        makes, masons, unsynced = [], [], []
        for _ in range(args.runs):
            makes.append(run_make(catalog, deps, work))
            masons.append(run_mason(catalog, work))
            if args.breakdown:
                unsynced.append(run_mason(catalog, work, durable=False))
    m, s = statistics.median(makes), statistics.median(masons)
    n = args.packages
    print(f"packages: {n}, runs: {args.runs} (medians)")
    print(f"make -j2 + cp -Rp pipeline: {m:.2f} s  ({m / n * 1000:.1f} ms/package)")
    print(f"mason install -j2:          {s:.2f} s  ({s / n * 1000:.1f} ms/package)")
    print(f"ratio mason/make: {s / m:.2f} (goal <= 1.0)")
    print(f"mason per-package wall time at -j2: {s / n * 2 * 1000:.1f} ms of a job slot")
    if unsynced:
        u = statistics.median(unsynced)
        print(f"diagnostic, mason with fsync/syncfs stubbed out: {u:.2f} s, ratio {u / m:.2f}")


if __name__ == "__main__":
    main()
