"""Handlers of the catalog query commands: ``plan``, ``list``, ``info``, ``graph``."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mason.catalog import Catalog, Recipe
from mason.commands.table import print_table
from mason.config import Settings, load_settings
from mason.errors import UsageError
from mason.plan import Installed, Plan, dependency_graph, make_plan, select
from mason.store.errors import RecordUnreadable as RecordUnreadable  # installed_state's

_DIGESTS = ("sha256", "sha1", "md5", "cksum")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(catalog=args.catalog, prefix=args.prefix)


def _catalog(settings: Settings) -> Catalog:
    if settings.catalog is None:
        raise UsageError(
            "no catalog given",
            hint="pass --catalog DIR, set MASON_CATALOG, or put catalog = '...' in mason.toml",
        )
    return Catalog.load(settings.catalog, settings.variables)


def installed_state(prefix: Path, venv: Path | None = None) -> dict[str, Installed]:
    """What ``<prefix>/var/lib/mason/installed/`` records, by package name ({} if none),
    and the records of the venv's own store when ``venv`` lies outside the prefix.

    Read through :func:`mason.store.read_headers` (hidden temporaries skipped; of two
    records of one package, the newest install).
    """
    from mason.store import read_headers

    roots = [prefix]
    if venv is not None and not venv.absolute().is_relative_to(prefix.absolute()):
        roots.append(venv)
    return {
        name: Installed(
            h.name,
            h.outside.now if h.outside is not None and h.outside.now is not None else h.version,
            h.recipe_hash,
            h.installed_at,
            h.outside.describe() if h.outside is not None else None,
        )
        for name, h in read_headers(roots).items()
    }


def installed_in(settings: Settings) -> dict[str, Installed]:
    """:func:`installed_state` of the settings' prefix and its venv (:mod:`mason.trees`)."""
    from mason.commands.venvstate import reconciled
    from mason.trees import Trees

    trees = reconciled(Trees.open(settings.prefix, settings.venv))  # pip's changes first
    return installed_state(settings.prefix, trees.place.root)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2))


def _plan_json(plan: Plan) -> dict[str, Any]:
    planned = set(plan.names)
    left = {name for name, _, _ in plan.left_alone}
    return {
        "requested": list(plan.requested),
        "steps": [
            {
                "name": s.name,
                "version": s.version,
                "installed_version": s.installed_version,
                "reason": s.reason,
                "prerequisites": list(s.prerequisites),
            }
            for s in plan
        ],
        "up_to_date": [name for name in plan.needed if name not in planned and name not in left],
        "left_alone": [
            {"name": name, "reason": why, "version": version}
            for name, why, version in plan.left_alone
        ],
    }


def print_left_alone(plan: Plan) -> None:
    """One line per package another installer (pip) changed that the plan leaves so."""
    for name, why, version in plan.left_alone:
        print(f"{name}: left alone ({why}); `install {name}` puts the catalog's {version} back")


def plan(args: argparse.Namespace) -> int:
    """``mason plan``: the packages an install would build, in order, and why."""
    settings = _settings(args)
    catalog = _catalog(settings)
    result = make_plan(
        catalog,
        args.packages,
        all=args.all,
        installed=installed_in(settings),
        force=getattr(args, "force", False),
        check=getattr(args, "check", False),
    )
    from mason.commands.cache import plan_sources

    sources = plan_sources(args, settings, result) if result.steps else {}  # binary cache
    if args.json:
        doc = _plan_json(result)
        for step in doc["steps"] if sources else ():
            step["cache"] = sources.get(step["name"], "")
        _print_json(doc)
        return 0
    print_left_alone(result)
    up_to_date = len(result.needed) - len(result) - len(result.left_alone)
    if not result.steps:
        print(f"nothing to do: {up_to_date} package(s) up to date")
        return 0
    rows = [
        (f"{i}.", s.name, s.version, s.reason, *([sources[s.name]] if sources else []))
        for i, s in enumerate(result, 1)
    ]
    print_table(rows)
    print(f"{len(result)} to build, {up_to_date} up to date")
    return 0


def _recipe_row(recipe: Recipe) -> dict[str, Any]:
    from mason.trees import tree_of

    return {
        "name": recipe.name,
        "version": recipe.version,
        "type": recipe.type,
        "kind": recipe.kind,
        "tree": tree_of(recipe),  # where it really goes (pip/wheel: always the venv)
        "summary": recipe.summary,
    }


