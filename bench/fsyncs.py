"""What the two fsyncs the power-cut model added cost an upgrade (ratio, one run).

    python bench/fsyncs.py [--rounds 7] [--files 200] [--dirs 20]

Each round installs version 1 of a package (``--files`` files in ``--dirs`` directories,
plus one directory that version 2 drops), then times the upgrade to version 2 (every file
replaced, so every file gets a backup link; the dropped directory is pruned) twice on
identical prefixes: with mason's code as it is, and with the two fsyncs the model asked
for skipped (the transaction directory after the backup links, the parents of pruned
directories). Under ext4 ``data=ordered`` both are unneeded (its journal keeps metadata
in order), on other filesystems they are what keeps a power cut recoverable. Prints the
median of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mason.store import PackageMeta, Prefix, fsops


def stage(prefix: Prefix, version: str, files: int, dirs: int) -> Path:
    staged = prefix.staging_dir("bench")
    for d in range(dirs):
        sub = staged / "share" / "bench" / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(files // dirs):
            (sub / f"f{f}.txt").write_text(f"{version} {d} {f}\n")
    if version == "1":
        (staged / "share" / "gone").mkdir(parents=True)
        (staged / "share" / "gone" / "x").write_text("only in 1")
    return staged


def upgrade(root: Path, files: int, dirs: int) -> float:
    prefix = Prefix(root)
    prefix.merge(prefix.scan(stage(prefix, "1", files, dirs), "bench"), PackageMeta("bench", "1"))
    tree = prefix.scan(stage(prefix, "2", files, dirs), "bench")
    started = time.perf_counter()
    prefix.merge(tree, PackageMeta("bench", "2"))
    seconds = time.perf_counter() - started
    prefix.close()
    return seconds


class Skipped:
    """The two fsyncs turned off (the code before the power-cut model)."""

    def __enter__(self) -> None:
        self.saved = (fsops.fsync_dir, fsops.fsync_dirs)
        real_dir, real_dirs = self.saved

        def fsync_dir(path: fsops.StrPath) -> None:
            if "/txn/" not in str(path):  # the transaction directory after the backups
                real_dir(path)

        def fsync_dirs(paths: set[Path] | set[str]) -> None:
            if not any(str(p).endswith("/share") for p in paths):  # the pruned one's parent
                real_dirs(paths)

        fsops.fsync_dir, fsops.fsync_dirs = fsync_dir, fsync_dirs

    def __exit__(self, *exc: object) -> None:
        fsops.fsync_dir, fsops.fsync_dirs = self.saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--dirs", type=int, default=20)
    args = ap.parse_args()
    with_, without = [], []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        for r in range(args.rounds):
            with_.append(upgrade(Path(tmp) / f"with{r}", args.files, args.dirs))
            with Skipped():
                without.append(upgrade(Path(tmp) / f"without{r}", args.files, args.dirs))
    a, b = statistics.median(with_), statistics.median(without)
    print(
        f"upgrade of {args.files} files: with the two fsyncs {a * 1000:.1f} ms, "
        f"without {b * 1000:.1f} ms, ratio {a / b:.2f}x (median of {args.rounds})"
    )


if __name__ == "__main__":
    main()
