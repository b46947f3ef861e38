"""Cache keys: the sha256 of a canonical document of everything that went into a build.

The document (:func:`key_document`) holds the artifact format version, the package's name,
version and tree, its recipe hash (every file of the recipe: scripts, patches,
``checksums.ini`` with the sources' checksums), the keys of the dependencies it was built
against (normal, order-only and the active conditional ones: a Merkle chain, so changing
gmp changes mpfr's key), the platform (:mod:`mason.binarycache.platform`), the build
flags of the environment, the catalog's variables, and for venv packages the Python
version and ABI. Not in it: ``-j``, timestamps, the build directory's path, the prefix
(an artifact is relocated to another prefix, see :mod:`mason.binarycache.relocate`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mason.binarycache.platform import build_flags, host_platform, python_abi
from mason.catalog import Catalog, Recipe

#: the artifact format: part of every key, so a new format never reads an old artifact
FORMAT = 1

_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_KEY_IN_TAG = 20


@dataclass(frozen=True)
class CacheKey:
    """The key of one package build, and the document it is the hash of."""

    name: str
    version: str
    key: str
    document: Mapping[str, Any]

    @property
    def tag(self) -> str:
        """``name-version-<key prefix>``: a valid OCI tag (at most 128 characters)."""
        return artifact_tag(self.name, self.version, self.key)


def artifact_tag(name: str, version: str, key: str) -> str:
    """The registry tag of an artifact (OCI tags: ``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``)."""
    head = _TAG_BAD.sub("_", f"{name}-{version}")[: 127 - _KEY_IN_TAG]
    return f"{head}-{key[:_KEY_IN_TAG]}"


def canonical(document: Mapping[str, Any]) -> bytes:
    """The canonical JSON form of ``document`` (sorted keys, no spaces, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def uses_python(recipe: Recipe) -> bool:
    """Whether ``recipe`` installs into the venv (its artifact depends on the Python ABI)."""
    return recipe.kind in ("pip", "wheel") or recipe.tree == "venv"


def key_document(
    recipe: Recipe,
    dependency_keys: Mapping[str, str],
    *,
    variables: Mapping[str, str],
    platform: Mapping[str, str],
    flags: Mapping[str, str],
    python: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The canonical document of one build (see the module docstring)."""
    return {
        "format": FORMAT,
        "name": recipe.name,
        "version": recipe.version,
        "kind": recipe.kind,
        "tree": recipe.tree,
        "recipe": recipe.recipe_hash,
        "dependencies": dict(sorted(dependency_keys.items())),
        "platform": dict(sorted(platform.items())),
        "flags": dict(sorted(flags.items())),
        "variables": dict(sorted(variables.items())),
        "python": dict(sorted(python.items())) if python is not None else None,
    }


def compute_keys(
    catalog: Catalog,
    graph: Mapping[str, Sequence[str]],
    *,
    platform: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
    python: Mapping[str, str] | None = None,
) -> dict[str, CacheKey]:
    """The key of every package of ``graph`` (package -> its active prerequisites, as
    :func:`mason.plan.dependency_graph` gives it), dependencies first."""
    plat = dict(host_platform() if platform is None else platform)
    flag_values = dict(build_flags() if flags is None else flags)
    py = dict(python_abi() if python is None else python)
    keys: dict[str, CacheKey] = {}

    def visit(name: str, trail: tuple[str, ...]) -> str:
        if name in keys:
            return keys[name].key
        if name in trail:  # the catalog loader refuses cycles; never loop regardless
            raise ValueError(f"dependency cycle through {name}")
        recipe = catalog.recipes[name]
        deps = {d: visit(d, (*trail, name)) for d in graph.get(name, ())}
        doc = key_document(
            recipe,
            deps,
            variables=catalog.variables,
            platform=plat,
            flags=flag_values,
            python=py if uses_python(recipe) else None,
        )
        keys[name] = CacheKey(name, recipe.version, hashlib.sha256(canonical(doc)).hexdigest(), doc)
        return keys[name].key

    for name in graph:
        visit(name, ())
    return keys


def differences(wanted: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    """The key inputs that differ between two documents, as ``path: found -> wanted``
    lines (nested tables are compared entry by entry)."""
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        elif a != b:
            out.append(f"{path}: {json.dumps(b)} -> {json.dumps(a)}")

    walk(wanted, found, "")
    return out


def keys_for(
    catalog: Catalog,
    roots: Sequence[str],
    installed: Mapping[str, Any] | None = None,
) -> dict[str, CacheKey]:
    """The keys of ``roots`` and everything they need, on the dependency graph the planner
    uses (conditional dependencies active as they are for this request and prefix;
    check-only dependencies never count: they do not change what is installed)."""
    from mason.plan import dependency_graph

    return compute_keys(catalog, dependency_graph(catalog, roots, installed or {}))
