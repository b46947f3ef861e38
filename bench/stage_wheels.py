"""How long staging real wheels takes, against `pip install --no-deps` in the same run.

Download the wheels once (bench/.cache is git-ignored):

    python -m pip download -d bench/.cache/wheels requests flask rich httpx attrs pydantic \
        tornado six packaging pyparsing python-dateutil pytz toml tomli jsonschema sqlalchemy \
        networkx sympy docutils pygments markdown-it-py idna certifi

then run `python bench/stage_wheels.py [--repeat N]`. Each measurement uses a fresh venv
and staging directory; rounds interleave the variants; the median of N runs is printed
with its ratio to pip's time.
Staging includes RECORD verification, unpacking and byte-compilation, not the merge.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mason.python.venv import ensure_venv
from mason.python.wheels import stage_wheel, stage_wheels

CACHE = Path(__file__).resolve().parent / ".cache" / "wheels"


def sequential(wheels: list[Path], work: Path) -> None:
    venv = ensure_venv(work / "venv")
    for wheel in wheels:
        stage_wheel(wheel, venv, work / "stage" / wheel.stem)


def pooled(kind: str) -> Callable[[list[Path], Path], None]:
    def run(wheels: list[Path], work: Path) -> None:
        venv = ensure_venv(work / "venv")
        stage_wheels(wheels, venv, work / "stage", jobs=2, pool=kind)  # type: ignore[arg-type]

    return run


def pip_install(wheels: list[Path], work: Path) -> None:
    venv = ensure_venv(work / "venv")
    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv.python),
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        "--disable-pip-version-check",
        *map(str, wheels),
    ]
    subprocess.run(command, check=True)


def once(fn: Callable[[list[Path], Path], None], wheels: list[Path]) -> float:
    with tempfile.TemporaryDirectory(prefix="mason-bench-") as tmp:
        ensure_venv(Path(tmp) / "venv")  # venv creation is not what we measure
        start = time.perf_counter()
        fn(wheels, Path(tmp))
        return time.perf_counter() - start


VARIANTS: dict[str, Callable[[list[Path], Path], None]] = {
    "pip install --no-deps (baseline)": pip_install,
    "stage_wheel, sequential": sequential,
    "stage_wheels, 2 threads": pooled("thread"),
    "stage_wheels, 2 processes": pooled("process"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    wheels = sorted(CACHE.glob("*.whl"))
    if not wheels:
        print(f"no wheels in {CACHE}; download them first (see the docstring)", file=sys.stderr)
        return 2
    print(f"{len(wheels)} wheels, {sum(w.stat().st_size for w in wheels) / 1e6:.1f} MB")
    # rounds interleave the variants, so that a noisy neighbour hits all of them alike
    times: dict[str, list[float]] = {label: [] for label in VARIANTS}
    for _ in range(args.repeat):
        for label, fn in VARIANTS.items():
            times[label].append(once(fn, wheels))
    base = statistics.median(times["pip install --no-deps (baseline)"])
    for label, runs in times.items():
        t = statistics.median(runs)
        print(
            f"{label:40s} {t:7.2f} s  {t / base:.2f}  (runs: {', '.join(f'{r:.1f}' for r in runs)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
