"""The prefix as a transactional store: staged trees, merge, claims, records, recovery.

Typical use::

    prefix = Prefix(Path("local"))
    staged = prefix.scan(destdir, "zlib")           # validate + hash, no lock
    record = prefix.merge(staged, PackageMeta("zlib", "1.2.13"))
"""

from mason.store.errors import (
    CollisionError,
    Conflict,
    LockTimeout,
    NoPrefix,
    NotInstalled,
    Problem,
    ReadOnlyPrefix,
    RecordUnreadable,
    StagedTreeError,
    StoreError,
)
from mason.store.headers import Summary, read_headers
from mason.store.locks import Lock
from mason.store.merge import PackageMeta
from mason.store.prefix import Prefix, require_writable, writable
from mason.store.records import FileInfo, Record, RecordHeader, newest_by_name
from mason.store.recover import RecoveryReport
from mason.store.staged import StagedEntry, StagedTree
from mason.store.uninstall import PackageInUse, UninstallReport, check_unused
from mason.store.verify import FileProblem, VerifyReport, missing_dependencies

__all__ = [
    "CollisionError",
    "Conflict",
    "FileInfo",
    "FileProblem",
    "Lock",
    "LockTimeout",
    "NoPrefix",
    "NotInstalled",
    "PackageInUse",
    "PackageMeta",
    "Prefix",
    "Problem",
    "ReadOnlyPrefix",
    "Record",
    "RecordHeader",
    "RecordUnreadable",
    "RecoveryReport",
    "StagedEntry",
    "StagedTree",
    "StagedTreeError",
    "StoreError",
    "Summary",
    "UninstallReport",
    "VerifyReport",
    "check_unused",
    "missing_dependencies",
    "newest_by_name",
    "read_headers",
    "require_writable",
    "writable",
]
