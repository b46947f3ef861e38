"""A GNU make jobserver: one global budget of job slots shared by every build.

The jobserver is a pool of one-byte tokens in a named pipe. A budget of ``N`` slots puts
``N - 1`` tokens in the pool: whoever runs the first job of a process tree has an implicit
slot, every further concurrent job takes a token first and writes the same byte back when
it ends. Clients find the pool through ``MAKEFLAGS`` in one of two forms:

* ``fifo`` (GNU make >= 4.4): ``--jobserver-auth=fifo:PATH``; clients open ``PATH``.
* ``pipe`` (older makes): ``--jobserver-auth=R,W`` (``--jobserver-fds=R,W`` before make
  4.2; both are given); clients use the inherited file descriptors ``R`` and ``W`` (pass
  them with :meth:`Jobserver.pass_fds`).

Both forms are served from the same FIFO. The descriptors handed to children stay in
blocking mode, as make requires; mason reads tokens through a descriptor of its own that
is non-blocking, so a token taken by a make between ``poll`` and ``read`` never stalls it.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

from mason.errors import BadInput, MasonError

JobserverStyle = Literal["pipe", "fifo"]

TOKEN = b"+"
_FIFO_MIN_VERSION = (4, 4)
_MAKE_VERSION = re.compile(r"GNU Make (\d+)\.(\d+)")


class JobserverError(MasonError):
    """The jobserver cannot be set up or was used wrongly."""


class BadSlots(BadInput):
    """The job budget is not a positive number."""

    def __init__(self, slots: int) -> None:
        super().__init__(f"the job budget must be at least 1, not {slots}", hint="use -j 1 or more")
        self.slots = slots


@functools.cache
def make_version(make: str = "make") -> tuple[int, int] | None:
    """The ``(major, minor)`` version of GNU make ``make``, or None if it is not GNU make."""
    try:
        out = subprocess.run(
            [make, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = _MAKE_VERSION.search(out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def detect_make_style(make: str = "make") -> JobserverStyle:
    """The jobserver form ``make`` understands: ``fifo`` for GNU make >= 4.4, else ``pipe``.

    A missing or non-GNU make gets ``pipe``, the form every jobserver client reads.
    """
    version = make_version(make)
    return "fifo" if version is not None and version >= _FIFO_MIN_VERSION else "pipe"


class Jobserver:
    """A jobserver with ``slots`` job slots, served as a FIFO in a private temp directory.

    Use it as a context manager; it must stay open while any build that got its
    :meth:`makeflags` runs. ``acquire``/``release`` are thread-safe.
    """

    def __init__(self, slots: int, style: JobserverStyle | None = None) -> None:
        if slots < 1:
            raise BadSlots(slots)
        if style not in (None, "pipe", "fifo"):
            raise BadInput(f"unknown jobserver style {style!r}", hint="use 'pipe' or 'fifo'")
        self.slots = slots
        self.style: JobserverStyle = style if style is not None else detect_make_style()
        self._lock = threading.Lock()
        self._held: list[bytes] = []
        self._dir = Path(tempfile.mkdtemp(prefix="mason-jobserver-"))
        self.path = self._dir / "fifo"
        self._fds: list[int] = []
        try:
            self._open()
        except OSError as e:
            self.close()
            raise JobserverError(f"cannot create the jobserver FIFO {self.path}: {e}") from e
        self._put(self.slots - 1)

    def _open(self) -> None:
        os.mkfifo(self.path, 0o600)
        # Our own reader must exist before a write-only open of a FIFO can succeed.
        self._rd = self._keep(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        self._wr = self._keep(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        self._child_fds: tuple[int, ...] = ()
        if self.style == "pipe":
            # Separate open file descriptions, blocking: make expects a blocking read side.
            child_r = self._keep(os.open(self.path, os.O_RDONLY | os.O_CLOEXEC))
            child_w = self._keep(os.open(self.path, os.O_WRONLY | os.O_CLOEXEC))
            self._child_fds = (child_r, child_w)

    def _keep(self, fd: int) -> int:
        self._fds.append(fd)
        return fd

    def __enter__(self) -> Jobserver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every descriptor and remove the FIFO; running clients lose the pool."""
        while self._fds:
            os.close(self._fds.pop())
        shutil.rmtree(self._dir, ignore_errors=True)

    def makeflags(self) -> str:
        """The value for ``MAKEFLAGS``: ``-jN`` and the auth option of this jobserver's form."""
        if self.style == "fifo":
            return f"-j{self.slots} --jobserver-auth=fifo:{self.path}"
        r, w = self._child_fds
        # make < 4.2 reads --jobserver-fds; newer makes accept both (cargo does the same).
        return f"-j{self.slots} --jobserver-fds={r},{w} --jobserver-auth={r},{w}"

    def pass_fds(self) -> tuple[int, ...]:
        """Descriptors a child must inherit (``subprocess.Popen(pass_fds=...)``); pipe form only."""
        return self._child_fds

    def fileno(self) -> int:
        """A descriptor that polls readable when a token may be in the pool."""
        return self._rd

    def acquire(self, timeout: float | None = None) -> bool:
        """Take one token from the pool; wait at most ``timeout`` seconds (None: forever).

        Returns False if no token came in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self._rd, select.POLLIN)
        while True:
            token = self._try_read()
            if token is not None:
                with self._lock:
                    self._held.append(token)
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left == 0.0:
                return False
            poller.poll(None if left is None else max(1, int(left * 1000)))

    def _try_read(self) -> bytes | None:
        try:
            token = os.read(self._rd, 1)
        except BlockingIOError:
            return None
        if not token:  # no writer left: only possible after close()
            raise JobserverError(f"the jobserver FIFO {self.path} was closed")
        return token

    def release(self) -> None:
        """Put back a token taken by :meth:`acquire` (the same byte make would return)."""
        with self._lock:
            if not self._held:
                raise JobserverError("release() without a matching acquire()")
            token = self._held.pop()
        os.write(self._wr, token)

    @property
    def held(self) -> int:
        """How many tokens this process holds through :meth:`acquire`."""
        with self._lock:
            return len(self._held)

    def restore(self) -> int:
        """Refill the pool to its nominal count; call it only while no client holds a token.

        A make killed with tokens in hand never gives them back; without this the budget
        would shrink for good. Returns how many tokens were missing (negative: surplus).
        """
        available = self._drain()
        expected = self.slots - 1 - self.held
        self._put(expected)
        return expected - available

    def _drain(self) -> int:
        count = 0
        while True:
            try:
                chunk = os.read(self._rd, 4096)
            except BlockingIOError:
                return count
            count += len(chunk)

    def _put(self, count: int) -> None:
        data = TOKEN * count
        while data:
            try:
                written = os.write(self._wr, data)
            except OSError as e:  # a pipe holds at least 4 KiB; only a huge -j fills it
                if e.errno != errno.EAGAIN:
                    raise
                poller = select.poll()
                poller.register(self._wr, select.POLLOUT)
                poller.poll()
                continue
            data = data[written:]
