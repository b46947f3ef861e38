"""Cost of mason's safe extraction and checksum verification against plain tools.

Generates, in one run, a source-like tarball (many small files in nested directories,
some symlinks and hard links, gzip) and a large random file, then times:

- extraction: GNU ``tar -xzf`` (baseline), ``tarfile.extractall(filter="data")`` and
  ``mason.extract.extract`` (checks + data filter + realpath and mode passes);
- verification: ``sha256sum`` (baseline) and ``mason.fetch.verify`` (sha256, then sha1);
- fetching from a local-directory mirror: ``cp`` (baseline) and ``mason.fetch.fetch``
  (copy + hash + fsync + rename).

Prints the median of each and its ratio to the baseline.

    python bench/extract_fetch.py [--files 5000] [--megabytes 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mason.catalog import Checksums
from mason.extract import extract
from mason.fetch import SourceSpec, fetch, verify


def make_tarball(path: Path, files: int) -> None:
    rng = random.Random(1)
    with tarfile.open(path, "w:gz") as tf:
        for i in range(files):
            name = f"pkg-1.0/d{i % 50}/sub{i % 7}/f{i}.c"
            data = rng.randbytes(rng.randrange(0, 8000)) if i % 3 else b"int x;\n" * 200
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if i % 10 == 0 else 0o644
            tf.addfile(info, io.BytesIO(data))
            if i % 100 == 0:
                link = tarfile.TarInfo(f"pkg-1.0/d{i % 50}/link{i}")
                link.type, link.linkname = tarfile.SYMTYPE, f"sub{i % 7}/f{i}.c"
                tf.addfile(link)
                hard = tarfile.TarInfo(f"pkg-1.0/d{i % 50}/hard{i}")
                hard.type, hard.linkname = tarfile.LNKTYPE, name
                tf.addfile(hard)


def timed(fn: Callable[[Path], object], work: Path, runs: int) -> float:
    times = []
    for r in range(runs):
        out = work / f"out{r}-{time.monotonic_ns()}"
        t = time.perf_counter()
        fn(out)
        times.append(time.perf_counter() - t)
        shutil.rmtree(out, ignore_errors=True)
    return statistics.median(times)


def report(title: str, rows: list[tuple[str, float]]) -> None:
    base = rows[0][1]
    print(title)
    for name, t in rows:
        print(f"  {name:<38} {t * 1000:9.1f} ms  x{t / base:5.2f}")


def bench_extract(work: Path, files: int, runs: int) -> None:
    tarball = work / "pkg-1.0.tar.gz"
    make_tarball(tarball, files)

    def gnu_tar(out: Path) -> None:
        out.mkdir()
        subprocess.run(["tar", "-xzf", str(tarball), "-C", str(out)], check=True)

    def data_filter(out: Path) -> None:
        with tarfile.open(tarball) as tf:
            tf.extractall(out, filter="data")

    print(f"tarball: {files} files, {tarball.stat().st_size // 1024} KiB")
    rows = [
        ("tar -xzf", timed(gnu_tar, work, runs)),
        ('tarfile.extractall(filter="data")', timed(data_filter, work, runs)),
        ("mason.extract.extract", timed(lambda out: extract(tarball, out), work, runs)),
    ]
    report("extraction", rows)


def bench_fetch(work: Path, megabytes: int, runs: int) -> None:
    mirror = work / "mirror"
    mirror.mkdir()
    big = mirror / "big-1.0.tar.gz"
    with big.open("wb") as f:
        for _ in range(megabytes):
            f.write(random.randbytes(1 << 20))
    data = big.read_bytes()
    sha256, sha1 = hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()
    del data
    spec = SourceSpec("big", "1.0", Checksums(big.name, sha256=sha256))
    spec_both = SourceSpec("big", "1.0", Checksums(big.name, sha256=sha256, sha1=sha1))

    def sha256sum(_: Path) -> None:
        subprocess.run(["sha256sum", str(big)], check=True, capture_output=True)

    def cp(out: Path) -> None:
        out.mkdir()
        subprocess.run(["cp", str(big), str(out)], check=True)

    print(f"source file: {megabytes} MiB")
    report(
        "verification",
        [
            ("sha256sum", timed(sha256sum, work, runs)),
            ("mason.fetch.verify (sha256)", timed(lambda _: verify(big, spec), work, runs)),
            (
                "mason.fetch.verify (sha256+sha1)",
                timed(lambda _: verify(big, spec_both), work, runs),
            ),
        ],
    )
    report(
        "fetch from a directory mirror",
        [
            ("cp", timed(cp, work, runs)),
            ("mason.fetch.fetch", timed(lambda out: fetch(spec, out, [str(mirror)]), work, runs)),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mason-bench-") as tmp:
        bench_extract(Path(tmp), args.files, args.runs)
        bench_fetch(Path(tmp), args.megabytes, args.runs)


if __name__ == "__main__":
    main()
