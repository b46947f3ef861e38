"""What the build sandbox costs, against no sandbox, measured in the same run.

1. Per script: a trivial command (``bash -c true``) run directly, and run in the
   sandbox exactly as a build script is (sent to the sandbox server, whose shepherd makes
   the namespaces and overlay), ``--scripts`` times each, interleaved (the server is
   started before); the difference of the medians is the sandbox's cost per script
   (goal: under 10 ms).
2. Per run: ``mason install --all -j2`` of 300 trivial script packages (the generated
   catalog of ``bench/overhead.py``) with ``--sandbox off`` and ``--sandbox require``,
   ``--runs`` times each, alternating, each into a prefix of its own (none is deleted
   before the end: on an ext4 without a journal, as this project's VM has, inodes deleted
   in the minutes before are skipped one by one when new ones are allocated, so deleting
   the previous run's prefix slowed the next run by 10-30%, whichever mode it was); the
   ratio of the medians
   (goal: the sandbox adds under 5% of the run). The CPU time of each run (mason and
   every process under it) too: it moves far less with the machine's load than the
   wall time does.

The machine should be idle; when it is not, say so next to the figures.

    python bench/sandbox.py [--packages 300] [--runs 3] [--scripts 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overhead import make_catalog  # noqa: E402


def time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def per_script(work: Path, count: int) -> tuple[float, float]:
    """Median seconds of ``bash -c true`` directly and in the sandbox."""
    from mason.build.sandbox import Sandbox, probe

    sandbox = probe(os.environ.get("PATH"))
    if not isinstance(sandbox, Sandbox):
        raise SystemExit(f"no sandbox here: {sandbox.reason}")
    prefix = work / "prefix"
    pkg = prefix / "var/tmp/mason/bench"
    build, dest = pkg / "build", pkg / "dest"
    for path in (prefix / "lib", build, dest):
        path.mkdir(parents=True, exist_ok=True)
    plain = ["bash", "-c", "true"]
    direct, boxed = [], []
    with (work / "log").open("ab") as log:
        for _ in range(count):
            direct.append(time_command(plain))
            start = time.perf_counter()
            status = sandbox.spawn(
                plain, live=[prefix], writable=[build, dest], work=pkg, capture=pkg / "cap",
                cwd=build, env=os.environ, log=log.fileno(),
            ).wait()  # fmt: skip
            boxed.append(time.perf_counter() - start)
            assert status == 0, (work / "log").read_text()
    return statistics.median(direct), statistics.median(boxed)


def install(catalog: Path, prefix: Path, mode: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of mason and every process under it:
    all are waited for, the sandbox server's scripts included) of one install."""
    argv = [sys.executable, "-m", "mason", "install", "--all", "-j2", "--sandbox", mode]
    argv += ["--catalog", str(catalog), "--prefix", str(prefix)]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"mason install --sandbox {mode} failed ({proc.returncode})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--packages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scripts", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        work = Path(tmp)
        direct, boxed = per_script(work / "micro", args.scripts)
        catalog = work / "catalog"
        make_catalog(catalog, args.packages)
        off, on, off_cpu, on_cpu = [], [], [], []
        for i in range(args.runs):
            for walls, cpus, mode in ((off, off_cpu, "off"), (on, on_cpu, "require")):
                wall, cpu = install(catalog, work / f"prefix-{mode}-{i}", mode)
                walls.append(wall)
                cpus.append(cpu)
    print(f"per script ({args.scripts} each, medians): bash -c true {direct * 1000:.1f} ms, ")
    print(f"  in the sandbox {boxed * 1000:.1f} ms: +{(boxed - direct) * 1000:.1f} ms per script")
    n, a, b = args.packages, statistics.median(off), statistics.median(on)
    print(f"mason install --all -j2 of {n} trivial packages, {args.runs} runs (medians):")
    print(f"  --sandbox off     {a:.2f} s ({a / n * 1000:.1f} ms/package)")
    print(f"  --sandbox require {b:.2f} s ({b / n * 1000:.1f} ms/package)")
    print(f"  ratio {b / a:.3f}: the sandbox adds {(b / a - 1) * 100:.1f}% (goal < 5%)")
    print(f"  {(b - a) / n * 2 * 1000:.1f} ms per package of a job slot at -j2")
    c, d = statistics.median(off_cpu), statistics.median(on_cpu)
    print(f"  CPU (user + system, all processes): off {c:.2f} s, require {d:.2f} s:")
    print(f"  ratio {d / c:.3f}, {(d - c) / n * 1000:.2f} ms of CPU per package")


if __name__ == "__main__":
    main()
