"""Installing from the binary cache against building, on a real registry, in one run.

For two catalogs, the demo (examples/demo: real C builds with make, a wheel) and 50
generated script packages (bench/overhead.py's random DAG), each measured ``--runs``
times (median):

- build: ``mason install`` into a fresh prefix, no cache;
- build + push: the same with ``--push`` (artifacts made from the staged trees, sent to
  an empty repository): its extra time as a fraction of the build;
- from cache: ``mason install --cache only`` into a fresh, shorter prefix with an empty
  user cache (pulls, relocation, merges): the ratio build / from cache.

The registry is Debian's docker-registry on a free loopback port (scripts/setup-dev).

    python bench/cache.py [--runs 3] [--packages 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

from overhead import make_catalog  # noqa: E402

from ociregistry import running_registry  # noqa: E402


def mason(prefix: Path, catalog: Path, *args: str) -> float:
    """Seconds ``mason install -j2 --all ARGS`` takes into the fresh ``prefix``."""
    env = {**os.environ, "MASON_CACHE": str(prefix.parent / "user-cache")}
    env["HOME"] = str(prefix.parent / "home")
    env.pop("MASON_CACHE_URL", None)
    start = time.perf_counter()
    command = [sys.executable, "-m", "mason", "install", "-j2", "--all", *args]
    done = subprocess.run(
        [*command, "--catalog", str(catalog), "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"mason install failed:\n{done.stdout}\n{done.stderr}")
    if "--cache" in args and "] building" in done.stdout:
        raise SystemExit(f"--cache only built something:\n{done.stdout}")
    return seconds


def measure(name: str, catalog: Path, work: Path, url: str, runs: int) -> None:
    builds, pushes, pulls = [], [], []
    for i in range(runs):
        repo = f"{url}-{name.replace(' ', '-')}-{i}"
        builds.append(mason(work / f"build{i}" / "long-prefix" / "local", catalog))
        a = work / f"push{i}" / "long-prefix" / "local"
        pushes.append(mason(a, catalog, "--push", "--cache-url", repo))
        b = work / f"pull{i}" / "local"
        pulls.append(mason(b, catalog, "--cache", "only", "--cache-url", repo))
    build, push, pull = (statistics.median(x) for x in (builds, pushes, pulls))
    print(f"{name}: build {build:.2f} s, build + push {push:.2f} s, from cache {pull:.2f} s")
    print(f"{name}:   from cache is {build / pull:.2f}x faster than building")
    print(f"{name}:   pushing costs {(push - build) / build:+.0%} of the build")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--packages", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mason-bench-cache-") as tmp:
        work = Path(tmp)
        demo = work / "demo" / "pkgs"
        shutil.copytree(REPO / "examples" / "demo" / "pkgs", demo)
        shutil.copytree(REPO / "examples" / "demo" / "upstream", demo.parent / "upstream")
        generated = work / "generated" / "pkgs"
        make_catalog(generated, args.packages)
        with running_registry(work / "registry") as registry:
            url = registry.url("bench/cache")
            measure("demo", demo, work / "demo-runs", url, args.runs)
            measure(f"{args.packages} generated", generated, work / "gen-runs", url, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
