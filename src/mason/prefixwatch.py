"""Changes below a live prefix as they happen (Linux inotify), for the stray-write check.

The check of :mod:`mason.build.staged` walks the whole prefix before and after every build:
O(prefix) per package, the largest per-package cost of ``mason install`` on a big prefix.
A :class:`PrefixWatch` walks the prefix's directories once per run, keeps an inotify
watch on each, and records every entry created, written, changed (mode, times), moved or
removed, numbered in the order the kernel reported it. A build's changes are then the
paths recorded between a :meth:`PrefixWatch.mark` taken before it and the end of the
build: O(changed), not O(prefix).

What it sees is what the snapshot sees (new, removed and modified entries, mode and time
changes), with these differences:

- A directory created while watched is walked when its watch is added, and its entries are
  reported, so files written into it before the watch existed are not missed.
- Changes are recorded when they happen, not compared: a file written and then restored to
  its old stamp still counts (the snapshot would miss it).
- If the kernel's event queue overflows (``fs.inotify.max_queued_events``, 16384 by
  default, while a reader thread drains it continuously), the changes of that moment are
  lost: :meth:`changes_since` returns ``None`` for builds that spanned it, the watch
  re-walks the prefix to watch new directories again, and the caller decides (mason warns).
- mason's own directories (``var/lib/mason``, ``var/lock``, ``var/log/mason``,
  ``var/tmp/mason``) are not watched, as the snapshot skips them.

:func:`PrefixWatch.start` returns ``None`` where inotify is unavailable or the prefix has
more directories than the user may watch (``fs.inotify.max_user_watches``); callers then
use the snapshot.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import struct
import threading
from pathlib import Path

from mason.layout import is_mason_own

_IN_MODIFY = 0x2
_IN_ATTRIB = 0x4
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ISDIR = 0x40000000
_IN_DONT_FOLLOW = 0x02000000
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_CLOSE_WRITE
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DONT_FOLLOW
    | _IN_ONLYDIR
)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


class _NoWatch(Exception):
    """inotify cannot watch this prefix (unavailable, or too many directories)."""


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "inotify_init1") else None


class PrefixWatch:
    """Every change below ``root`` (minus mason's own ``var/`` dirs) since it started."""

    def __init__(self, root: Path, libc: ctypes.CDLL) -> None:
        self.root = root
        self._libc = libc
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise _NoWatch(os.strerror(ctypes.get_errno()))
        self._fd = fd
        self._lock = threading.RLock()
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory relative to root
        self._changes: list[str] = []  # the i-th change since the start
        self._base = 0  # number of changes dropped from the front of the list
        self._overflows: list[int] = []  # change numbers at which events were lost
        self._marks: dict[int, int] = {}  # open marks -> how many of them
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._reader = threading.Thread(target=self._read_forever, daemon=True)

    @classmethod
    def start(cls, root: Path) -> PrefixWatch | None:
        """Watch ``root`` (which must exist); ``None`` when inotify cannot do it."""
        libc = _libc()
        if libc is None:
            return None
        try:
            watch = cls(root, libc)
        except _NoWatch:
            return None
        try:
            watch._add_tree("", report=False)
        except _NoWatch:
            watch.close()
            return None
        watch._reader.start()
        return watch

    def close(self) -> None:
        """Stop watching."""
        if self._reader.is_alive():
            os.write(self._stop_w, b"x")
            self._reader.join()
        for fd in (self._fd, self._stop_r, self._stop_w):
            os.close(fd)

    def __enter__(self) -> PrefixWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- marks ----------------------------------------------------------------------------

    def mark(self) -> int:
        """A point in the change history (before a build); release it with :meth:`changes_since`."""
        with self._lock:
            self._drain()
            now = self._base + len(self._changes)
            self._marks[now] = self._marks.get(now, 0) + 1
            return now

    def begin(self) -> WatchMark:
        """A mark taken before a build, whose ``changes()`` are :meth:`changes_since` it (the
        ``mason.install.guard.StrayWriteGuard`` interface)."""
        return WatchMark(self, self.mark())

    def changes_since(self, mark: int) -> list[str] | None:
        """Paths (relative to the root) changed since ``mark``, sorted, and release ``mark``.

        ``None`` when events were lost since ``mark`` (the kernel's queue overflowed).
        """
        with self._lock:
            self._drain()
            lost = any(n >= mark for n in self._overflows)
            changes = sorted(set(self._changes[mark - self._base :]))
            self._release(mark)
        return None if lost else changes

    def _release(self, mark: int) -> None:
        left = self._marks.pop(mark) - 1
        if left:
            self._marks[mark] = left
        oldest = min(self._marks, default=self._base + len(self._changes))
        del self._changes[: oldest - self._base]
        self._base = oldest
        self._overflows = [n for n in self._overflows if n >= oldest]

    # -- watching -------------------------------------------------------------------------

    def _add_tree(self, rel: str, *, report: bool) -> None:
        """Watch ``rel`` and every directory below it; with ``report``, record its entries."""
        path = os.path.join(self.root, rel) if rel else str(self.root)
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), _MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR):
                return  # gone again, or replaced by a file (reported by its parent)
            raise _NoWatch(os.strerror(err))
        self._dirs[wd] = rel
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if is_mason_own(child):  # kept out, like the snapshot
                continue
            if report:
                self._changes.append(child)
            if entry.is_dir(follow_symlinks=False):
                self._add_tree(child, report=report)

    def _read_forever(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._stop_r in ready:
                return
            with self._lock:
                self._drain()

    def _drain(self) -> None:
        """Read every queued event (the lock is held)."""
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
            raw = data[offset + _HEADER.size : offset + _HEADER.size + size]
            offset += _HEADER.size + size
            if mask & _IN_Q_OVERFLOW:
                self._overflow()
                continue
            parent = self._dirs.get(wd)
            if mask & _IN_IGNORED:
                self._dirs.pop(wd, None)
                continue
            if parent is None or not size:
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            rel = f"{parent}/{name}" if parent else name
            if is_mason_own(rel):
                continue
            self._changes.append(rel)
            if mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO):
                self._add_new_dir(rel)

    def _add_new_dir(self, rel: str) -> None:
        try:
            self._add_tree(rel, report=True)
        except _NoWatch:
            self._overflow()  # out of watches: what happens below it is not seen

    def _overflow(self) -> None:
        self._overflows.append(self._base + len(self._changes))
        with contextlib.suppress(_NoWatch):
            self._add_tree("", report=False)  # watch directories made meanwhile


class WatchMark:
    """One build's window of a :class:`PrefixWatch`: :meth:`changes` once, after it."""

    def __init__(self, watch: PrefixWatch, mark: int) -> None:
        self._watch = watch
        self._mark = mark

    def changes(self) -> list[str] | None:
        """Paths changed since the mark (``None``: events were lost); releases the mark."""
        return self._watch.changes_since(self._mark)
