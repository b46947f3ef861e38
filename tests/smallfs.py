"""A small real filesystem for the disk-full tests: a size- and inode-limited tmpfs.

Mounting needs root (CAP_SYS_ADMIN); without it the tests using :func:`small_fs` are
skipped with a message saying so. :func:`fill` leaves exactly so many bytes or inodes
free (the rest is taken by files under ``<mount>/.filler``); :func:`unfill` frees them
again, as a user would after reading "disk full".
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_fs(where: Path, size: str = "16m", inodes: int = 4096) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes and ``inodes`` inodes mounted at ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},nr_inodes={inodes},mode=0755"
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "mason-test", str(where)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@contextmanager
def scratch_fs(where: Path) -> Iterator[Path]:
    """A roomy tmpfs at ``where`` when we may mount one (many small files are created and
    removed much faster there), else just the directory."""
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m", "mason-scratch", str(where)],
        capture_output=True,
    )
    try:
        yield where
    finally:
        if proc.returncode == 0:
            subprocess.run(["umount", "-l", str(where)], check=True)


def resize(mount: Path, size: str) -> None:
    """Grow (or shrink) the tmpfs, as freeing space elsewhere on a disk would."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


def free(mount: Path) -> tuple[int, int]:
    """(bytes, inodes) free for an unprivileged writer."""
    st = os.statvfs(mount)
    return st.f_bavail * st.f_frsize, st.f_favail


def fill(mount: Path, *, leave_bytes: int | None = None, leave_inodes: int | None = None) -> None:
    """Take all but ``leave_bytes`` bytes and/or ``leave_inodes`` inodes of ``mount``."""
    filler = mount / ".filler"
    filler.mkdir(exist_ok=True)
    if leave_bytes is not None:
        fd = os.open(filler / "blob", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            chunk = 1 << 20
            while chunk >= 4096:
                try:
                    os.write(fd, bytes(chunk))
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    chunk //= 2
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave_bytes))
        finally:
            os.close(fd)
    if leave_inodes is not None:
        made: list[Path] = []
        try:
            while True:
                path = filler / f"i{len(made)}"
                path.touch()
                made.append(path)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        for path in made[len(made) - leave_inodes :] if leave_inodes else []:
            path.unlink()


def unfill(mount: Path) -> None:
    shutil.rmtree(mount / ".filler", ignore_errors=True)
