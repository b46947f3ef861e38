"""Benchmark of mason's merge against ``cp -Rp`` of the same staged tree (ratios, one run).

    python bench/merge.py [--rounds 5] [--files 50000] [--dirs 1000]

Cases (median of ``--rounds`` runs each, every run on a fresh prefix):

* new: ``--files`` files in ``--dirs`` new package directories under an existing
  ``lib/python3.11/site-packages/``: mason's merge vs ``cp -Rp`` into the same prefix;
* existing: the worst case, every file into a directory that already exists;
* scan: what validating + hashing the staged tree costs (done before the lock);
* process: what a user sees, the whole ``mason merge NAME VERSION DIR`` process (start-up,
  scan and hashes, merge, record, claims) against a whole ``cp -Rp`` process, the new case
  (goal: at least 4x);
* hash: hashing the tree's 50,000 files (one open each) on one core, in 2 threads, in 2
  forked processes (``mason.store.hashing``; why ``-j`` forks);
* scaling: merge time (which includes writing the record and the claims) vs file count;
* owner: ``Prefix.owner`` on a prefix with 200,000 claimed files (mason's own time).
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
from collections.abc import Callable
from pathlib import Path

from mason.store import FileInfo, PackageMeta, Prefix, Record, hashing
from mason.store.records import RecordStore

SITE = "lib/python3.11/site-packages"


def make_staged(root: Path, files: int, dirs: int, pkg_prefix: str = "pkg") -> None:
    per_dir = files // dirs
    body = b"x" * 200
    for d in range(dirs):
        sub = root / SITE / f"{pkg_prefix}{d}"
        sub.mkdir(parents=True)
        for f in range(per_dir):
            (sub / f"m{f}.py").write_bytes(body + f"{d} {f}\n".encode())


def base_prefix(root: Path, dirs: int, occupy: bool) -> None:
    """A prefix with site-packages (and, for the worst case, every package dir) present."""
    p = Prefix(root)
    staged = p.staging_dir("base")
    (staged / SITE).mkdir(parents=True)
    (staged / SITE / "base.pth").write_text("base\n")
    if occupy:
        for d in range(dirs):
            (staged / SITE / f"pkg{d}").mkdir()
            (staged / SITE / f"pkg{d}" / "base_owned.txt").write_text("b")
    p.merge(p.scan(staged, "base"), PackageMeta("base", "1"))
    p.close()


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one_round(work: Path, files: int, dirs: int, occupy: bool) -> dict[str, float]:
    mason_prefix, cp_prefix = work / "mason", work / "cp"
    base_prefix(mason_prefix, dirs, occupy)
    base_prefix(cp_prefix, dirs, occupy)
    prefix = Prefix(mason_prefix)
    staged = prefix.staging_dir("bench")
    make_staged(staged, files, dirs)
    cp_src = work / "cp-src"
    make_staged(cp_src, files, dirs)
    subprocess.run(["sync"], check=True)
    cp = timed(lambda: subprocess.run(["cp", "-Rp", f"{cp_src}/.", str(cp_prefix)], check=True))
    tree = None

    def scan() -> None:
        nonlocal tree
        tree = prefix.scan(staged, "bench")

    scan_s = timed(scan)
    assert tree is not None
    merge_s = timed(lambda: prefix.merge(tree, PackageMeta("bench", "1")))
    prefix.close()
    shutil.rmtree(work)
    work.mkdir()
    return {"cp": cp, "scan": scan_s, "merge": merge_s}


def process_round(work: Path, files: int, dirs: int) -> dict[str, float]:
    mason_prefix, cp_prefix = work / "mason", work / "cp"
    base_prefix(mason_prefix, dirs, False)
    base_prefix(cp_prefix, dirs, False)
    staged = Prefix(mason_prefix).staging_dir("bench")
    make_staged(staged, files, dirs)
    cp_src = work / "cp-src"
    make_staged(cp_src, files, dirs)
    subprocess.run(["sync"], check=True)
    cp = timed(lambda: subprocess.run(["cp", "-Rp", f"{cp_src}/.", str(cp_prefix)], check=True))
    argv = [sys.executable, "-m", "mason", "merge", "bench", "1", str(staged)]
    merge = timed(
        lambda: subprocess.run([*argv, "--prefix", str(mason_prefix)], check=True, stdout=-3)
    )
    shutil.rmtree(work)
    work.mkdir()
    return {"cp": cp, "merge": merge}


def process_case(rounds: int, files: int, dirs: int, tmp: Path) -> None:
    runs = [process_round(tmp, files, dirs) for _ in range(rounds)]
    cp = statistics.median(r["cp"] for r in runs)
    merge = statistics.median(r["merge"] for r in runs)
    print(
        f"process   {files} files/{dirs} dirs: `cp -Rp` {cp:.3f} s, `mason merge` {merge:.3f} s "
        f"(ratio {cp / merge:.1f}x; goal >= 4x)"
    )


def hash_case(rounds: int, files: int, dirs: int, tmp: Path) -> None:
    make_staged(tmp / "h", files, dirs)
    paths = [str(p) for p in sorted((tmp / "h").rglob("*.py"))]
    hashing.hash_files(paths)  # every file read once (atime) before the timed runs
    ways: dict[str, Callable[[], object]] = {
        "1 core": lambda: hashing.hash_files(paths, 1),
        "2 threads": lambda: hashing.in_threads(paths, 2),
        "2 processes": lambda: hashing.in_processes(paths, 2),
    }
    times = {k: statistics.median(timed(f) for _ in range(rounds)) for k, f in ways.items()}
    shown = ", ".join(f"{k} {t:.3f} s" for k, t in times.items())
    print(f"hash      {len(paths)} files: {shown}")
    shutil.rmtree(tmp / "h")


def case(label: str, rounds: int, files: int, dirs: int, occupy: bool, tmp: Path) -> None:
    runs = [one_round(tmp, files, dirs, occupy) for _ in range(rounds)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(
        f"{label:9s} {files} files/{dirs} dirs: cp -Rp {med['cp']:.3f} s, "
        f"mason merge {med['merge']:.3f} s (ratio {med['cp'] / med['merge']:.1f}x), "
        f"scan+hash {med['scan']:.3f} s (outside the lock)"
    )


def scaling(rounds: int, tmp: Path) -> None:
    for files in (1000, 10000, 50000):
        runs = [one_round(tmp, files, max(1, files // 50), False) for _ in range(rounds)]
        merge = statistics.median(r["merge"] for r in runs)
        print(
            f"scaling   {files:6d} files: merge {merge:.3f} s ({merge / files * 1e6:.1f} us/file)"
        )


def owner_case(tmp: Path, claims: int) -> None:
    root = tmp / "owner"
    store = RecordStore(root / "var/lib/mason/installed")
    per = 50_000
    for k in range(claims // per):
        files = {
            f"{SITE}/p{k}/d{i // 50}/f{i}.py": FileInfo("file", "0" * 64, 1) for i in range(per)
        }
        store.write(Record(f"p{k}", "1", files, txid="bench"))
    Prefix(root).recover()  # builds the index from the records
    probe = [f"{SITE}/p3/d500/f25000.py"]
    times = []
    for _ in range(21):
        t = time.perf_counter()
        p = Prefix(root)
        found = p.owner(probe)
        p.close()
        times.append(time.perf_counter() - t)
    assert found == {probe[0]: ["p3"]}, found
    cli = timed(
        lambda: subprocess.run(
            [sys.executable, "-m", "mason", "owner", probe[0], "--prefix", str(root)],
            check=True,
            capture_output=True,
        )
    )
    print(
        f"owner     {claims} claims: Prefix.owner {statistics.median(times) * 1000:.2f} ms "
        f"(median of 21, incl. lock + index open); whole `mason owner` process {cli * 1000:.0f} ms"
    )
    shutil.rmtree(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--dirs", type=int, default=1000)
    ap.add_argument(
        "--skip", action="append", default=[], help="new|existing|process|scaling|owner"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        tmp = Path(d) / "work"
        tmp.mkdir()
        if "new" not in args.skip:
            case("new", args.rounds, args.files, args.dirs, False, tmp)
        if "existing" not in args.skip:
            case("existing", args.rounds, args.files, args.dirs, True, tmp)
        if "process" not in args.skip:
            process_case(args.rounds, args.files, args.dirs, tmp)
        if "hash" not in args.skip:
            hash_case(args.rounds, args.files, args.dirs, tmp)
        if "scaling" not in args.skip:
            scaling(max(3, args.rounds // 2), tmp)
        if "owner" not in args.skip:
            owner_case(tmp, 200_000)


if __name__ == "__main__":
    main()
