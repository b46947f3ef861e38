"""Helpers of the store tests (no tests here): fixture trees, whole-tree digests, records."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mason.store import PackageMeta, Prefix, Record


@dataclass(frozen=True)
class Link:
    """A symlink in a fixture tree."""

    target: str


Spec = Mapping[str, "str | bytes | Link"]

NAMESPACE_INIT = '__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n'

# Not part of the prefix content: the lock file, the SQLite index (its bytes change
# when WAL is checkpointed), staging scratch.
VOLATILE = ("var/lock/", "var/lib/mason/owners.sqlite", "var/tmp/")


def make_tree(root: Path, spec: Spec) -> Path:
    """Create files (text or bytes) and symlinks under ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            os.symlink(content.target, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def tree_digest(root: Path, *, skip_var: bool = False) -> dict[str, str]:
    """Every path under ``root`` with its type, mode and content hash or link target."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if rel.startswith(VOLATILE) or (skip_var and (rel + "/").startswith("var/")):
                continue
            st = os.lstat(path)
            mode = oct(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = f"link {mode} {os.readlink(path)}"
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = f"dir {mode}"
            else:
                out[rel] = f"file {mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return out


def normalized_records(prefix: Path) -> dict[str, dict[str, object]]:
    """The records' JSON without what differs between runs (date, timings, txid)."""
    out: dict[str, dict[str, object]] = {}
    directory = prefix / "var/lib/mason/installed"
    for fn in sorted(os.listdir(directory)):
        data = json.loads((directory / fn).read_text())
        for key in ("install_date", "timings", "txid"):
            data.pop(key)
        out[fn] = data
    return out


def install(prefix: Path, name: str, version: str, spec: Spec, **kw: bool) -> Record:
    """Stage ``spec`` in a staging dir of ``prefix`` and merge it as ``name``."""
    p = Prefix(prefix)
    try:
        staged = make_tree(p.staging_dir(name), spec)
        return p.merge(p.scan(staged, name), PackageMeta(name, version), **kw)
    finally:
        p.close()


def mason(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``python -m mason`` command line."""
    return subprocess.run(
        [sys.executable, "-m", "mason", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def wait_child(pid: int, timeout: float = 120.0) -> int:
    """Wait for a forked child; a hang becomes a test failure (the child is killed)."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not finish within {timeout} s")


class _Claims(Protocol):
    def records(self) -> Mapping[str, Record]: ...
    def owner(self, paths: Sequence[str]) -> dict[str, list[str]]: ...


def assert_index_matches_records(store: _Claims) -> None:
    """The ownership index answers for every claimed path exactly what the records say."""
    records = store.records()
    claims = {
        p: sorted(n for n, r in records.items() if p in r.files)
        for r in records.values()
        for p in r.files
    }
    assert store.owner(list(claims)) == claims
