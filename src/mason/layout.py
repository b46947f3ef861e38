"""Where mason keeps its own things inside a prefix (paths relative to the prefix).

One place for the layout that several modules share; see docs/architecture.md.
"""

from __future__ import annotations

#: mason's state: records, ownership index, journal, wheel store, kept removal scripts.
STATE_DIR = "var/lib/mason"
#: Install records, one file ``<name>-<version>`` per installed package.
RECORDS_DIR = f"{STATE_DIR}/installed"
#: The wheel store (SPEC 6). Its files belong to packages: a stored wheel is a file of the
#: staged tree of the package that stored it, merged and claimed like any other.
WHEELS_DIR = f"{STATE_DIR}/wheels"
#: The removal scripts of installed packages, one directory per package; they go with
#: the record.
SCRIPTS_DIR = f"{STATE_DIR}/scripts"
#: The removal-script fragments an install keeps in ``SCRIPTS_DIR/<name>/`` (SPEC 8).
REMOVAL_SCRIPTS = ("spkg-prerm.in", "spkg-postrm.in")
#: Where the prefix's venv is, once made (``--venv``; see :mod:`mason.trees`).
VENV_LOCATION = f"{STATE_DIR}/venv-location.json"
#: Lock files.
LOCK_DIR = "var/lock"
#: Build logs ``<name>-<version>.log`` and the last run's events.
LOG_DIR = "var/log/mason"
#: Build and staging directories (on the prefix's filesystem).
TMP_DIR = "var/tmp/mason"

#: Directories no package may install into (but :data:`WHEELS_DIR`, see :func:`is_mason_own`).
RESERVED = (STATE_DIR, LOCK_DIR, TMP_DIR)
#: Everything mason writes itself: not claimed by packages, not checked as package files
#: (but :data:`WHEELS_DIR`).
BOOKKEEPING = (*RESERVED, LOG_DIR)


def is_mason_own(rel: str, dirs: tuple[str, ...] = BOOKKEEPING) -> bool:
    """Whether the prefix path ``rel`` lies in one of ``dirs`` (mason's own files), not
    counting the wheel store, whose files packages own, and the directories leading to it."""
    if not rel.startswith("var"):  # the common case, on every path of a prefix walk
        return False
    if rel == WHEELS_DIR or rel.startswith(WHEELS_DIR + "/") or WHEELS_DIR.startswith(rel + "/"):
        return False
    return any(rel == d or rel.startswith(d + "/") for d in dirs)
