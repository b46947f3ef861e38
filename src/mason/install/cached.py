"""The binary cache in the pipeline of one package (docs/cache.md).

Before a package is built, the run's :class:`~mason.binarycache.session.CacheSession`
decides whether it comes from the cache (:func:`from_cache`). A pulled package is
extracted, relocated and byte-compiled into a directory of its own work directory
(:func:`pull`), then goes through the same scan, journaled merge, record (which names the
artifact) and ``spkg-postinst`` as a build. A refused artifact is built instead, with a
warning saying why; with ``--cache only`` the refusal is the package's error. After a
build, the staged tree becomes an artifact before the merge moves it (:func:`keep`).
"""

from __future__ import annotations

from pathlib import Path

from mason.build import BuildSpec
from mason.catalog import Recipe
from mason.install.context import RunContext
from mason.install.options import needs_python


def from_cache(ctx: RunContext, recipe: Recipe, root: Path) -> bool:
    """Whether ``recipe`` (merging into the store at ``root``) comes from the cache."""
    from mason.binarycache import NotInCache

    cache = ctx.cache
    if cache is None:
        return False
    decision = cache.decide(recipe.name, root)
    if decision.from_cache:
        return True
    if cache.options.mode == "only" and decision.error is not None:
        raise decision.error
    if decision.error is not None and not isinstance(decision.error, NotInCache):
        ctx.event("warning", recipe, f"built, not from the cache: {decision.reason}")
    return False


def pull(ctx: RunContext, recipe: Recipe, spec: BuildSpec, root: Path) -> tuple[Path, str]:
    """The staged tree of ``recipe`` from its artifact (its stored wheels are files of
    that tree's wheel store, as after a build), and the artifact's digest. The build
    directory is prepared as for a build (recipe files, scripts), so ``spkg-postinst``
    runs and the removal scripts are kept as after one."""
    from mason.build import prepare_build_dir

    cache = ctx.cache
    assert cache is not None
    spec.build_dir.mkdir()
    prepare_build_dir(spec)
    if needs_python(recipe) or recipe.kind == "normal":
        ctx.python.venv()  # as a build would: the venv exists before the package
    ctx.event("fetching", recipe, f"from cache {cache.keys[recipe.name].tag}")
    work = spec.build_dir.parent
    artifact = cache.pull(recipe.name, work / "pulled", root, work / "cache-scratch")
    return work / "pulled", artifact.digest


def keep(ctx: RunContext, recipe: Recipe, staged: Path, root: Path, seconds: float) -> str | None:
    """The digest of the artifact made from a fresh build's staged tree (None: none made)."""
    if ctx.cache is None:
        return None
    artifact = ctx.cache.keep(recipe.name, staged, root, seconds)
    return artifact.digest if artifact is not None else None
