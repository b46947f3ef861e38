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
    NotInstalled,
    Problem,
    StagedTreeError,
    StoreError,
)
from mason.store.locks import Lock
from mason.store.merge import PackageMeta
from mason.store.prefix import Prefix
from mason.store.records import FileInfo, Record
from mason.store.recover import RecoveryReport
from mason.store.staged import StagedEntry, StagedTree
from mason.store.uninstall import PackageInUse, UninstallReport, check_unused
from mason.store.verify import FileProblem, VerifyReport

__all__ = [
    "CollisionError",
    "Conflict",
    "FileInfo",
    "FileProblem",
    "Lock",
    "LockTimeout",
    "NotInstalled",
    "PackageInUse",
    "PackageMeta",
    "Prefix",
    "Problem",
    "Record",
    "RecoveryReport",
    "StagedEntry",
    "StagedTree",
    "StagedTreeError",
    "StoreError",
    "UninstallReport",
    "VerifyReport",
    "check_unused",
]
