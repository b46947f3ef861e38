"""The :class:`Catalog`: every recipe of a directory, validated as a whole."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from mason.catalog import files
from mason.catalog.deps import resolve_variables
from mason.catalog.model import CatalogError, Problem, Recipe, UnknownPackage
from mason.catalog.recipe import RecipeReader
from mason.graph import find_cycles, format_cycle

NAME_RE = re.compile(r"[a-z0-9_]+")
VARIABLES_FILE = "variables.ini"


def _sage_root(root: Path) -> Path | None:
    """``/x/sage`` for ``/x/sage/build/pkgs``: recipes read their files through it."""
    if root.name == "pkgs" and root.parent.name == "build":
        return root.parent.parent
    return None


class Catalog:
    """The recipes of one catalog directory. Build it with :meth:`Catalog.load`."""

    def __init__(
        self,
        root: Path,
        recipes: Mapping[str, Recipe],
        variables: Mapping[str, str],
    ) -> None:
        self.root = root
        self.sage_root = _sage_root(root)
        self.recipes: Mapping[str, Recipe] = MappingProxyType(dict(sorted(recipes.items())))
        self.variables: Mapping[str, str] = MappingProxyType(dict(variables))

    @classmethod
    def load(cls, path: Path, variables: Mapping[str, str] | None = None) -> Catalog:
        """Read and validate every recipe under ``path``.

        Variables come from ``<path>/../variables.ini``, overridden by ``variables``
        (mason.toml's ``[mason.variables]``). Raise :class:`CatalogError` listing every
        problem of the catalog when anything is wrong.
        """
        root = find_catalog(Path(os.path.abspath(path)))
        resolved, problems = _variables(root, variables or {})
        names = _package_dirs(root)
        problems.extend(_bad_name(name) for name in names if not NAME_RE.fullmatch(name))
        base = _sage_root(root) or root.parent
        readers = [
            RecipeReader(root=root, name=name, variables=resolved, file_base=base)
            for name in names
            if NAME_RE.fullmatch(name)
        ]
        recipes = {}
        for reader in readers:
            recipes[reader.name] = reader.read()
            problems.extend(reader.problems)
        problems.extend(_unknown_dependencies(readers, recipes.keys()))
        problems.extend(_cycles(recipes))
        if problems:
            raise CatalogError(root, problems)
        return cls(root, recipes, resolved)

    def __contains__(self, name: object) -> bool:
        return name in self.recipes

    def __iter__(self) -> Iterator[Recipe]:
        return iter(self.recipes.values())

    def __len__(self) -> int:
        return len(self.recipes)

    def __getitem__(self, name: str) -> Recipe:
        self.require([name])
        return self.recipes[name]

    def require(self, names: Iterable[str]) -> None:
        """Raise :class:`UnknownPackage` (with suggestions) for names not in the catalog."""
        missing = [n for n in dict.fromkeys(names) if n not in self.recipes]
        if missing:
            hints = {}
            for name in missing:
                close = difflib.get_close_matches(name, self.recipes.keys(), n=1)
                if close:
                    hints[name] = close[0]
            raise UnknownPackage(missing, hints)

    def reverse_dependencies(self, name: str) -> dict[str, tuple[str, ...]]:
        """Who names ``name``, by role: ``deps``, ``order_only``, ``optional``, ..."""
        roles = ("deps", "order_only", "conditional", "conditional_order_only", "optional", "check")
        found: dict[str, list[str]] = {role: [] for role in roles}
        for recipe in self:
            for role in roles:
                if name in getattr(recipe, role):
                    found[role].append(recipe.name)
        return {role: tuple(names) for role, names in found.items()}


#: where a catalog sits inside a directory given as ``--catalog`` (a SageMath root first)
CATALOG_PLACES = ("build/pkgs", "pkgs")


def find_catalog(given: Path) -> Path:
    """The catalog ``--catalog DIR`` means: DIR when it holds recipes, else the
    ``build/pkgs`` (a SageMath root) or ``pkgs`` inside it. A directory that does not
    exist is a :class:`CatalogError` naming a close one that does ("did you mean")."""
    if not given.is_dir():
        close = difflib.get_close_matches(given.name, _sub_dirs(given.parent), n=1)
        guess = f" (did you mean {given.parent / close[0]}?)" if close else ""
        problem = Problem(None, str(given), None, f"no such catalog directory{guess}")
        raise CatalogError(given, [problem])
    if any((given / name / "type").is_file() for name in _sub_dirs(given)):
        return given
    for place in CATALOG_PLACES:
        if (given / place).is_dir():
            return given / place
    return given


def _sub_dirs(directory: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(directory) if e.is_dir())
    except OSError:
        return []


def _package_dirs(root: Path) -> list[str]:
    """Sub-directories of the catalog; hidden entries and plain files are ignored."""
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def _bad_name(name: str) -> Problem:
    message = "bad package name: use only a-z, 0-9 and _ (rename the directory)"
    return Problem(name, f"{name}/", None, message)


def _variables(root: Path, given: Mapping[str, str]) -> tuple[dict[str, str], list[Problem]]:
    raw: dict[str, str] = {}
    problems: list[Problem] = []
    where = f"../{VARIABLES_FILE}"
    path = root.parent / VARIABLES_FILE
    if path.is_file():
        text, bad = files.decode(path.read_bytes())
        if bad:
            problems.append(Problem(None, where, *bad))
        raw, found = files.parse_variables(text or "")
        problems.extend(Problem(None, where, line, message) for line, message in found)
    sage_root = _sage_root(root)
    if sage_root is not None:
        raw = {"SAGE_ROOT": str(sage_root), "SAGE_SRC": str(sage_root / "src"), **raw}
    resolved, loops = resolve_variables({**raw, **given})
    problems.extend(Problem(None, where, None, message) for message in loops)
    return resolved, problems


def _unknown_dependency(package: str, filename: str, dep: str, known: set[str]) -> Problem:
    close = difflib.get_close_matches(dep, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    message = f"unknown dependency {dep!r}: no such package in the catalog{hint}"
    return Problem(package, f"{package}/{filename}", 1, message)


def _unknown_dependencies(readers: Iterable[RecipeReader], names: Iterable[str]) -> list[Problem]:
    known = set(names)
    problems: list[Problem] = []
    for reader in readers:
        for filename, line in reader.dep_lines.items():
            named = line.normal + line.order_only + line.conditional + line.conditional_order_only
            problems.extend(
                _unknown_dependency(reader.name, filename, dep, known)
                for dep in dict.fromkeys(named)
                if dep not in known
            )
    return problems


def _cycles(recipes: Mapping[str, Recipe]) -> list[Problem]:
    graph = {name: r.deps + r.order_only for name, r in recipes.items()}
    return [
        Problem(c[0], f"{c[0]}/dependencies", 1, f"dependency cycle: {format_cycle(c)}")
        for c in find_cycles(graph)
    ]
