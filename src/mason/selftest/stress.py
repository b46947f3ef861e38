"""The short race stress and kill -9 harness of ``mason selftest``, on a scratch prefix.

* **race**: ``workers`` processes, released together, each merge a package whose files
  share directories with every other one (``lib/``, ``share/data/``, a co-owned
  identical file); every merge must succeed and the prefix must verify clean with every
  claim in place (SPEC 5.1, 5.3).
* **kill**: an upgrade is SIGKILLed after its 1st, 2nd, ... filesystem operation (the
  store's own crash hook) until it runs to the end; after each kill, recovery must leave
  the package fully its old or fully its new version, byte for byte, and ``verify`` clean
  (SPEC 10).

Both use only the store's public API (``Prefix``) and real processes (``fork``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from mason.store import PackageMeta, Prefix
from mason.store.fsops import KILL_ENV

Tree = dict[str, str]


@dataclass
class StressReport:
    """What ran and what went wrong (``failures`` empty: the guarantee held)."""

    merges: int = 0
    kills: int = 0
    failures: list[str] = field(default_factory=list)


def _write(root: Path, files: Tree) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _package(i: int) -> Tree:
    return {
        "share/data/README": "shared by all\n",
        f"share/data/pkg{i}.txt": f"{i}\n",
        f"lib/libpkg{i}.so": f"lib {i}\n",
        f"share/pkg{i}/a/b/c.txt": f"{i}\n",
    }


def _merge(root: Path, name: str, version: str, files: Tree) -> None:
    prefix = Prefix(root)
    try:
        staged = _write(prefix.staging_dir(name), files)
        prefix.merge(prefix.scan(staged, name), PackageMeta(name, version))
    finally:
        prefix.close()


def _fork(child: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def race(root: Path, workers: int, rounds: int) -> StressReport:
    """``rounds`` times: ``workers`` merges released at once into a fresh prefix."""
    report = StressReport()
    for r in range(rounds):
        prefix = root / f"race{r}"
        go_r, go_w = os.pipe()
        ready_r, ready_w = os.pipe()
        staged = [
            (i, _write(Prefix(prefix).staging_dir(f"pkg{i}"), _package(i))) for i in range(workers)
        ]

        pids = [_fork(partial(_race_child, prefix, i, tree, (ready_w, go_r))) for i, tree in staged]
        for _ in pids:
            os.read(ready_r, 1)
        os.write(go_w, b"." * workers)
        codes = [os.waitpid(pid, 0)[1] for pid in pids]
        for fd in (go_r, go_w, ready_r, ready_w):
            os.close(fd)
        report.merges += workers
        failed = sum(1 for c in codes if not (os.WIFEXITED(c) and os.WEXITSTATUS(c) == 0))
        if failed:
            report.failures.append(f"race round {r + 1}: {failed} of {workers} merges failed")
        report.failures += _problems(prefix, {f"pkg{i}" for i in range(workers)}, f"race {r + 1}")
    return report


def _race_child(prefix: Path, i: int, tree: Path, pipes: tuple[int, int]) -> None:
    ready, go = pipes
    p = Prefix(prefix)
    scanned = p.scan(tree, f"pkg{i}")  # hashing before the lock, in parallel
    os.write(ready, b".")
    os.read(go, 1)  # the barrier: every worker merges at the same moment
    p.merge(scanned, PackageMeta(f"pkg{i}", "1"))


def _problems(root: Path, names: set[str], label: str) -> list[str]:
    prefix = Prefix(root)
    try:
        verify = prefix.verify()
        recs = prefix.records()
    finally:
        prefix.close()
    out = [] if verify.ok else [f"{label}: verify found problems"]
    if set(recs) != names:
        out.append(f"{label}: records {sorted(recs)}, expected {sorted(names)}")
    return out


def digest(root: Path) -> Tree:
    """Every path outside ``var/`` with its type and content hash."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == "var" or rel_dir.startswith("var/"):
            dirnames[:] = []
            continue
        for entry in dirnames + filenames:
            path = Path(dirpath, entry)
            rel = os.path.normpath(os.path.join(rel_dir, entry))
            if rel == "var":
                continue
            if path.is_symlink():
                out[rel] = "link " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


OLD: Tree = {"bin/tool": "1\n", "share/tool/old.txt": "1\n", "lib/libtool.so": "1\n"}
NEW: Tree = {"bin/tool": "2\n", "share/tool2/new.txt": "2\n", "lib/libtool.so": "2\n"}
OTHER: Tree = {"lib/libother.so": "o\n", "share/other/x": "o\n"}


def _base(root: Path) -> None:
    _merge(root, "other", "1", OTHER)
    _merge(root, "tool", "1", OLD)


def kill_every_op(root: Path, limit: int = 200) -> StressReport:
    """SIGKILL an upgrade after its 1st, 2nd, ... operation; recover; check each time."""
    report = StressReport()
    template, old, new = root / "template", root / "ref-old", root / "ref-new"
    for path in (template, old, new):
        _base(path)
    _merge(new, "tool", "2", NEW)
    expected = {"1": digest(old), "2": digest(new)}
    work = root / "p"
    for n in range(1, limit + 1):
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(template, work, symlinks=True)
        staged = _write(Prefix(work).staging_dir("tool"), NEW)

        _, status = os.waitpid(_fork(partial(_killed_child, work, staged, n)), 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        report.kills += killed
        if not killed and not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            report.failures.append(f"kill after op {n}: the merge failed on its own")
            return report
        report.failures += _after_kill(work, expected, n)
        if not killed:
            return report
    report.failures.append(f"the upgrade did not finish within {limit} operations")
    return report


def _killed_child(work: Path, staged: Path, n: int) -> None:
    os.environ[KILL_ENV] = str(n)  # the store's crash hook: SIGKILL after op n
    p = Prefix(work)
    p.merge(p.scan(staged, "tool"), PackageMeta("tool", "2"))


def _after_kill(work: Path, expected: dict[str, Tree], n: int) -> list[str]:
    prefix = Prefix(work)
    try:
        prefix.recover()
        version = rec.version if (rec := prefix.record("tool")) is not None else None
    finally:
        prefix.close()
    if version not in expected:
        return [f"kill after op {n}: tool is at {version!r} after recovery"]
    if digest(work) != expected[version]:
        return [f"kill after op {n}: the prefix is not exactly tool {version}"]
    return _problems(work, {"other", "tool"}, f"kill after op {n}")
