"""tarfile's ``"data"`` extraction filter (PEP 706) on every Python 3.11.

Python 3.11.4 added :func:`tarfile.data_filter` and ``TarFile.extract(filter=...)``.
Debian 12's own ``python3`` is 3.11.2, which has neither. :func:`extract` uses tarfile's
filter where it exists and, before 3.11.4, the same rules written out here, so a tar
member gets the same checks on every interpreter mason supports:

- its name, once leading slashes are stripped, is relative, and its path (symlinks on the
  real filesystem followed) stays inside the destination;
- a link's target is relative and resolves inside the destination;
- device nodes, fifos and other special files are refused;
- owners are dropped; a file keeps only its owner/group/other read and execute bits
  (owner read and write always; nobody executes what its owner cannot), a directory gets
  the default mode.

A refusal raises :class:`Refused` with tarfile's own message where tarfile decided.
"""

from __future__ import annotations

import copy
import os
import tarfile

_HAS_FILTER = hasattr(tarfile, "data_filter")  # Python >= 3.11.4


class Refused(Exception):
    """A member the data filter does not extract; the message says why."""


def checked(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """``member`` as the data filter would extract it into ``dest``, or :class:`Refused`."""
    if _HAS_FILTER:
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as e:
            raise Refused(str(e)) from e
    return _written_out(member, dest)


def extract(tf: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
    """Extract ``member`` of ``tf`` into ``dest`` through the data filter."""
    if _HAS_FILTER:
        try:
            tf.extract(member, dest, filter="data")
        except tarfile.FilterError as e:
            raise Refused(str(e)) from e
        return
    tf.extract(_written_out(member, dest), dest, numeric_owner=True)


def _inside(path: str, dest: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), dest]) == dest


def _written_out(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The rules of Python 3.12's ``tarfile.data_filter``, for interpreters without it."""
    dest = os.path.realpath(dest)
    name = member.name.lstrip("/")
    if os.path.isabs(name):
        raise Refused(f"{member.name!r} is an absolute path")
    if not _inside(os.path.join(dest, name), dest):
        raise Refused(f"{member.name!r} would be extracted outside the destination")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise Refused(f"{member.name!r} is a special file")
    if member.issym() or member.islnk():
        if os.path.isabs(member.linkname):
            raise Refused(f"{member.name!r} is a link to an absolute path")
        base = os.path.dirname(name) if member.issym() else ""
        if not _inside(os.path.join(dest, base, member.linkname), dest):
            raise Refused(f"{member.name!r} would link to a path outside the destination")
    mode = member.mode
    if member.isreg() or member.islnk():
        mode = (mode & 0o755) | 0o600
        if not mode & 0o100:
            mode &= ~0o011
    elif member.isdir():
        mode = 0o755
    out = copy.copy(member)
    out.name, out.mode = name, mode
    out.uid, out.gid, out.uname, out.gname = os.getuid(), os.getgid(), "", ""
    return out
