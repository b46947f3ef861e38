"""The pipeline of one package: fetch -> safe extraction -> patches ->
``spkg-preinst``/``-build``/``-install`` into ``DESTDIR`` (``-check`` with ``check``),
under the stray-write guard, or in the sandbox (what it caught is judged by
:mod:`mason.install.caught`) -> the stored wheels the recipe asked to install staged into
the same tree (:mod:`mason.build.wheels`; every stored wheel is a file of that tree) ->
scan -> merge (the store's journaled transaction) -> record -> ``spkg-postinst``.

The work directory (build directory and ``DESTDIR``) lives under the prefix, so the merge
moves files with renames; it is removed on success (in the background,
:mod:`mason.trash`) and kept, with its path in the error, on failure. Each package merges
into the store of its tree (:meth:`mason.trees.Trees.store_for`): the prefix's, or the
venv's own when ``--venv`` puts the venv outside the prefix.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mason.build import BuildSpec
from mason.catalog import Recipe
from mason.install import cached, steps
from mason.install.caught import check_caught
from mason.install.claim import build_claim
from mason.install.context import RunContext
from mason.install.guard import guarded
from mason.install.options import InstallFailed, needs_python, source_spec
from mason.install.staging import only_lib64, staged_root, staged_tree
from mason.layout import LOG_DIR
from mason.scheduler import SlotCancelled, acquire_slot, release_slot, wait_for_dependencies
from mason.store import Prefix, Record
from mason.trees import remember_venv


def install_package(ctx: RunContext, name: str) -> Record:
    """Build ``name`` and merge it into its store; raise :class:`InstallFailed`.

    One run at a time builds a package (:mod:`mason.install.claim`): if another mason
    run is building it, this one waits, then uses what that run merged, or builds it
    itself if that run failed or was killed.
    """
    recipe = ctx.catalog.recipes[name]
    ctx.event("started", recipe)
    store = ctx.trees.store_for(recipe)
    before = store.record(recipe.name)

    def waiting(message: str) -> None:
        ctx.event("waiting", recipe, message)

    with build_claim(ctx.prefix.root, recipe.name, waiting) as waited:
        if waited:
            now = store.record(recipe.name)
            fresh = now is not None and (before is None or now.txid != before.txid)
            if fresh and now is not None and now.version == recipe.version:
                ctx.event("done", recipe, "built by the other mason run")
                return now
        return _build_and_merge(ctx, recipe)


def _build_and_merge(ctx: RunContext, recipe: Recipe) -> Record:
    log = ctx.prefix.root / LOG_DIR / f"{recipe.name}-{recipe.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    work = ctx.prefix.staging_dir(f"{recipe.name}-{recipe.version}")
    _slot.waited = 0.0
    try:
        started = time.monotonic()
        spec = steps.build_spec(ctx, recipe, work, log)
        store = ctx.trees.store_for(recipe)
        pulled = cached.from_cache(ctx, recipe, store.root)  # the binary cache
        artifact = None
        if pulled:
            dependencies_done()
            take_slot()
            staged, artifact = cached.pull(ctx, recipe, spec, store.root)
        else:
            staged = produce(ctx, recipe, spec)
        built = time.monotonic()
        release_slot()  # the scan, the merge and the record need no build slot
        record = merge(
            ctx,
            recipe,
            spec,
            staged,
            store,
            build_seconds=built - started - _slot.waited,
            artifact=artifact,
            fresh=not pulled,
        )
        steps.post_install(ctx, spec)
    except SlotCancelled:  # prepared ahead, and the run stopped before it got a slot
        ctx.trash.put(work)
        raise
    except Exception as e:
        failed = InstallFailed(f"{recipe.name}-{recipe.version}", e, log, work)
        if failed.internal:
            with log.open("a", encoding="utf-8") as f:
                f.write(f"\nmason: {failed.summary}\n{failed.traceback}")
        raise failed from e
    ctx.trash.put(work)
    files = len(record.files)
    ctx.event("done", recipe, f"{files} file(s), {time.monotonic() - started:.1f}s")
    return record


_slot = threading.local()


def take_slot() -> None:
    """Wait for this package's job slot, if it was started ahead without one
    (:func:`mason.scheduler.acquire_slot`); the wait does not count as build time."""
    _waiting(acquire_slot)


def dependencies_done() -> None:
    """Wait for this package's dependencies, if it was started before they ended (its
    preparation overlapping their merges: :func:`mason.scheduler.wait_for_dependencies`);
    the wait does not count as build time. Called before anything that uses them."""
    _waiting(wait_for_dependencies)


def _waiting(wait: Callable[[], None]) -> None:
    before = time.monotonic()
    wait()
    _slot.waited = getattr(_slot, "waited", 0.0) + time.monotonic() - before


def produce(ctx: RunContext, recipe: Recipe, spec: BuildSpec) -> Path:
    """Make the staged tree of ``recipe`` (paths relative to the root of its store: the
    prefix, or a venv outside it) and return it."""
    if recipe.kind in ("none", "pip", "wheel"):  # no preparation to overlap with them
        dependencies_done()
    if recipe.kind == "none":
        staged = staged_root(spec, ctx.trees.store_for(recipe).root)
        staged.mkdir(parents=True)
        return staged
    if recipe.kind in ("pip", "wheel"):
        return install_wheels(ctx, recipe, spec)
    return build(ctx, recipe, spec)


def install_wheels(ctx: RunContext, recipe: Recipe, spec: BuildSpec) -> Path:
    """The staged tree of a ``wheel`` or ``pip`` package: its wheels in the staged wheel
    store and staged into the venv."""
    staged = staged_root(spec, ctx.trees.store_for(recipe).root)
    staged.mkdir(parents=True)
    source = source_spec(recipe)
    if recipe.kind == "wheel":
        assert source is not None
        # fetched (and verified) without a slot, as a source archive is: the slot is for
        # the unpacking and byte-compiling, which then start at once
        fetched, move, sha256 = [steps.fetch(ctx, recipe, source)], False, source.checksums.sha256
        take_slot()
        ctx.python.venv(staging=True)
    else:
        take_slot()  # pip download runs pip: work of the run's budget
        ctx.python.venv(staging=True)
        ctx.event("fetching", recipe, "pip download")
        fetched = ctx.python.download(recipe, spec.build_dir.parent / "wheels")
        move, sha256 = True, None
    wheels = [
        ctx.python.store_wheel(recipe, wheel, staged, move=move, sha256=sha256) for wheel in fetched
    ]
    ctx.python.stage_wheels(recipe, wheels, staged)
    return staged


def build(ctx: RunContext, recipe: Recipe, spec: BuildSpec) -> Path:
    """The staged tree of a package built by its scripts, with the stored wheels it
    asked to install staged into its venv part."""
    from mason.build import apply_patches, prepare_build_dir, run_build
    from mason.build.wheels import build_wheels

    spec.build_dir.mkdir()
    prepare_build_dir(spec)
    if needs_python(recipe) or recipe.kind == "normal":
        ctx.python.venv()
    source = source_spec(recipe)
    if source is not None:
        archive = steps.fetch(ctx, recipe, source)
        steps.extract(archive, spec.build_dir / "src")
    dependencies_done()  # patch and the scripts may use what the dependencies installed
    if source is not None:
        apply_patches(spec.package, recipe.path, spec.build_dir / "src")

    def gate() -> None:
        # prepared (maybe ahead, without a slot), the first script started (the sandbox,
        # bash, the helpers) and waits for this: the recipe's own work needs a slot
        take_slot()
        ctx.event("building", recipe)

    guards = ctx.guards()
    if guards:  # watched: the window of the stray-write check opens with the slot
        gate()

    def check(store: Prefix, changes: list[str] | None) -> None:
        if changes is None:
            where = "prefix" if store is ctx.prefix else f"venv {store.root}"
            message = f"writes into the live {where} could not be checked (inotify lost events)"
            ctx.event("warning", recipe, message)
        else:
            ctx.stray.check(spec.package, store, changes)

    with guarded(guards, check):
        run_build(
            spec,
            check=ctx.options.check,
            pass_fds=ctx.pass_fds(),
            gate=None if guards else gate,
            on_script=lambda which: (
                ctx.event("checking", recipe) if which == "spkg-check" else None
            ),
        )
        _test_hook(recipe)
    if spec.sandbox is not None:
        check_caught(ctx, recipe, spec)
    wheels = build_wheels(spec)
    staged = staged_tree(ctx.trees, recipe, spec)
    if wheels.to_install:
        ctx.python.stage_wheels(recipe, wheels.to_install, staged)
    if not any(staged.iterdir()) or only_lib64(staged):
        ctx.event("warning", recipe, "the recipe installed nothing")
    return staged


def merge(
    ctx: RunContext,
    recipe: Recipe,
    spec: BuildSpec,
    staged: Path,
    store: Prefix,
    *,
    build_seconds: float,
    artifact: str | None = None,
    fresh: bool = False,
) -> Record:
    """Scan ``staged`` and merge it into ``store`` (one journaled transaction); leave
    the other store if ``recipe``'s old version lived there. A fresh build (``fresh``)
    becomes a binary cache artifact between the scan and the merge; ``artifact``
    is the one a pulled tree came from."""
    ctx.event("merging", recipe)
    if store is not ctx.prefix:
        remember_venv(ctx.trees.place)  # so that later commands find its store
    tree = store.scan(staged, recipe.name, known=ctx.python.known_digests(recipe.name))
    if fresh:
        artifact = cached.keep(ctx, recipe, staged, store.root, build_seconds)
    # before the merge, so a build checked while it runs never looks them up
    ctx.stray.note_merged(store, [*ctx.previous_files(recipe.name), *tree.entries])
    record = store.merge(
        tree,
        steps.meta(ctx, recipe, spec, build_seconds, artifact),
        allow_overwrite=ctx.options.allow_overwrite,
        priority=ctx.priority.get(recipe.name, 0.0),  # the critical path merges first
    )
    steps.leave_other_store(ctx, recipe, store)
    return record


#: FOR TESTS ONLY: the package named by this environment variable fails its build step
#: with an exception that is not a MasonError (a stand-in for a bug in mason). Read here
#: and nowhere else.
INTERNAL_ERROR_HOOK = "MASON_TEST_INTERNAL_ERROR"


def _test_hook(recipe: Recipe) -> None:
    if os.environ.get(INTERNAL_ERROR_HOOK) == recipe.name:
        raise RuntimeError(f"{INTERNAL_ERROR_HOOK} raised inside the build of {recipe.name}")
