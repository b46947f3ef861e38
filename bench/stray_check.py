"""The stray-write check per package: the prefix snapshot against the run's inotify watch.

    python bench/stray_check.py [--files 50000] [--dirs 1000] [--rounds 5]

Builds a prefix of ``--files`` files in ``--dirs`` directories, then times, per simulated
package (median of ``--rounds``): what the check costs around a build that writes five
files into the prefix (as a concurrent merge would):

- snapshot: ``snapshot_prefix`` before + ``prefix_changes`` after (two walks, O(prefix));
- watch: ``PrefixWatch.mark`` before + ``changes_since`` after (O(changed));

and, once per run, ``PrefixWatch.start`` (one walk of the directories, one watch each).
Both must report the same five files.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mason.build.staged import prefix_changes, snapshot_prefix
from mason.prefixwatch import PrefixWatch


def make_prefix(root: Path, files: int, dirs: int) -> None:
    per_dir = max(1, files // dirs)
    for d in range(dirs):
        directory = root / "lib" / f"pkg{d // 50}" / f"d{d}"
        directory.mkdir(parents=True)
        for f in range(per_dir):
            (directory / f"f{f}.txt").write_bytes(b"x")


def build(root: Path, round_: int) -> None:
    """Five new files, as another package's merge (or a stray build) would add."""
    target = root / "share" / f"round{round_}"
    target.mkdir(parents=True)
    for i in range(5):
        (target / f"new{i}").write_bytes(b"y")


def timed(fn: Callable[[], list[str] | None]) -> tuple[float, list[str] | None]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--dirs", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "prefix"
        make_prefix(root, args.files, args.dirs)
        start = time.perf_counter()
        watch = PrefixWatch.start(root)
        started = time.perf_counter() - start
        assert watch is not None, "no inotify here"
        snap_times, watch_times = [], []
        for r in range(args.rounds):

            def with_snapshot(r: int = r) -> list[str]:
                before = snapshot_prefix(root)
                build(root, 2 * r)
                return prefix_changes(before)

            def with_watch(r: int = r) -> list[str] | None:
                assert watch is not None
                mark = watch.mark()
                build(root, 2 * r + 1)
                return watch.changes_since(mark)

            t, changes = timed(with_snapshot)
            assert changes is not None and len(changes) == 7, changes  # share/ + dir + 5
            snap_times.append(t)
            t, changes = timed(with_watch)
            assert changes is not None and len([c for c in changes if "new" in c]) == 5
            watch_times.append(t)
        watch.close()
    snap, wat = statistics.median(snap_times), statistics.median(watch_times)
    print(f"prefix: {args.files} files in {args.dirs} directories, {args.rounds} rounds")
    print(f"snapshot check per package: {snap * 1000:8.2f} ms")
    print(f"watch check per package:    {wat * 1000:8.2f} ms  (ratio {wat / snap:.4f})")
    print(f"watch start, once per run:  {started * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
