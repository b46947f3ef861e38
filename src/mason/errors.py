"""mason's exception hierarchy.

Every error mason raises derives from :class:`MasonError`. Errors caused by bad input
(a broken catalog, a bad argument, a hostile archive) also derive from ``ValueError``
through :class:`BadInput`; the CLI maps them to exit status 2. Each error builds its own
message from typed fields, and may carry a ``hint`` telling the user what to do.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The exit status of a command that met a bug in mason (an exception that is not a
#: :class:`MasonError`): distinct from 1, a package failed, and 2, bad input.
INTERNAL_ERROR_EXIT = 3


class MasonError(Exception):
    """Base of every error mason raises on purpose."""

    exit_code: int = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self)


class BadInput(MasonError, ValueError):
    """The user's input (catalog, arguments, archives, staged trees) is wrong.

    The prefix is left exactly as it was.
    """

    exit_code = 2


class UsageError(BadInput):
    """A command line that cannot be acted on."""


class PackageFailed(MasonError):
    """One or more packages failed to build or install (exit status 1)."""


class DiskFull(MasonError):
    """A write failed because the filesystem is full (``ENOSPC``) or over quota (``EDQUOT``).

    ``path`` is what was being written, ``mount`` the mount point of its filesystem,
    ``free`` the bytes left there when the error was built, ``needed`` how many bytes the
    write wanted if known. The operation that met it cleaned up after itself; freeing space
    and running the same command again is all it takes.
    """

    def __init__(self, path: Path, *, what: str, needed: int | None = None) -> None:
        self.path = path
        self.what = what
        self.needed = needed
        self.mount = mount_point(path)
        self.free = _free_bytes(self.mount)
        size = f"; about {_size(needed)} needed" if needed else ""
        free = f", {_size(self.free)} free" if self.free is not None else ""
        super().__init__(
            f"disk full while {what}: no space left on the filesystem mounted at "
            f"{self.mount} (writing {path}{free}{size})",
            hint=f"free space on {self.mount} (e.g. `mason clean`) and run the same command again",
        )


def is_disk_full(error: BaseException) -> bool:
    """True for an ``OSError`` meaning "no space left" (``ENOSPC``) or "quota exceeded".

    ``shutil.copytree`` gathers its failures into one ``shutil.Error`` whose entries keep
    only the text of each ``OSError``; those are looked at too.
    """
    if not isinstance(error, OSError):
        return False
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    texts = error.args[0] if error.errno is None and error.args else ()
    marks = (f"[Errno {errno.ENOSPC}]", f"[Errno {errno.EDQUOT}]")
    return isinstance(texts, list) and any(
        isinstance(t, tuple) and any(m in str(t[-1]) for m in marks) for t in texts
    )


@contextmanager
def disk_full_is_typed(path: Path, what: str, needed: int | None = None) -> Iterator[None]:
    """Turn an ENOSPC/EDQUOT ``OSError`` raised in the block into :class:`DiskFull`."""
    try:
        yield
    except OSError as e:
        if is_disk_full(e):
            raise DiskFull(path, what=what, needed=needed) from e
        raise


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding ``path`` (or its nearest existing parent)."""
    here = Path(os.path.abspath(path))
    while not here.exists() and here != here.parent:
        here = here.parent
    while not os.path.ismount(here):
        here = here.parent
    return here


def _free_bytes(mount: Path) -> int | None:
    try:
        st = os.statvfs(mount)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
