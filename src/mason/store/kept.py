"""Files the store keeps with a package's record besides the files it claims: the removal
scripts (:data:`~mason.layout.REMOVAL_SCRIPTS`) in ``SCRIPTS_DIR/<name>/``.

They are part of the merge's transaction, so they always belong to the committed record:
the intent names them (:attr:`~mason.store.journal.Intent.kept`), the merge writes them
into the transaction directory before the first move, and the commit (and a roll-forward
after a crash) puts copies in place of the previous version's. A merge rolled back
leaves the previous version's scripts; an uninstall removes them with the record.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from mason.errors import BadInput
from mason.layout import SCRIPTS_DIR
from mason.store import fsops


def _staged(txn_dir: Path, name: str) -> Path:
    return txn_dir / f"kept-{name}"


def check_names(package: str, names: Iterable[str]) -> None:
    """Raise :class:`~mason.errors.BadInput` for a kept file name that is not a plain one."""
    for name in names:
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise BadInput(f"{package}: not a plain file name for a kept file: {name!r}")


def stage(txn_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` durably into the transaction directory (before the first move)."""
    for name, data in files.items():
        fsops.write_atomic(_staged(txn_dir, name), data)


def put_in_place(prefix: Path, package: str, names: Iterable[str], txn_dir: Path) -> None:
    """Make ``SCRIPTS_DIR/<package>`` hold exactly copies of the staged ``names`` (after
    the commit; the copies leave the staged files, so doing it again is harmless).

    Staged files missing: the transaction directory is being removed (the last step of a
    transaction, after this one), so they were put in place already."""
    names = list(names)
    if not txn_dir.is_dir() or not all(_staged(txn_dir, n).is_file() for n in names):
        return
    target = prefix / SCRIPTS_DIR / package
    if os.path.lexists(target):
        fsops.rmtree(target)
    if not names:
        return
    fsops.makedirs(target)
    for name in names:
        fsops.write_atomic(target / name, _staged(txn_dir, name).read_bytes())
    fsops.fsync_dir(target.parent)


def remove(prefix: Path, package: str) -> None:
    """Remove what is kept for ``package`` (its uninstall committed)."""
    target = prefix / SCRIPTS_DIR / package
    if os.path.lexists(target):
        fsops.rmtree(target)
