"""The errors of extracting an archive (:mod:`mason.extract`): every problem of a refused
archive at once, corrupt archives, failed writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mason.errors import BadInput, MasonError


@dataclass(frozen=True)
class Problem:
    """One member an archive may not have, and why."""

    member: str
    reason: str


class BadArchive(BadInput):
    """An archive mason will not extract. ``archive`` is its path."""

    archive: Path


class ArchiveRejected(BadArchive):
    """The archive has unsafe or unextractable members; ``problems`` lists every one."""

    def __init__(self, archive: Path, problems: Sequence[Problem]):
        self.archive = archive
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p.member!r}: {p.reason}" for p in self.problems)
        super().__init__(
            f"{archive}: refusing to extract, unsafe members:\n{lines}",
            hint="the archive is broken or hostile; get the source from its upstream again",
        )


class CorruptArchive(BadArchive):
    """The archive cannot be read: truncated, corrupt, or not an archive at all."""

    def __init__(self, archive: Path, member: str | None, detail: str):
        self.archive = archive
        self.member = member
        self.detail = detail
        where = f" near member {member!r}" if member else ""
        super().__init__(
            f"{archive}: corrupt or truncated archive{where}: {detail}",
            hint="delete it from the upstream cache and fetch it again",
        )


class ExtractFailed(MasonError):
    """Writing a member failed for a reason outside the archive (disk full, permissions)."""

    def __init__(self, archive: Path, member: str, error: OSError):
        self.archive = archive
        self.member = member
        self.error = error
        super().__init__(f"{archive}: cannot extract member {member!r}: {error.strerror or error}")


class DestinationExists(BadInput):
    """Extraction needs a fresh directory, and ``dest`` is already there."""

    def __init__(self, archive: Path, dest: Path):
        self.archive = archive
        self.dest = dest
        super().__init__(f"cannot extract {archive.name}: {dest} already exists")
