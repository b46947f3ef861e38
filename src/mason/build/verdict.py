"""What a sandboxed build's attempted writes into a live tree get.

Nothing of it ever reached the tree (:mod:`mason.build.sandbox`); what is decided here is
whether the build fails:

- creating anything in the live tree, or changing or deleting a file of another package
  (or one nobody owns), or changing a directory's mode: the build fails, every path is
  listed (:class:`~mason.build.errors.StrayWrites`);
- changing or deleting only files of the package's own installed version (SageMath's
  ``gmp`` runs ``rm -f "$SAGE_LOCAL"/include/gmp*.h`` before installing): noted in one
  line, not failed; the merge replaces those files anyway;
- creating files in the live tree while ``DESTDIR`` got nothing: the build system
  ignores ``DESTDIR`` (:class:`~mason.build.errors.IgnoredDestdir`, saying how to fix the
  recipe); with the recipe's explicit opt-in (a file ``no-destdir``) the caught files are
  staged instead (:func:`adopt`) and merged like any other.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mason.build.capture import Change
from mason.build.errors import IgnoredDestdir, StrayWrites

#: The recipe file that opts in to staging what the sandbox caught (for build systems
#: that ignore DESTDIR).
NO_DESTDIR = "no-destdir"

#: The owners of each path of a live tree (a path missing: no owner).
Owners = Mapping[str, Collection[str]]


@dataclass(frozen=True)
class Verdict:
    """The changes of one live tree, sorted out."""

    created: tuple[Change, ...]  # new paths in the live tree
    own: tuple[Change, ...]  # changes to files of the package's installed version
    stray: tuple[str, ...]  # message lines: changes to other packages' (or nobody's) files

    def note(self) -> str | None:
        """The one line noting prevented changes to the package's own files."""
        files = [c for c in self.own if not c.is_dir]
        if not files:
            return None
        kinds = " or ".join(sorted({c.kind.removesuffix("d") for c in files}))
        example = ", ".join(c.path for c in files[:3]) + (", ..." if len(files) > 3 else "")
        return (
            f"the build tried to {kinds} {len(files)} file(s) of its installed version in "
            f"the live tree ({example}): prevented; the merge replaces them"
        )


def _whose(owners: Collection[str]) -> str:
    return f"of {', '.join(sorted(owners))}" if owners else "owned by no package"


def sort_out(name: str, changes: Sequence[Change], owners: Owners) -> Verdict:
    """Sort ``changes`` (of one live tree) for the package ``name``; ``owners`` names the
    packages owning each changed path of that tree."""
    created: list[Change] = []
    own: list[Change] = []
    stray: list[str] = []
    for change in changes:
        if change.kind == "created":
            created.append(change)
        elif change.is_dir and change.kind == "deleted":
            below = [c for c in changes if not c.is_dir and c.path.startswith(f"{change.path}/")]
            whose = {o for c in below for o in owners.get(c.path, ())}
            if below and whose == {name}:
                own.append(change)
            else:
                stray.append(f"{change.describe()} (files {_whose(whose)})")
        elif change.is_dir:
            stray.append(f"{change.describe()} (a directory's mode)")
        else:
            who = set(owners.get(change.path, ()))
            if who == {name}:
                own.append(change)
            else:
                stray.append(f"{change.describe()} ({_whose(who)})")
    return Verdict(tuple(created), tuple(own), tuple(stray))


def enforce(
    package: str, root: Path, verdict: Verdict, *, staged_nothing: bool, no_destdir: bool
) -> bool:
    """Raise for what must fail; ``True`` when the created files are to be staged
    (:func:`adopt`: the recipe opted in with :data:`NO_DESTDIR`)."""
    created = [c.describe() for c in verdict.created]
    if verdict.stray:
        raise StrayWrites(package, root, [*verdict.stray, *created])
    if not created:
        return False
    if no_destdir:
        return True
    if staged_nothing:
        raise IgnoredDestdir(package, root, created)
    raise StrayWrites(package, root, created)


def adopt(layers: Sequence[Path], verdict: Verdict, staged: Path) -> None:
    """Copy the created and changed files of ``verdict`` from the captured ``layers``
    (in the order the scripts ran: the last one holding a path wins) into ``staged``."""
    for change in (*verdict.created, *verdict.own):
        if change.kind == "deleted" or change.is_dir:
            continue
        source = next(p / change.path for p in reversed(layers) if _exists(p / change.path))
        target = staged / change.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    for change in verdict.created:
        if change.is_dir:
            (staged / change.path).mkdir(parents=True, exist_ok=True)


def _exists(path: Path) -> bool:
    return path.is_symlink() or path.exists()
