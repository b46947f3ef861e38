"""Where a package's files wait for the merge: ``$DESTDIR`` + the root of its tree."""

from __future__ import annotations

import os
from pathlib import Path

from mason.build import BuildSpec
from mason.catalog import Recipe
from mason.store.fsops import prune_empty
from mason.trees import OutsideTree, Trees, tree_of


def staged_root(spec: BuildSpec, root: Path) -> Path:
    """``$DESTDIR`` + ``root``: where the files of the tree at ``root`` are staged."""
    return spec.destdir / root.relative_to(root.anchor)


def staged_tree(trees: Trees, recipe: Recipe, spec: BuildSpec) -> Path:
    """``$DESTDIR`` + the root of ``recipe``'s tree (made if missing); raise
    :class:`OutsideTree` for anything staged outside it."""
    from mason.build import StagedOutsidePrefix
    from mason.build import staged_tree as tree_below

    root = trees.store_for(recipe).root
    if root != trees.prefix.root and only_lib64(spec.staged_prefix):
        # prepare_build_dir's $DESTDIR$PREFIX/lib{,64}, unused by a venv package
        (spec.staged_prefix / "lib64").unlink()
        prune_empty([spec.staged_prefix / "lib"], spec.destdir, os.rmdir)
    staged_root(spec, root).mkdir(parents=True, exist_ok=True)
    try:
        staged = tree_below(spec.package, spec.destdir, root)
    except StagedOutsidePrefix as e:
        if not trees.place.separate:
            raise
        raise OutsideTree(spec.package, tree_of(recipe), root, e.paths) from e
    staged.mkdir(parents=True, exist_ok=True)
    return staged


def only_lib64(staged: Path) -> bool:
    """Whether ``staged`` holds only the empty ``lib`` and ``lib64`` a build starts with."""
    if not staged.is_dir():
        return False
    entries = {e.name for e in staged.iterdir()}
    return entries <= {"lib", "lib64"} and not any((staged / "lib").iterdir())
