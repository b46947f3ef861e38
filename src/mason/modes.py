"""The one permission policy for files mason unpacks (extraction) or stages (merge).

Every regular file and directory ends up without setuid, setgid or sticky bits, readable
and writable by its owner (directories also searchable), with the process umask applied:
what an archive or a build asked for, made safe and ours.
"""

from __future__ import annotations

import functools
import os
import stat

_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def sane_mode(mode: int, *, is_dir: bool, umask: int) -> int:
    """The permission bits a file (or directory) of ``mode`` gets under ``umask``."""
    owner = stat.S_IRWXU if is_dir else stat.S_IRUSR | stat.S_IWUSR
    return ((stat.S_IMODE(mode) & ~_SPECIAL_BITS) | owner) & ~umask


def process_umask() -> int:
    """The process umask, read without changing it.

    ``os.umask`` can only read the mask by setting another one, and job threads creating
    files meanwhile would get the wrong permissions; Linux shows it in
    ``/proc/self/status``. Only without that is it read by setting it, once per process.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _umask_by_setting()


@functools.cache
def _umask_by_setting() -> int:
    mask = os.umask(0o077)  # the strictest mask while it is changed
    os.umask(mask)
    return mask
