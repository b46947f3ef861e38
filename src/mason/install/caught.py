"""After a sandboxed build: what it tried to write into the live stores, sorted out.

The sandbox (:mod:`mason.build.sandbox`) kept every attempt away from the live trees;
here each store's attempts are judged by :mod:`mason.build.verdict` against the store's
owners: a build creating files there or touching other packages' files fails with the
list of paths; one touching only its own installed version's files goes on with a
one-line note; a recipe that opted in with ``no-destdir`` gets the caught files staged.
"""

from __future__ import annotations

import os
from pathlib import Path

from mason.build import BuildSpec
from mason.build.capture import captured_changes, layers
from mason.build.scripts import capture_root
from mason.build.verdict import NO_DESTDIR, adopt, enforce, sort_out
from mason.catalog import Recipe
from mason.install.context import RunContext
from mason.install.staging import staged_root


def check_caught(ctx: RunContext, recipe: Recipe, spec: BuildSpec) -> None:
    """Judge what ``spec``'s sandboxed scripts tried to write into the live stores
    (raise :class:`~mason.build.errors.StrayWrites` or
    :class:`~mason.build.errors.IgnoredDestdir`; note; stage with ``no-destdir``)."""
    live = spec.live_trees
    caught = captured_changes(capture_root(spec), live)
    if not caught:
        return
    home = ctx.trees.store_for(recipe)
    nothing = staged_nothing(spec.destdir)
    for store in ctx.trees.live:
        changes = caught.get(store.root)
        if not changes:
            continue
        with store.read_locked() as index:
            owners = {c.path: index.owners_of(c.path) for c in changes}
        verdict = sort_out(recipe.name, changes, owners)
        staged = staged_root(spec, store.root)
        opted_in = store is home and (recipe.path / NO_DESTDIR).is_file()
        if enforce(spec.package, store.root, verdict, staged_nothing=nothing, no_destdir=opted_in):
            adopt(layers(capture_root(spec), live.index(store.root)), verdict, staged)
            ctx.event(
                "warning",
                recipe,
                f"no-destdir: staged {len(verdict.created)} path(s) the build installed "
                f"into the live tree {store.root}",
            )
        note = verdict.note()
        if note is not None:
            ctx.event("warning", recipe, note)


def staged_nothing(destdir: Path) -> bool:
    """Whether ``destdir`` holds no file and no symlink but ``lib64 -> lib`` (the
    skeleton :func:`~mason.build.make_staged_prefix` makes)."""
    for dirpath, dirnames, filenames in os.walk(destdir):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        if any(name != "lib64" or not (here / name).is_symlink() for name in filenames + links):
            return False
    return True