def list_packages(args: argparse.Namespace) -> int:
    """``mason list``: the catalog's packages (or, with --installed, the records)."""
    if args.installed:
        # written by the store's owner; imported late so the catalog commands never need it
        store = importlib.import_module("mason.commands.store")
        list_installed: Callable[[argparse.Namespace], int] = store.list_installed
        return list_installed(args)
    catalog = _catalog(_settings(args))
    recipes = [
        r
        for r in catalog
        if (args.type is None or r.type == args.type) and (args.kind is None or r.kind == args.kind)
    ]
    if args.json:
        _print_json([_recipe_row(r) for r in recipes])
    else:
        print_table([(r.name, r.version, r.type, r.kind, r.summary) for r in recipes])
    return 0


def _info_json(catalog: Catalog, recipe: Recipe, record: Installed | None) -> dict[str, Any]:
    checksums = recipe.checksums
    return {
        **_recipe_row(recipe),
        "upstream_version": recipe.upstream_version,
        "patch_level": recipe.patch_level,
        "path": str(recipe.path),
        "dependencies": list(recipe.deps),
        "order_only_dependencies": list(recipe.order_only),
        "optional_dependencies": list(recipe.optional),
        "check_dependencies": list(recipe.check),
        "conditional_dependencies": list(recipe.conditional + recipe.conditional_order_only),
        "file_dependencies": list(recipe.file_deps),
        "force": recipe.force,
        "reverse_dependencies": {
            role: list(names)
            for role, names in catalog.reverse_dependencies(recipe.name).items()
            if names
        },
        "tarball": checksums.tarball if checksums else None,
        "checksums": (
            {k: v for k, v in vars(checksums).items() if k in _DIGESTS and v} if checksums else {}
        ),
        "upstream_url": checksums.upstream_url if checksums else None,
        "requirements": recipe.requirements,
        "python_requirement": recipe.python_requirement,
        "scripts": sorted(recipe.scripts),
        "patches": [p.name for p in recipe.patches],
        "recipe_hash": recipe.recipe_hash,
        "installed_version": record.version if record else None,
        "changed_outside_mason": record.outside if record else None,
    }


def _info_text(data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            value = "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
        print(f"{key.replace('_', ' ')}: {_plain(value)}")


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "-"
    return str(value)


def info(args: argparse.Namespace) -> int:
    """``mason info PKG``: everything the catalog says about one package."""
    settings = _settings(args)
    catalog = _catalog(settings)
    recipe = catalog[args.package]
    record = installed_in(settings).get(recipe.name)
    data = _info_json(catalog, recipe, record)
    if args.json:
        _print_json(data)
    else:
        _info_text(data)
    return 0


def _edge_kind(recipe: Recipe, dep: str) -> str:
    for kind, names in (
        ("normal", recipe.deps),
        ("order-only", recipe.order_only),
        ("conditional", recipe.conditional + recipe.conditional_order_only),
        ("optional", recipe.optional),
    ):
        if dep in names:
            return kind
    return "check"


_DOT_STYLE = {"normal": "", "order-only": " [style=dashed]", "check": " [style=dotted]"}


def _dot(catalog: Catalog, graph: Mapping[str, Sequence[str]]) -> str:
    lines = ["digraph mason {", "  node [shape=box];"]
    for name in graph:
        label = f"{name}\\n{catalog.recipes[name].version}"
        lines.append(f'  "{name}" [label="{label}"];')
    for name, deps in graph.items():
        for dep in dict.fromkeys(deps):
            style = _DOT_STYLE.get(_edge_kind(catalog.recipes[name], dep), " [style=dotted]")
            lines.append(f'  "{name}" -> "{dep}"{style};')
    lines.append("}")
    return "\n".join(lines)


def _graph_json(catalog: Catalog, graph: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    recipes = catalog.recipes
    return {
        "nodes": [
            {"name": n, "version": recipes[n].version, "type": recipes[n].type} for n in graph
        ],
        "edges": [
            {"from": n, "to": d, "kind": _edge_kind(recipes[n], d)}
            for n, deps in graph.items()
            for d in dict.fromkeys(deps)
        ],
    }


def graph(args: argparse.Namespace) -> int:
    """``mason graph``: the dependency graph of a selection, as Graphviz dot or JSON.

    An edge ``a -> b`` means a needs b.
    """
    settings = _settings(args)
    catalog = _catalog(settings)
    installed = installed_in(settings)
    roots = select(catalog, args.packages, all=args.all, installed=installed)
    edges = dependency_graph(catalog, roots, installed)
    ordered = {name: edges[name] for name in sorted(edges)}
    if args.format == "json":
        _print_json(_graph_json(catalog, ordered))
    else:
        print(_dot(catalog, ordered))
    return 0
