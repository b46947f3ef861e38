"""Reading one recipe directory into a :class:`Recipe`, collecting its problems."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mason.catalog import files
from mason.catalog.deps import DepLine, parse_dependency_line
from mason.catalog.model import (
    NO_VERSION,
    SCRIPT_NAMES,
    Checksums,
    Kind,
    PkgType,
    Problem,
    Recipe,
    Tree,
)
from mason.catalog.requirements import parse_requirements

#: files whose dependency lists a recipe may have, and the list each one feeds
DEPENDENCY_FILES = ("dependencies", "dependencies_optional", "dependencies_check")


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (symlinks followed), by POSIX path relative to it."""
    found: dict[str, bytes] = {}
    for top, dirs, names in os.walk(directory, followlinks=True):
        dirs.sort()
        rel_top = os.path.relpath(top, directory)
        for name in names:
            rel = name if rel_top == "." else f"{rel_top}/{name}".replace(os.sep, "/")
            try:
                found[rel] = Path(top, name).read_bytes()
            except OSError:
                found[rel] = b""  # a dangling symlink: reported by the caller if it matters
    return found


def recipe_hash(contents: Mapping[str, bytes]) -> str:
    """sha256 over the names and contents of a recipe's files, in name order."""
    digest = hashlib.sha256()
    for rel in sorted(contents):
        data = contents[rel]
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass
class RecipeReader:
    """Reads the files of one recipe; ``problems`` collects what is wrong with them."""

    root: Path
    name: str
    variables: Mapping[str, str]
    file_base: Path
    contents: dict[str, bytes] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dep_lines: dict[str, DepLine] = field(default_factory=dict)

    def problem(self, filename: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.name, f"{self.name}/{filename}", line, message))

    def text(self, filename: str) -> str | None:
        """The decoded file, or ``None`` when absent or undecodable (then a problem)."""
        data = self.contents.get(filename)
        if data is None:
            return None
        text, bad = files.decode(data)
        if bad:
            self.problem(filename, *bad)
        return text

    def read(self) -> Recipe:
        """The recipe; look at ``problems`` before trusting it."""
        path = self.root / self.name
        self.contents = read_tree(path)
        version, upstream, patch_level = self._version()
        checksums = self._checksums(upstream if version != NO_VERSION else None)
        requirements = self.text("requirements.txt")
        python_req = self._python_requirement()
        scripts = self._scripts(path)
        kind = _kind(requirements, checksums, scripts)
        deps = self._dependencies()
        optional, check = self._flat("dependencies_optional"), self._flat("dependencies_check")
        return Recipe(
            name=self.name,
            path=path,
            version=version,
            upstream_version=upstream,
            patch_level=patch_level,
            type=self._type(),
            kind=kind,
            tree=self._tree(kind, requirements, python_req),
            summary=files.summary(self.contents.get("SPKG.rst", b"").decode("utf-8", "replace")),
            deps=_unique(deps.normal),
            order_only=_unique(deps.order_only),
            optional=optional,
            check=check,
            conditional=_unique(deps.conditional),
            conditional_order_only=_unique(deps.conditional_order_only),
            file_deps=tuple(self._file_path(f) for f in _unique(deps.file_deps)),
            force=deps.force,
            checksums=checksums,
            requirements=requirements,
            python_requirement=python_req,
            scripts=MappingProxyType(scripts),
            patches=tuple(path / rel for rel in sorted(self.contents) if _is_patch(rel)),
            recipe_hash=recipe_hash(self.contents),
        )

    def _version(self) -> tuple[str, str, int | None]:
        text = self.text("package-version.txt")
        if text is None:
            if "checksums.ini" in self.contents:
                self.problem(
                    "package-version.txt", None, "missing: a package with a tarball needs a version"
                )
            return NO_VERSION, NO_VERSION, None
        version, upstream, level, problems = files.parse_version(text)
        for line, message in problems:
            self.problem("package-version.txt", line, message)
        return version, upstream, level

    def _type(self) -> PkgType:
        text = self.text("type")
        if text is None:
            if "type" not in self.contents:
                self.problem(
                    "type", None, "missing: write base, standard, optional or experimental"
                )
            return "optional"
        value, problems = files.parse_type(text)
        for line, message in problems:
            self.problem("type", line, message)
        return value or "optional"

    def _checksums(self, upstream: str | None) -> Checksums | None:
        text = self.text("checksums.ini")
        if text is None:
            return None
        checksums, problems = files.parse_checksums(text, upstream)
        for line, message in problems:
            self.problem("checksums.ini", line, message)
        return checksums

    def _python_requirement(self) -> str | None:
        for filename in ("install-requires.txt", "version_requirements.txt"):
            text = self.text(filename)
            if text is not None:
                parsed = parse_requirements(text, filename, self._included, strict=False)
                for problem in parsed.problems:
                    self.problem(problem.file, problem.line, problem.message)
                return "\n".join(parsed.requirements) or None
        return None

    def _included(self, rel: str) -> str | None:
        return self.text(rel) if rel in self.contents else None

    def _tree(self, kind: Kind, requirements: str | None, python_req: str | None) -> Tree:
        text = self.text("trees.txt")
        if text is not None:
            tree, problems = files.parse_tree(text)
            for line, message in problems:
                self.problem("trees.txt", line, message)
            if tree is not None:
                return tree
        pythonic = requirements is not None or python_req is not None or kind == "wheel"
        return "venv" if pythonic else "prefix"

    def _scripts(self, path: Path) -> dict[str, Path]:
        scripts: dict[str, Path] = {}
        for script in SCRIPT_NAMES:
            filename = f"spkg-{script}.in"
            if filename in self.contents:
                if self.contents[filename].startswith(b"#!"):
                    self.problem(filename, 1, "a .in fragment must not start with a shebang line")
                scripts[script] = path / filename
        if "install" not in scripts and "spkg-install" in self.contents:
            scripts["install"] = path / "spkg-install"
        return scripts

    def _dep_line(self, filename: str) -> DepLine:
        text = self.text(filename)
        line = parse_dependency_line(files.first_line(text or ""), self.variables)
        for message in line.problems:
            self.problem(filename, 1, message)
        self.dep_lines[filename] = line
        return line

    def _dependencies(self) -> DepLine:
        return self._dep_line("dependencies")

    def _flat(self, filename: str) -> tuple[str, ...]:
        """Optional and check files: every package named, whatever side of ``|``."""
        line = self._dep_line(filename)
        return _unique(
            line.normal + line.order_only + line.conditional + line.conditional_order_only
        )

    def _file_path(self, token: str) -> str:
        if "$" in token or os.path.isabs(token):
            return token
        return str(self.file_base / token)


def _kind(
    requirements: str | None, checksums: Checksums | None, scripts: Mapping[str, Path]
) -> Kind:
    if requirements is not None:
        return "pip"
    if checksums is not None and checksums.tarball:
        return "wheel" if checksums.tarball.endswith(".whl") else "normal"
    return "script" if "install" in scripts else "none"


def _is_patch(rel: str) -> bool:
    return rel.startswith("patches/") and rel.endswith(".patch") and rel.count("/") == 1


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
