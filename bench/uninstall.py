"""Benchmark of ``Prefix.uninstall`` against ``rm -rf`` of the same files (ratio, one run).

    python bench/uninstall.py [--rounds 3] [--files 50000] [--dirs 500]

Each round installs a package of ``--files`` files (200 bytes each) in ``--dirs``
directories under ``share/bench/`` (next to another package's files in ``share/`` and
``lib/``) into a fresh prefix, and writes the same tree into a plain directory; both are
synced, then timed: mason's uninstall (lock, the check of every file against its record
hash, the journal, the record, the claims, the removals deepest first, pruning) against
``rm -rf`` of the plain tree. Prints the median of each and the ratio (goal: <= 2x).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mason.store import PackageMeta, Prefix


def make_tree(root: Path, files: int, dirs: int) -> None:
    per_dir = files // dirs
    body = b"x" * 200
    for d in range(dirs):
        sub = root / "share" / "bench" / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(per_dir):
            (sub / f"f{f}.txt").write_bytes(body + f"{d} {f}\n".encode())


def install(prefix: Prefix, name: str, files: int, dirs: int) -> None:
    staged = prefix.staging_dir(name)
    if name == "bench":
        make_tree(staged, files, dirs)
    else:
        for rel in ("share/other/x.txt", "lib/libother.so"):
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            (staged / rel).write_text(name)
    prefix.merge(prefix.scan(staged, name), PackageMeta(name, "1"))


def one_round(work: Path, files: int, dirs: int) -> tuple[float, float]:
    """Seconds of mason's uninstall and of ``rm -rf``, on the same tree."""
    prefix = Prefix(work / "prefix")
    install(prefix, "other", files, dirs)
    install(prefix, "bench", files, dirs)
    plain = work / "plain"
    make_tree(plain, files, dirs)
    subprocess.run(["sync"], check=True)

    t = time.perf_counter()
    report = prefix.uninstall("bench")
    mason = time.perf_counter() - t
    assert len(report.removed) == files and not (work / "prefix/share/bench").exists()

    t = time.perf_counter()
    subprocess.run(["rm", "-rf", str(plain / "share" / "bench")], check=True)
    rm = time.perf_counter() - t
    prefix.close()
    return mason, rm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--dirs", type=int, default=500)
    args = parser.parse_args()
    masons, rms = [], []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="mason-bench-uninstall-") as tmp:
            mason, rm = one_round(Path(tmp), args.files, args.dirs)
            masons.append(mason)
            rms.append(rm)
            print(f"round {i + 1}: mason uninstall {mason:.3f} s, rm -rf {rm:.3f} s")
            shutil.rmtree(tmp, ignore_errors=True)
    m, r = statistics.median(masons), statistics.median(rms)
    print(
        f"uninstall of {args.files} files in {args.dirs} dirs, median of {args.rounds}: "
        f"mason {m:.3f} s, rm -rf {r:.3f} s, ratio {m / r:.2f}x (goal <= 2x)"
    )


if __name__ == "__main__":
    main()
