"""How close mason's scheduler gets to the lower bound on SageMath's own dependency graph.

Builds a synthetic catalog from the SageMath 9.8 metadata (``../shared/catalogs/sage-9.8``:
the base + standard closure, variables expanded, normal and order-only dependencies as the
real recipes have them) whose script recipes only sleep: a few heavy packages (gcc,
sagelib, python3, giac, singular, gfortran, r, ...) sleep long, the rest briefly, scaled so
that a run takes about ``--target`` seconds at ``-j``. Each package has a source tarball
whose size follows SageMath's (heavy ones big, :data:`SIZES_MB`, scaled down): all a cold
run has to estimate durations with. A Makefile extracts the same tarballs and runs the
same sleeps on the same DAG. One run prints, for ``-j N``:

- the lower bound: max(critical path, total work / N);
- GNU make's makespan (``make -jN``, a stamp file per package);
- mason's cold makespan (``mason install -jN``, nothing known about durations);
- mason's makespan on a forced rebuild (``install --all --force``: every duration is in
  the records from the cold run).

Goals (issue 17): cold at most make's; forced within 1.05x of the bound. Then, to tell the
priority rule from the overhead (:mod:`schedule_split`): what an ideal list scheduler with
mason's priority and no overhead reaches on the same DAG, and the forced rebuild's makespan
cut along its critical chain (the run log's events, each script's own timestamps).

    python bench/schedule.py [--jobs 4] [--target 20] [--runs 1]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from schedule_split import Split, critical_chain, measure, report, simulate

HERE = Path(__file__).resolve().parent
#: ``shared/catalogs/sage-9.8`` next to the checkout (``/work/main``) or to its worktrees
#: directory (``/work/wt/NAME``)
SAGE = next(
    (
        p / "shared" / "catalogs" / "sage-9.8" / "pkgs"
        for p in HERE.parents
        if (p / "shared" / "catalogs" / "sage-9.8" / "pkgs").is_dir()
    ),
    HERE.parent.parent / "shared" / "catalogs" / "sage-9.8" / "pkgs",
)

#: relative build times of SageMath's heavy packages (roughly their real share);
#: every other package weighs LIGHT
HEAVY = {
    "gcc": 40.0,
    "sagelib": 30.0,
    "gfortran": 20.0,
    "python3": 12.0,
    "giac": 14.0,
    "singular": 12.0,
    "r": 10.0,
    "openblas": 8.0,
    "scipy": 8.0,
    "maxima": 6.0,
    "ecl": 6.0,
    "pari": 6.0,
    "flint": 5.0,
    "numpy": 4.0,
    "gap": 5.0,
    "matplotlib": 3.0,
    "cmake": 4.0,
    "ntl": 3.0,
    "boost_cpp": 3.0,
    "sympy": 2.0,
}
LIGHT = 0.4

#: sizes in MB of SageMath 9.8's upstream tarballs for the heavy packages (rounded, from
#: memory of the upstream directory: what a cold run's estimate reads); every other
#: package gets a size between 0.05 and 3 MB (log-uniform, seeded by its name). The
#: tarballs written are these sizes / SIZE_SCALE, of incompressible bytes.
SIZES_MB = {
    "gcc": 80.0,
    "gfortran": 80.0,
    "sagelib": 30.0,
    "python3": 19.0,
    "giac": 26.0,
    "singular": 13.0,
    "r": 34.0,
    "openblas": 23.0,
    "scipy": 41.0,
    "maxima": 11.0,
    "ecl": 7.0,
    "pari": 3.0,
    "flint": 7.0,
    "numpy": 11.0,
    "gap": 200.0,
    "matplotlib": 35.0,
    "cmake": 10.0,
    "ntl": 1.3,
    "boost_cpp": 117.0,
    "sympy": 7.0,
}
SIZE_SCALE = 50.0

#: the sleep, stamped (bash's clock, no process) for the split of the forced rebuild
SCRIPT = """\
started=$EPOCHREALTIME
sleep {seconds}
ended=$EPOCHREALTIME
mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/schedule"
echo "$PKG_NAME $started $ended" > "$SAGE_DESTDIR$SAGE_LOCAL/share/schedule/$PKG_NAME"
"""


def sage_graph() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """The standard closure: package -> (normal deps, order-only deps), as planned."""
    from mason.catalog import Catalog
    from mason.plan import dependency_graph, select

    catalog = Catalog.load(SAGE)
    edges = dependency_graph(catalog, select(catalog))
    normal: dict[str, tuple[str, ...]] = {}
    order_only: dict[str, tuple[str, ...]] = {}
    for name, deps in edges.items():
        recipe = catalog.recipes[name]
        late = set(recipe.order_only) | set(recipe.conditional_order_only)
        normal[name] = tuple(d for d in deps if d not in late)
        order_only[name] = tuple(d for d in deps if d in late)
    return normal, order_only


def lower_bound(
    durations: dict[str, float], prereqs: dict[str, tuple[str, ...]], jobs: int
) -> tuple[float, float, float]:
    """(bound, critical path, total / jobs)."""
    from graphlib import TopologicalSorter

    finish: dict[str, float] = {}
    for name in TopologicalSorter(prereqs).static_order():
        start = max((finish[d] for d in prereqs[name]), default=0.0)
        finish[name] = start + durations[name]
    critical = max(finish.values())
    spread = sum(durations.values()) / jobs
    return max(critical, spread), critical, spread


def size_mb(name: str) -> float:
    """The (real-scale) size of ``name``'s tarball."""
    if name in SIZES_MB:
        return SIZES_MB[name]
    return 0.05 * (3.0 / 0.05) ** random.Random(name).random()


