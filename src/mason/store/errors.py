"""Errors raised by the store: typed fields, messages that name the package and path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mason.errors import BadInput, MasonError

ConflictKind = Literal["owned", "unowned", "file-over-dir", "dir-over-file", "duplicate"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a staged tree: a path relative to the staging root and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Conflict:
    """One path of a staged tree that cannot be merged into the prefix as it is."""

    kind: ConflictKind
    path: str
    owners: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "owned":
            return f"{self.path}: already owned by {', '.join(self.owners)}"
        if self.kind == "unowned":
            return f"{self.path}: an unowned file is in the way in the prefix"
        if self.kind == "file-over-dir":
            return f"{self.path}: staged as a file, but the prefix has a directory there"
        if self.kind == "dir-over-file":
            return f"{self.path}: staged as a directory, but the prefix has a file there"
        return f"{self.path}: staged twice (through a directory symlink in the prefix)"


class StagedTreeError(BadInput):
    """A staged tree is unsafe or malformed; every problem is listed at once."""

    def __init__(self, package: str, root: str, problems: Sequence[Problem]) -> None:
        self.package = package
        self.root = root
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p.path}: {p.reason}" for p in self.problems)
        super().__init__(
            f"{package}: staged tree {root} has {len(self.problems)} problem(s):\n{lines}",
            hint="fix the package's install step so that DESTDIR holds only regular files, "
            "directories and symlinks that stay inside the prefix",
        )


class CollisionError(BadInput):
    """Paths of a staged tree collide with the prefix; every conflict is listed at once.

    ``path`` and ``owners`` describe the first conflict; ``conflicts`` holds all of them.
    """

    def __init__(self, package: str, conflicts: Sequence[Conflict]) -> None:
        self.package = package
        self.conflicts = tuple(conflicts)
        self.path = self.conflicts[0].path
        self.owners = self.conflicts[0].owners
        lines = "\n".join(f"  {c.describe()}" for c in self.conflicts)
        super().__init__(
            f"{package}: cannot merge, {len(self.conflicts)} path(s) collide with the prefix:\n"
            f"{lines}",
            hint="remove the conflicting package, fix the recipe, or pass --allow-overwrite",
        )


@dataclass(frozen=True)
class LockHolder:
    """The process that took a lock, as the lock file says."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}"


class LockTimeout(MasonError):
    """A prefix lock could not be taken in time (another mason process holds it).

    Exit status 2, like ``--lock-timeout`` giving up (the prefix is unchanged)."""

    exit_code = 2

    def __init__(
        self, path: str, mode: str, timeout: float, holder: LockHolder | None = None
    ) -> None:
        self.path = path
        self.mode = mode
        self.timeout = timeout
        self.holder = holder
        held = f" (held by {holder})" if holder is not None else ""
        super().__init__(
            f"could not take the {mode} lock {path} within {timeout:g} s{held}",
            hint="another mason process is working on this prefix; wait for it or retry",
        )


class StoreError(MasonError):
    """The prefix is in a state mason cannot work with (a corrupt record, a failed move)."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        self.path = path
        super().__init__(message, hint=hint)


class RecordUnreadable(StoreError):
    """An install record is not valid JSON of the expected shape."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"install record {path} is unreadable: {why}",
            path=str(path),
            hint="run `mason recover`, or `mason verify` to see what the prefix holds",
        )


class NotInstalled(BadInput):
    """A package name that has no record in the prefix."""

    def __init__(self, package: str, prefix: str) -> None:
        self.package = package
        super().__init__(f"{package}: not installed in {prefix}")


class ReadOnlyPrefix(BadInput):
    """A command that must write to the prefix, on a prefix mason cannot write to."""

    def __init__(self, prefix: str, why: str = "") -> None:
        self.prefix = prefix
        super().__init__(
            f"the prefix {prefix} is read-only{f' ({why})' if why else ''}: "
            "this command must write to it",
            hint="run it where the prefix is writable; the queries (list --installed, info, "
            "files, owner, verify, plan, log, report) work on a read-only prefix",
        )


class NoPrefix(BadInput):
    """A query about what is installed, on a prefix that does not exist."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        super().__init__(
            f"no prefix at {prefix}: nothing is installed there",
            hint="pass --prefix DIR (or set MASON_PREFIX) for an existing prefix, "
            "or `mason install` into this one first",
        )
