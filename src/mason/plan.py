"""What an install has to build, in which order, and why.

:func:`make_plan` is a pure function of the catalog, the request and the installed state
(plain data, see :class:`Installed`); only file dependencies look at the disk, through an
injectable ``mtime`` function.

Rules (SPEC sections 2 and 8):

- the selection is the requested names, or ``--all``, or by default every ``base`` and
  ``standard`` package plus the installed ones; it grows with everything it needs;
- conditional dependencies (``$(findstring X,$(OPTIONAL_INSTALLED_PACKAGES))``) and
  ``dependencies_optional`` count when X is requested, needed, or installed;
  ``dependencies_check`` count only with ``check=True``;
- a needed package is built when it is not installed, has a new version, a changed
  recipe, is forced (``--force`` on a named package, or ``FORCE``), a normal dependency
  is rebuilt in this plan or was installed after it, or a file dependency is newer than
  its install. Order-only and check dependencies come first but never cause a rebuild;
- a package another installer (pip) changed, or installed before mason (its record says
  so, :mod:`mason.reconcile`), is left alone unless it is named or forced: then the
  catalog's version replaces what is there.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from mason.catalog import Catalog, Recipe
from mason.graph import closure, topological_order

DEFAULT_TYPES = ("base", "standard")


@dataclass(frozen=True)
class Installed:
    """What the records say about one installed package."""

    name: str
    version: str
    recipe_hash: str | None
    installed_at: float
    outside: str | None = None  # what another installer (pip) did to it (mason.reconcile)


@dataclass(frozen=True)
class Step:
    """One package to build; ``prerequisites`` are the planned steps it must wait for."""

    name: str
    version: str
    reason: str
    prerequisites: tuple[str, ...]
    installed_version: str | None = None


@dataclass(frozen=True)
class Plan:
    """The steps of an install in dependency order; ``needed`` is every package the
    request involves (built or already up to date), also in dependency order."""

    steps: tuple[Step, ...]
    requested: tuple[str, ...]
    needed: tuple[str, ...]
    # needed packages another installer (pip) changed, left so: (name, what it did, the
    # catalog's version that naming it would install)
    left_alone: tuple[tuple[str, str, str], ...] = ()

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def names(self) -> tuple[str, ...]:
        """The planned packages, in build order."""
        return tuple(step.name for step in self.steps)

    @property
    def prerequisites(self) -> dict[str, tuple[str, ...]]:
        """For the scheduler: planned package -> planned packages to finish first."""
        return {step.name: step.prerequisites for step in self.steps}


def file_mtime(path: str) -> float | None:
    """Newest modification time of a file dependency (glob patterns allowed), or ``None``
    when it cannot be known: unresolved ``$(VAR)`` references or nothing there."""
    if "$" in path:
        return None
    matches = glob.glob(path) if any(c in path for c in "*?[") else [path]
    times = []
    for match in matches:
        try:
            times.append(os.stat(match).st_mtime)
        except OSError:
            continue
    return max(times, default=None)


def select(
    catalog: Catalog,
    names: Sequence[str] = (),
    *,
    all: bool = False,
    installed: Mapping[str, Installed] | None = None,
) -> tuple[str, ...]:
    """The requested roots: ``names``, the whole catalog, or by default the base and
    standard packages plus the installed ones (SageMath's ``make`` also keeps installed
    optional packages up to date)."""
    if all:
        return tuple(catalog.recipes)
    if names:
        catalog.require(names)
        return tuple(dict.fromkeys(names))
    present = installed or {}
    return tuple(r.name for r in catalog if r.type in DEFAULT_TYPES or r.name in present)


def _static_edges(recipe: Recipe, check: bool) -> tuple[str, ...]:
    return recipe.deps + recipe.order_only + (recipe.check if check else ())


def _conditional_edges(recipe: Recipe) -> tuple[str, ...]:
    return recipe.conditional + recipe.optional + recipe.conditional_order_only


def _active_edges(recipe: Recipe, static: tuple[str, ...], pool: set[str]) -> tuple[str, ...]:
    conditional = tuple(d for d in _conditional_edges(recipe) if d in pool)
    return tuple(dict.fromkeys(static + conditional))


def dependency_graph(
    catalog: Catalog,
    roots: Sequence[str],
    installed: Mapping[str, Installed] | None = None,
    *,
    check: bool = False,
) -> dict[str, tuple[str, ...]]:
    """The sub-graph the roots need: node -> the prerequisites active for this request."""
    present = {n for n in (installed or {}) if n in catalog.recipes} | set(roots)
    recipes = catalog.recipes
    static = {name: _static_edges(r, check) for name, r in recipes.items()}
    needed = closure(static, roots)
    while True:
        pool = present | needed
        edges = {name: _active_edges(recipes[name], static[name], pool) for name in needed}
        grown = closure({**static, **edges}, roots)
        if grown == needed:
            return edges
        needed = grown


def _rebuild_triggers(recipe: Recipe, edges: Sequence[str]) -> tuple[str, ...]:
    """Dependencies whose rebuild makes ``recipe`` out of date (normal, not order-only)."""
    active = set(edges)
    triggers = recipe.deps + tuple(d for d in recipe.conditional + recipe.optional if d in active)
    return tuple(dict.fromkeys(triggers))


@dataclass(frozen=True)
class _Context:
    installed: Mapping[str, Installed]
    forced: frozenset[str]
    mtime: Callable[[str], float | None]
    named: frozenset[str] = frozenset()


def _reason(recipe: Recipe, edges: Sequence[str], planned: set[str], ctx: _Context) -> str | None:
    record = ctx.installed.get(recipe.name)
    if record is None:
        return "not installed"
    if record.outside is not None:  # left alone (see make_plan) unless named or forced
        return f"{record.outside}: the catalog's {recipe.version} replaces it"
    if record.version != recipe.version:
        return f"new version ({record.version} -> {recipe.version})"
    if record.recipe_hash and record.recipe_hash != recipe.recipe_hash:
        return "recipe changed"
    if recipe.name in ctx.forced:
        return "forced"
    if recipe.force:
        return "FORCE"
    for dep in _rebuild_triggers(recipe, edges):
        other = ctx.installed.get(dep)
        if dep in planned or (other is not None and other.installed_at > record.installed_at):
            return f"dependency {dep} rebuilt"
    for path in recipe.file_deps:
        changed = ctx.mtime(path)
        if changed is not None and changed > record.installed_at:
            return f"file dependency {path} changed"
    return None


def make_plan(
    catalog: Catalog,
    names: Sequence[str] = (),
    *,
    all: bool = False,
    installed: Mapping[str, Installed] | None = None,
    force: bool = False,
    check: bool = False,
    mtime: Callable[[str], float | None] = file_mtime,
) -> Plan:
    """Plan an install of ``names`` (or ``all``, or the default selection).

    ``force`` rebuilds the requested packages even when up to date. Raise
    :class:`~mason.catalog.UnknownPackage` for names not in the catalog and
    :class:`~mason.graph.CycleError` when the active dependencies loop.
    """
    installed = installed or {}
    roots = select(catalog, names, all=all, installed=installed)
    graph = dependency_graph(catalog, roots, installed, check=check)
    order = topological_order(graph)
    ctx = _Context(installed, frozenset(roots if force else ()), mtime, frozenset(names))
    planned: set[str] = set()
    steps = []
    left: list[tuple[str, str, str]] = []
    for name in order:
        recipe = catalog.recipes[name]
        outside = installed[name].outside if name in installed else None
        if outside is not None and name not in ctx.named | ctx.forced:
            left.append((name, outside, recipe.version))  # the user's pip choice stays
            continue
        reason = _reason(recipe, graph[name], planned, ctx)
        if reason is None:
            continue
        planned.add(name)
        record = installed.get(name)
        prerequisites = tuple(sorted({d for d in graph[name] if d in planned}))
        steps.append(
            Step(name, recipe.version, reason, prerequisites, record.version if record else None)
        )
    return Plan(tuple(steps), roots, tuple(order), tuple(left))