def write_tarball(upstream: Path, name: str) -> str:
    """``upstream/<name>-1.0.tar.gz`` holding ``<name>-1.0/blob``; return its sha256."""
    blob = random.Random(name).randbytes(int(size_mb(name) * 1e6 / SIZE_SCALE))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo(f"{name}-1.0/blob")
        info.size = len(blob)
        tf.addfile(info, io.BytesIO(blob))
    upstream.mkdir(parents=True, exist_ok=True)
    (upstream / f"{name}-1.0.tar.gz").write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def write_catalog(
    root: Path,
    normal: dict[str, tuple[str, ...]],
    order_only: dict[str, tuple[str, ...]],
    durations: dict[str, float],
) -> None:
    """The recipes in ``root``, their tarballs in ``root/../upstream``."""
    for name, deps in normal.items():
        recipe = root / name
        recipe.mkdir(parents=True)
        sha256 = write_tarball(root.parent / "upstream", name)
        (recipe / "checksums.ini").write_text(f"tarball={name}-VERSION.tar.gz\nsha256={sha256}\n")
        (recipe / "package-version.txt").write_text("1.0\n")
        (recipe / "type").write_text("standard\n")
        line = " ".join(deps)
        if order_only[name]:
            line += " | " + " ".join(order_only[name])
        (recipe / "dependencies").write_text(line + "\n")
        (recipe / "spkg-install.in").write_text(SCRIPT.format(seconds=f"{durations[name]:.3f}"))


