"""What an install is told (options), what it reports (failures), and facts about recipes
the run and the pipeline share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mason.catalog import Catalog, Recipe
from mason.errors import MasonError
from mason.fetch import SourceSpec

if TYPE_CHECKING:
    from mason.build.sandbox import Sandbox


@dataclass(frozen=True)
class InstallOptions:
    """How to install (the command line's ``install`` options)."""

    jobs: int = 1
    keep_going: bool = False
    check: bool = False
    allow_overwrite: bool = False
    upstream: Path | None = None
    mirrors: tuple[str, ...] = ()
    python: str | None = None
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    venv: Path | None = None  # the venv's directory (None: the remembered one, or the prefix)
    cache: Path | None = None  # the user's cache (byte-code shared by every prefix)
    sandbox: Sandbox | None = None  # builds run in it (mason.build.sandbox); None: watched


class InstallFailed(MasonError):
    """One package failed; ``cause`` says why, ``log`` and ``work_dir`` where to look."""

    def __init__(self, package: str, cause: BaseException, log: Path, work_dir: Path | None):
        self.package = package
        self.cause = cause
        self.log = log
        self.work_dir = work_dir
        text = _without_label(package, str(cause))
        where = "" if str(log) in text else f"\n  log: {log}"
        kept = f"\n  build directory kept: {work_dir}" if work_dir else ""
        super().__init__(f"{package}: {text}{where}{kept}")
        self.hint = getattr(cause, "hint", None)


def source_spec(recipe: Recipe) -> SourceSpec | None:
    """The upstream file of ``recipe`` (None when it has no tarball)."""
    c = recipe.checksums
    if c is None or c.tarball is None:
        return None
    return SourceSpec(recipe.name, recipe.version, c)


def default_upstream(catalog: Catalog) -> Path:
    """``upstream/`` next to the catalog directory (SageMath's ``$SAGE_ROOT/upstream``)."""
    root = catalog.sage_root or catalog.root.parent
    return root / "upstream"


def needs_python(recipe: Recipe) -> bool:
    """Whether building or installing ``recipe`` needs the venv."""
    return recipe.kind in ("pip", "wheel") or recipe.tree == "venv"


def short_error(error: BaseException | None) -> str:
    """The first line of ``error``'s message, without its package label."""
    if isinstance(error, InstallFailed):
        return _without_label(error.package, str(error.cause).splitlines()[0])
    return str(error).splitlines()[0] if error else ""


def _without_label(package: str, text: str) -> str:
    """``text`` without a leading ``package:`` (the causes often name their package)."""
    return text.removeprefix(f"{package}: ")
