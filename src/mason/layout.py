"""Where mason keeps its own things inside a prefix (paths relative to the prefix).

One place for the layout that several modules share; see docs/architecture.md.
"""

from __future__ import annotations

#: mason's state: records, ownership index, journal, wheel store, kept removal scripts.
STATE_DIR = "var/lib/mason"
#: Install records, one file ``<name>-<version>`` per installed package.
RECORDS_DIR = f"{STATE_DIR}/installed"
#: The ownership index (SQLite; rebuildable from the records).
INDEX_FILE = f"{STATE_DIR}/owners.sqlite"
#: The write-ahead journal (one intent per unfinished transaction) and the transactions'
#: own directories (backups, kept files).
JOURNAL_DIR = f"{STATE_DIR}/journal"
TXN_DIR = f"{STATE_DIR}/txn"
#: What mason asked the venv's interpreter (scheme paths, wheel tags), in the venv's store.
VENV_CACHE = f"{STATE_DIR}/venv.json"
#: The wheel store (SPEC 6). Its files belong to packages: a stored wheel is a file of the
#: staged tree of the package that stored it, merged and claimed like any other.
WHEELS_DIR = f"{STATE_DIR}/wheels"
#: The removal scripts of installed packages, one directory per package; they go with
#: the record.
SCRIPTS_DIR = f"{STATE_DIR}/scripts"
#: The removal scripts a package's recipe may have, kept in ``SCRIPTS_DIR/<name>/`` with its
#: record (by :mod:`mason.store.kept`) and run by ``mason uninstall``.
REMOVAL_SCRIPTS = ("spkg-prerm.in", "spkg-postrm.in")
#: Where the prefix's venv is, once made (``--venv``; see :mod:`mason.trees`).
VENV_LOCATION = f"{STATE_DIR}/venv-location.json"
#: Lock files.
LOCK_DIR = "var/lock"
#: The store's lock (exclusive for changes, shared for queries).
PREFIX_LOCK = f"{LOCK_DIR}/prefix.lock"
#: The lock of making the venv (and its cache).
VENV_LOCK = f"{LOCK_DIR}/mason-venv.lock"
#: Build logs ``<name>-<version>.log`` and the last run's events.
LOG_DIR = "var/log/mason"
#: The events of the last ``mason install`` (:mod:`mason.report`).
RUN_LOG = f"{LOG_DIR}/last-run.json"
#: Build and staging directories (on the prefix's filesystem).
TMP_DIR = "var/tmp/mason"
#: Finished work directories waiting for the background removal (:mod:`mason.trash`).
TRASH_DIR = f"{TMP_DIR}/.trash"

#: Directories no package may install into (but :data:`WHEELS_DIR`, see :func:`is_mason_own`).
RESERVED = (STATE_DIR, LOCK_DIR, TMP_DIR)
#: Everything mason writes itself: not claimed by packages, not checked as package files
#: (but :data:`WHEELS_DIR`).
BOOKKEEPING = (*RESERVED, LOG_DIR)

#: Links mason makes itself in every staged tree and, with the first package that had it,
#: in the prefix (``lib64 -> lib``, SPEC 4): no package owns them, no uninstall removes them.
COMPAT_LINKS = {"lib64": "lib"}


def is_compat_link(rel: str, target: str | None) -> bool:
    """Whether ``rel`` (relative to a prefix), a symlink to ``target``, is mason's own link."""
    return target is not None and COMPAT_LINKS.get(rel) == target


def is_mason_own(rel: str, dirs: tuple[str, ...] = BOOKKEEPING) -> bool:
    """Whether the prefix path ``rel`` lies in one of ``dirs`` (mason's own files), not
    counting the wheel store, whose files packages own, and the directories leading to it."""
    if not rel.startswith("var"):  # the common case, on every path of a prefix walk
        return False
    if rel == WHEELS_DIR or rel.startswith(WHEELS_DIR + "/") or WHEELS_DIR.startswith(rel + "/"):
        return False
    return any(rel == d or rel.startswith(d + "/") for d in dirs)
