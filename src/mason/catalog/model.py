"""The values the catalog reader produces: recipes, checksums, problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mason.errors import BadInput

Kind = Literal["normal", "pip", "wheel", "script", "none"]
PkgType = Literal["base", "standard", "optional", "experimental"]
Tree = Literal["prefix", "venv"]

KINDS: tuple[Kind, ...] = ("normal", "pip", "wheel", "script", "none")
TYPES: tuple[PkgType, ...] = ("base", "standard", "optional", "experimental")
SCRIPT_NAMES = ("install", "build", "check", "preinst", "postinst", "prerm", "postrm")

#: the version of recipes without ``package-version.txt`` (SageMath writes ``none`` too)
NO_VERSION = "none"


@dataclass(frozen=True)
class Checksums:
    """``checksums.ini``; ``tarball`` and ``upstream_url`` have VERSION substituted."""

    tarball: str | None
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None
    cksum: str | None = None
    upstream_url: str | None = None


@dataclass(frozen=True)
class Recipe:
    """One package of the catalog, as its directory describes it (SPEC section 2).

    Dependency tuples hold package names only, with variables expanded, in file order.
    ``conditional`` holds the packages named by make functions such as
    ``$(findstring X,$(OPTIONAL_INSTALLED_PACKAGES))`` before the ``|``;
    ``conditional_order_only`` those after it. ``file_deps`` are file paths (known
    variables expanded; relative ones are relative to ``sage_root`` or the catalog's parent).
    """

    name: str
    path: Path
    version: str
    upstream_version: str
    patch_level: int | None
    type: PkgType
    kind: Kind
    tree: Tree
    summary: str
    deps: tuple[str, ...]
    order_only: tuple[str, ...]
    optional: tuple[str, ...]
    check: tuple[str, ...]
    conditional: tuple[str, ...]
    file_deps: tuple[str, ...]
    force: bool
    checksums: Checksums | None
    requirements: str | None
    python_requirement: str | None
    scripts: Mapping[str, Path]
    patches: tuple[Path, ...]
    recipe_hash: str
    conditional_order_only: tuple[str, ...] = ()

    @property
    def all_dependencies(self) -> tuple[str, ...]:
        """Every package this recipe may need, in any role, without repeats."""
        lists = (
            self.deps,
            self.order_only,
            self.conditional,
            self.conditional_order_only,
            self.optional,
            self.check,
        )
        return tuple(dict.fromkeys(name for names in lists for name in names))


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a catalog. ``file`` is relative to the catalog directory
    (or absolute for files outside it); ``line`` is 1-based, ``None`` for the whole file."""

    package: str | None
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        named = self.package is None or self.file.startswith(f"{self.package}/")
        who = "" if named else f"[{self.package}] "
        return f"{where}: {who}{self.message}"


class CatalogError(BadInput):
    """The catalog has problems; ``problems`` lists every one of them, sorted by file."""

    def __init__(self, root: Path, problems: Sequence[Problem]) -> None:
        self.root = root
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0, p.message)))
        n = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"catalog {root} has {n} problem{'s' if n != 1 else ''}:\n{lines}",
            hint="fix the files named above; every problem of the catalog is listed",
        )


class UnknownPackage(BadInput):
    """Names that are not recipes of the catalog."""

    def __init__(self, names: Sequence[str], suggestions: Mapping[str, str]) -> None:
        self.names = tuple(names)
        self.suggestions = dict(suggestions)
        parts = [f"{n} (did you mean {suggestions[n]}?)" if n in suggestions else n for n in names]
        super().__init__(
            f"not in the catalog: {', '.join(parts)}",
            hint="`mason list` shows the catalog's packages",
        )
