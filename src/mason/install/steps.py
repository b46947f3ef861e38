"""The steps of one package's pipeline that are not the build itself: its build spec,
fetching and extracting its source, its record's metadata, and what follows the merge."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from mason.build import BuildSpec
from mason.catalog import Recipe
from mason.fetch import FetchEvent, SourceSpec
from mason.install.context import RunContext
from mason.layout import REMOVAL_SCRIPTS, SCRIPTS_DIR
from mason.store import PackageMeta, Prefix


def build_spec(ctx: RunContext, recipe: Recipe, work: Path, log: Path) -> BuildSpec:
    """How ``recipe`` builds in the work directory ``work``, logging to ``log``."""
    extra = {"SAGE_NUM_THREADS": str(ctx.options.jobs)}
    if ctx.jobserver is not None:
        extra["MAKEFLAGS"] = ctx.jobserver.makeflags()
    return BuildSpec(
        name=recipe.name,
        version=recipe.version,
        recipe_dir=recipe.path,
        prefix=ctx.prefix.root,
        build_dir=work / "build",
        destdir=work / "dest",
        log_path=log,
        inst_local=ctx.trees.inst_local(recipe),
        venv=ctx.trees.place.root,
        wheels=ctx.trees.wheel_store,
        extra_env=extra,
        sandbox=ctx.options.sandbox,
    )


def fetch(ctx: RunContext, recipe: Recipe, source: SourceSpec) -> Path:
    """The verified upstream file of ``recipe`` (downloaded into the upstream directory
    when missing)."""
    from mason.fetch import fetch as fetch_file

    ctx.event("fetching", recipe, source.filename)

    def relay(event: FetchEvent) -> None:
        if event.kind in ("discarded", "weak"):
            ctx.event("warning", recipe, event.message)

    return fetch_file(source, ctx.upstream, ctx.options.mirrors, on_event=relay)


def extract(archive: Path, src: Path) -> None:
    """Safely extract ``archive`` so that its top directory becomes ``src``."""
    from mason.extract import extract as extract_archive

    tmp = src.with_name("src.extract")
    top = extract_archive(archive, tmp)
    os.rename(top, src)
    if top != tmp:
        shutil.rmtree(tmp)


def meta(
    ctx: RunContext, recipe: Recipe, build_seconds: float, artifact: str | None = None
) -> PackageMeta:
    """What the record of ``recipe`` says besides its files (``artifact``: the binary
    cache artifact it came from or was made into)."""
    recipes = ctx.catalog.recipes
    deps = {d: recipes[d].version for d in recipe.deps if d in ctx.catalog}
    return PackageMeta(
        name=recipe.name,
        version=recipe.version,
        kind=recipe.kind,
        dependencies=deps,
        recipe_hash=recipe.recipe_hash,
        test_result="passed" if ctx.options.check and "check" in recipe.scripts else "",
        timings={"build": round(build_seconds, 3), "installed_at": time.time()},
        artifact=artifact,
    )


def leave_other_store(ctx: RunContext, recipe: Recipe, store: Prefix) -> None:
    """Uninstall ``recipe``'s old version from the other store (its tree changed)."""
    if ctx.previous is not None and recipe.name not in ctx.previous:
        return  # not installed when the run started
    other = ctx.trees.other(store)
    if other is None or other not in ctx.trees.stores:
        return
    old = other.record(recipe.name)
    if old is not None:
        ctx.stray.note_merged(other, old.files)
        other.uninstall(recipe.name, force=True)


def post_install(ctx: RunContext, recipe: Recipe, spec: BuildSpec, store: Prefix) -> None:
    """Keep the removal scripts of the version now installed; run ``spkg-postinst``."""
    from mason.build import run_script

    kept = store.root / SCRIPTS_DIR / recipe.name
    removal = [spec.build_dir / name for name in REMOVAL_SCRIPTS]
    # The removal scripts of the version now installed, and none of an older one.
    shutil.rmtree(kept, ignore_errors=True)
    for p in removal:
        if p.is_file():
            kept.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, kept / p.name)
    if spec.build_dir.is_dir():
        run_script(spec, "spkg-postinst", pass_fds=ctx.pass_fds())
