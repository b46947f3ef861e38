"""Errors of a package build: failing scripts and patches, bad fragments, stray files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mason.errors import BadInput, MasonError

#: How much of a log's end :func:`log_tail` reads at most.
_TAIL_BYTES = 1 << 20


def log_tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of the log at ``path`` (empty if it cannot be read)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(size - _TAIL_BYTES, 0))
            text = log.read().decode(errors="replace")
    except OSError:
        return []
    found = text.splitlines()
    if size > _TAIL_BYTES:
        found = found[1:]  # the first line read may be cut
    return found[-lines:] if lines > 0 else []


class BuildError(MasonError):
    """Base of the errors raised while building one package."""

    def __init__(self, package: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.package = package


class ScriptFailed(BuildError):
    """A recipe script (``spkg-install``, ...) exited with a non-zero status."""

    def __init__(self, package: str, script: str, status: int, log_path: Path) -> None:
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        super().__init__(
            package,
            f"{package}: {script} {how}; the full log is {log_path}",
            hint=f"read {log_path}; the build directory is kept for inspection",
        )
        self.script = script
        self.status = status
        self.log_path = log_path

    def log_tail(self, lines: int = 30) -> list[str]:
        """The last ``lines`` lines of the log (empty if it cannot be read)."""
        return log_tail(self.log_path, lines)


class PatchFailed(BuildError):
    """``patch -p1`` could not apply one of the recipe's patches."""

    def __init__(self, package: str, patch: Path, output: str) -> None:
        super().__init__(
            package,
            f"{package}: patch {patch.name} does not apply ({patch}):\n{output.rstrip()}",
            hint=f"refresh {patch} against the upstream sources",
        )
        self.patch = patch
        self.output = output


class BadFragment(BuildError, BadInput):
    """A ``spkg-*.in`` fragment cannot be run (it starts with a shebang line)."""

    def __init__(self, package: str, fragments: Sequence[Path]) -> None:
        names = ", ".join(str(path) for path in fragments)
        super().__init__(
            package,
            f"{package}: a .in fragment must not start with a shebang line: {names}",
            hint="remove the '#!' line: mason runs fragments with bash and the sdh_* helpers",
        )
        self.fragments = tuple(fragments)


class StagedOutsidePrefix(BuildError, BadInput):
    """The build put files into DESTDIR outside ``$DESTDIR$PREFIX``."""

    def __init__(self, package: str, destdir: Path, paths: Sequence[Path]) -> None:
        listing = "\n  ".join(str(path) for path in paths)
        super().__init__(
            package,
            f"{package}: the build installed outside the prefix in {destdir}:\n  {listing}",
            hint="install under $PREFIX (configure --prefix=$SAGE_INST_LOCAL, DESTDIR=$DESTDIR)",
        )
        self.destdir = destdir
        self.paths = tuple(paths)


class WroteIntoPrefix(BuildError, BadInput):
    """The build wrote into the live prefix instead of DESTDIR."""

    def __init__(self, package: str, prefix: Path, paths: Sequence[str]) -> None:
        listing = "\n  ".join(paths)
        super().__init__(
            package,
            f"{package}: the build wrote into the live prefix {prefix} instead of DESTDIR:\n"
            f"  {listing}",
            hint="install with DESTDIR=$SAGE_DESTDIR (sdh_make_install, sdh_install)",
        )
        self.prefix = prefix
        self.paths = tuple(paths)


def _listing(lines: Sequence[str], limit: int = 20) -> str:
    shown = "\n  ".join(lines[:limit])
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"  {shown}{more}"


class StrayWrites(BuildError):
    """A sandboxed build tried to create files in a live tree, or to change or delete
    files of other packages (or files nobody owns). Nothing reached the tree."""

    def __init__(self, package: str, root: Path, lines: Sequence[str]) -> None:
        super().__init__(
            package,
            f"{package}: the build tried to change the live tree {root} (prevented, it is "
            f"unchanged):\n{_listing(lines)}",
            hint="install into DESTDIR (sdh_make_install, make install DESTDIR=$SAGE_DESTDIR); "
            "a build must never change other packages' files",
        )
        self.root = root
        self.lines = tuple(lines)


class IgnoredDestdir(BuildError):
    """A sandboxed build put every file into the live tree and none into DESTDIR."""

    def __init__(self, package: str, root: Path, lines: Sequence[str]) -> None:
        super().__init__(
            package,
            f"{package}: the build installed all its files into the live tree {root} and "
            f"none into DESTDIR (prevented, it is unchanged); its build system ignores "
            f"DESTDIR:\n{_listing(lines)}",
            hint="install with 'make install DESTDIR=$SAGE_DESTDIR' or sdh_make_install; if "
            "the build system cannot, add an empty file 'no-destdir' to the recipe: mason "
            "then stages what the sandbox caught",
        )
        self.root = root
        self.lines = tuple(lines)