def write_makefile(
    path: Path,
    normal: dict[str, tuple[str, ...]],
    order_only: dict[str, tuple[str, ...]],
    durations: dict[str, float],
) -> None:
    lines = [".PHONY: all", "all: " + " ".join(f"stamps/{n}" for n in sorted(normal)), ""]
    for name in sorted(normal):
        deps = " ".join(f"stamps/{d}" for d in normal[name])
        late = " ".join(f"stamps/{d}" for d in order_only[name])
        lines.append(f"stamps/{name}: {deps}" + (f" | {late}" if late else ""))
        lines.append(
            f"\t@mkdir -p stamps build/{name} && tar xzf upstream/{name}-1.0.tar.gz -C build/{name}"
            f" && sleep {durations[name]:.3f} && touch $@"
        )
    path.write_text("\n".join(lines) + "\n")


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds ``argv`` ran, the wall clock when it started)."""
    wall, start = time.time(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, wall


def compile_mason() -> None:
    """Byte-compile mason's own modules, as installing it does: with an editable install and
    PYTHONDONTWRITEBYTECODE (set on some machines), every run would compile them again
    (0.1-0.2 s of each run's start)."""
    import compileall

    import mason

    compileall.compile_dir(Path(mason.__file__).parent, quiet=1)


def mason(*args: str) -> list[str]:
    return [sys.executable, "-m", "mason", *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--target", type=float, default=20.0, help="seconds the bound aims at")
    parser.add_argument("--runs", type=int, default=1, help="rounds (median reported)")
    args = parser.parse_args()
    if not SAGE.is_dir():
        print(f"no SageMath catalog at {SAGE}", file=sys.stderr)
        return 2

    normal, order_only = sage_graph()
    prereqs = {n: normal[n] + order_only[n] for n in normal}
    raw = {n: HEAVY.get(n, LIGHT) for n in normal}
    bound, _, _ = lower_bound(raw, prereqs, args.jobs)
    durations = {n: d * args.target / bound for n, d in raw.items()}
    bound, critical, spread = lower_bound(durations, prereqs, args.jobs)

    results: dict[str, list[float]] = {"make": [], "cold": [], "forced": []}
    splits: list[Split] = []
    env = dict(os.environ, MASON_CACHE="off")
    compile_mason()
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="mason-schedule-") as tmp:
            work = Path(tmp)
            write_catalog(work / "pkgs", normal, order_only, durations)
            write_makefile(work / "Makefile", normal, order_only, durations)
            results["make"].append(timed(["make", f"-j{args.jobs}", "-s"], work)[0])
            os.environ.update(env)
            common = ["--catalog", "pkgs", "--prefix", "local", f"-j{args.jobs}"]
            results["cold"].append(timed(mason("install", *common), work)[0])
            forced, started = timed(mason("install", "--all", "--force", *common), work)
            results["forced"].append(forced)
            chain = critical_chain(durations, prereqs)
            splits.append(measure(work / "local", chain, started, started + forced))
            shutil.rmtree(work / "local", ignore_errors=True)

    make = statistics.median(results["make"])
    cold = statistics.median(results["cold"])
    forced = statistics.median(results["forced"])
    heavy = sorted(n for n in HEAVY if n in normal)
    print(
        f"SageMath 9.8 standard closure: {len(normal)} packages, -j{args.jobs}, "
        f"median of {args.runs} run(s); heavy: {', '.join(heavy)}"
    )
    print(f"critical path              {critical:7.2f} s")
    print(f"total work / {args.jobs}             {spread:7.2f} s")
    print(f"lower bound                {bound:7.2f} s")
    print(f"GNU make -j{args.jobs}               {make:7.2f} s   {make / bound:5.2f}x bound")
    print(
        f"mason cold                 {cold:7.2f} s   {cold / bound:5.2f}x bound, "
        f"{cold / make:5.2f}x make  (goal <= 1.00x make)"
    )
    print(
        f"mason forced rebuild       {forced:7.2f} s   {forced / bound:5.2f}x bound  "
        f"(goal <= 1.05x bound)"
    )
    ideal = simulate(durations, prereqs, args.jobs)
    print(
        f"ideal list scheduler       {ideal:7.2f} s   {ideal / bound:5.2f}x bound  "
        "(mason's priority, no overhead)"
    )
    split = min(zip(results["forced"], splits, strict=True), key=lambda run: abs(run[0] - forced))[
        1
    ]
    print("the forced rebuild along the critical path:")
    print("\n".join(report(split)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
