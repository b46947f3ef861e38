"""Installing packages: the pipeline of one package, and a whole run under one job budget.

One package: fetch -> safe extraction -> patches -> ``spkg-preinst``/``-build``/``-install``
into ``DESTDIR`` (``-check`` with ``check``) -> stray-write check -> stored wheels staged
into the same tree -> scan -> merge (the store's journaled transaction) -> record ->
``spkg-postinst``. The work directory (build directory and ``DESTDIR``) lives under the
prefix, so the merge moves files with renames; it is removed on success (in the
background, :mod:`mason.trash`) and kept, with its path in the error, on failure.
Each package merges into the store of its tree (:mod:`mason.trees`): the prefix's, or the
venv's own when ``--venv`` puts the venv outside the prefix.

A run: the plan's packages go to :func:`mason.scheduler.run` with a
:class:`~mason.jobserver.Jobserver` of ``jobs`` slots, shared by the builds' ``make``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mason.build import BuildSpec
from mason.build.staged import PrefixSnapshot, prefix_changes, snapshot_prefix
from mason.catalog import Catalog, Recipe
from mason.errors import MasonError
from mason.events import Event, EventSink, Phase, ignore
from mason.fetch import FetchEvent, SourceSpec
from mason.jobserver import Jobserver
from mason.layout import LOG_DIR, SCRIPTS_DIR, WHEELS_DIR
from mason.plan import Plan
from mason.prefixwatch import PrefixWatch
from mason.scheduler import Job, Outcome, SchedulerEvent
from mason.store import PackageMeta, Prefix, Record
from mason.trash import Trash
from mason.trees import OutsideTree, Trees, locate_venv, remember_venv, tree_of

if TYPE_CHECKING:
    from mason.python import Venv


@dataclass(frozen=True)
class InstallOptions:
    """How to install (the command line's ``install`` options)."""

    jobs: int = 1
    keep_going: bool = False
    check: bool = False
    allow_overwrite: bool = False
    upstream: Path | None = None
    mirrors: tuple[str, ...] = ()
    python: str | None = None
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    venv: Path | None = None  # the venv's directory (None: the remembered one, or the prefix)
    cache: Path | None = None  # the user's cache (byte-code shared by every prefix)


class InstallFailed(MasonError):
    """One package failed; ``cause`` says why, ``log`` and ``work_dir`` where to look."""

    def __init__(self, package: str, cause: BaseException, log: Path, work_dir: Path | None):
        self.package = package
        self.cause = cause
        self.log = log
        self.work_dir = work_dir
        text = _without_label(package, str(cause))
        where = "" if str(log) in text else f"\n  log: {log}"
        kept = f"\n  build directory kept: {work_dir}" if work_dir else ""
        super().__init__(f"{package}: {text}{where}{kept}")
        self.hint = getattr(cause, "hint", None)


def source_spec(recipe: Recipe) -> SourceSpec | None:
    """The upstream file of ``recipe`` (None when it has no tarball)."""
    c = recipe.checksums
    if c is None or c.tarball is None:
        return None
    return SourceSpec(
        package=recipe.name,
        version=recipe.version,
        filename=c.tarball,
        sha256=c.sha256,
        sha1=c.sha1,
        md5=c.md5,
        cksum=c.cksum,
        upstream_url=c.upstream_url,
    )


def default_upstream(catalog: Catalog) -> Path:
    """``upstream/`` next to the catalog directory (SageMath's ``$SAGE_ROOT/upstream``)."""
    root = catalog.sage_root or catalog.root.parent
    return root / "upstream"


def needs_python(recipe: Recipe) -> bool:
    """Whether building or installing ``recipe`` needs the venv."""
    return recipe.kind in ("pip", "wheel") or recipe.tree == "venv"


class Installer:
    """Installs planned packages of ``catalog`` into ``prefix``."""

    def __init__(
        self,
        catalog: Catalog,
        prefix: Prefix,
        options: InstallOptions,
        on_event: EventSink = ignore,
    ) -> None:
        self.catalog = catalog
        self.prefix = prefix
        self.options = options
        # the venv's place; a second store when it lies outside the prefix (mason.trees)
        self.trees = Trees(prefix, locate_venv(prefix.root, options.venv))
        self.emit = on_event
        self.upstream = options.upstream or default_upstream(catalog)
        self._venv_lock = threading.Lock()
        self._venv: Venv | None = None
        self._jobserver: Jobserver | None = None
        # per store root: the run's watch of it (the prefix, and a venv apart from it)
        self._watches: dict[Path, _LazyWatch] = {}
        self._trash = Trash(prefix.root)
        # Paths this run's merges made, replaced or removed: changes a build's stray-write
        # check must not blame on the build (noted before the merge where known then).
        self._merged: dict[Path, set[str]] = {}  # per store root
        self._merged_lock = threading.Lock()
        self._previous: dict[str, Record] | None = None
        # per package: digests of the files its wheels wrote (the scan need not hash them)
        self._digests: dict[str, dict[str, tuple[str, int]]] = {}

    # -- a run ----------------------------------------------------------------------------

    def run(self, plan: Plan) -> Outcome:
        """Build and merge every step of ``plan``, dependencies first, within the budget."""
        from mason import scheduler

        records = self._previous = self.trees.records()
        jobs = {
            step.name: Job(
                step.name,
                deps=frozenset(step.prerequisites),
                weight=self._weight(step.name, records.get(step.name)),
            )
            for step in plan
        }
        self.emit(Event("planned", message=f"{len(jobs)} package(s) to install"))
        with (
            Jobserver(self.options.jobs) as jobserver,
            contextlib.ExitStack() as watches,
            Trash(self.prefix.root) as self._trash,
            _short_switch_interval(),
        ):
            self._jobserver = jobserver
            self._watches = {
                store.root: watches.enter_context(_LazyWatch(store.root))
                for store in self._live_stores()
            }
            try:
                return scheduler.run(
                    jobs,
                    self._work,
                    jobserver=jobserver,
                    keep_going=self.options.keep_going,
                    on_event=self._scheduler_event,
                )
            finally:
                self._jobserver = None
                self._watches = {}

    def _weight(self, name: str, record: Record | None) -> float:
        """How long ``name`` will take, for the scheduler's critical path: its last build
        time, or for a wheel never installed its size (about a second per megabyte, so
        that sympy starts first instead of running alone at the end)."""
        if record is not None:
            return max(float(record.timings.get("build", 1.0)), 0.01)
        recipe = self.catalog.recipes[name]
        source = source_spec(recipe)
        if recipe.kind == "wheel" and source is not None:
            try:
                return max((self.upstream / source.filename).stat().st_size / 1e6, 0.01)
            except OSError:
                pass
        return 1.0

    def _scheduler_event(self, event: SchedulerEvent) -> None:
        recipe = self.catalog.recipes[event.job]
        if event.kind == "skipped":
            self._event("skipped", recipe, f"dependency {event.blocked_by} failed")
        elif event.kind == "failed":
            self._event("failed", recipe, _short(event.error))
        elif event.kind == "not_started":
            self._event("skipped", recipe, "not started (an earlier package failed)")

    def _event(self, phase: Phase, recipe: Recipe, message: str = "") -> None:
        self.emit(Event(phase, recipe.name, recipe.version, message))

    # -- one package ----------------------------------------------------------------------

    def _work(self, name: str) -> None:
        self.install_one(name)

    def install_one(self, name: str) -> Record:
        """Build ``name`` and merge it into the prefix; raise :class:`InstallFailed`."""
        recipe = self.catalog.recipes[name]
        self._event("started", recipe)
        log = self.prefix.root / LOG_DIR / f"{recipe.name}-{recipe.version}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
        work = self.prefix.staging_dir(f"{recipe.name}-{recipe.version}")
        try:
            started = time.monotonic()
            spec = self._spec(recipe, work, log)
            staged, wheels = self._produce(recipe, spec)
            built = time.monotonic()
            self._event("merging", recipe)
            store = self.trees.store(tree_of(recipe))
            if store is not self.prefix:
                remember_venv(self.trees.place)  # so that later commands find its store
            tree = store.scan(staged, recipe.name, known=self._digests.pop(name, None))
            # before the merge, so a build checked while it runs never looks them up
            self._note_merged(store, [*self._previous_files(recipe.name), *tree.entries])
            record = store.merge(
                tree,
                self._meta(recipe, built - started),
                allow_overwrite=self.options.allow_overwrite,
            )
            self._leave_other_store(recipe, store)
            self._keep_wheels(wheels)  # only once their files are in the prefix
            self._after_merge(recipe, spec, store)
        except Exception as e:
            raise InstallFailed(f"{recipe.name}-{recipe.version}", e, log, work) from e
        self._trash.put(work)
        files = len(record.files)
        self._event("done", recipe, f"{files} file(s), {time.monotonic() - started:.1f}s")
        return record

    def _spec(self, recipe: Recipe, work: Path, log: Path) -> BuildSpec:
        extra = {"SAGE_NUM_THREADS": str(self.options.jobs)}
        if self._jobserver is not None:
            extra["MAKEFLAGS"] = self._jobserver.makeflags()
        return BuildSpec(
            name=recipe.name,
            version=recipe.version,
            recipe_dir=recipe.path,
            prefix=self.prefix.root,
            build_dir=work / "build",
            destdir=work / "dest",
            log_path=log,
            inst_local=self.trees.place.root if tree_of(recipe) == "venv" else None,
            venv=self.trees.place.root,
            extra_env=extra,
        )

    def _fds(self) -> tuple[int, ...]:
        return self._jobserver.pass_fds() if self._jobserver is not None else ()

    def _produce(self, recipe: Recipe, spec: BuildSpec) -> tuple[Path, list[Path]]:
        """Make the staged tree of ``recipe`` (paths relative to the root of its store: the
        prefix, or a venv outside it); return it and the wheels staged into it (for the
        wheel store, after the merge)."""
        staged = _staged_root(spec, self._tree_root(recipe))
        if recipe.kind in ("pip", "wheel"):
            staged.mkdir(parents=True)
            wheels = self._wheels_of(recipe, spec)
            self._stage_wheels(recipe, wheels, staged)
            return staged, wheels
        if recipe.kind == "none":
            staged.mkdir(parents=True)
            return staged, []
        return self._build(recipe, spec)

    def _build(self, recipe: Recipe, spec: BuildSpec) -> tuple[Path, list[Path]]:
        from mason.build import apply_patches, prepare_build_dir, run_build

        spec.build_dir.mkdir()
        prepare_build_dir(spec)
        if needs_python(recipe) or recipe.kind == "normal":
            self.venv()
        source = source_spec(recipe)
        if source is not None:
            archive = self._fetch(recipe, source)
            self._extract(archive, spec.build_dir / "src")
            apply_patches(spec.package, recipe.path, spec.build_dir / "src")
        before = self._before_build()
        self._event("building", recipe)
        try:
            run_build(spec, check=self.options.check, pass_fds=self._fds())
        finally:
            changes = self._changes_since(before)
        self._check_stray_writes(recipe, changes)
        stored = self._take_stored_wheels(spec)
        staged = self._staged_tree(recipe, spec)
        staged.mkdir(parents=True, exist_ok=True)
        if stored:
            self._check_wheels_tree(recipe, stored)
            self._stage_wheels(recipe, stored, staged)
        if not any(staged.iterdir()) or _only_lib64(staged):
            self._event("warning", recipe, "the recipe installed nothing")
        return staged, stored

    def _fetch(self, recipe: Recipe, source: SourceSpec) -> Path:
        from mason.fetch import fetch

        self._event("fetching", recipe, source.filename)

        def relay(event: FetchEvent) -> None:
            if event.kind in ("discarded", "weak"):
                self._event("warning", recipe, event.message)

        return fetch(source, self.upstream, self.options.mirrors, on_event=relay)

    @staticmethod
    def _extract(archive: Path, src: Path) -> None:
        from mason.extract import extract

        tmp = src.with_name("src.extract")
        top = extract(archive, tmp)
        os.rename(top, src)
        if top != tmp:
            shutil.rmtree(tmp)

    def _live_stores(self) -> list[Prefix]:
        """The stores a build must not write into: the prefix, and a venv apart from it."""
        venv = self.trees.venv_store
        return [self.prefix] if venv is None else [self.prefix, venv]

    def _before_build(self) -> list[tuple[Prefix, int | PrefixSnapshot]]:
        """Where the stray-write check starts, per live store: a mark of the run's watch
        of it, or a snapshot."""
        marks: list[tuple[Prefix, int | PrefixSnapshot]] = []
        for store in self._live_stores():
            if not store.root.is_dir():
                continue  # a venv not made yet: nothing to protect there
            lazy = self._watches.get(store.root)
            watch = lazy.get() if lazy is not None else None
            mark = watch.mark() if watch is not None else snapshot_prefix(store.root)
            marks.append((store, mark))
        return marks

    def _changes_since(
        self, before: list[tuple[Prefix, int | PrefixSnapshot]]
    ) -> list[tuple[Prefix, list[str] | None]]:
        """Per store, its paths changed since ``before`` (``None``: unknown, events lost)."""
        out: list[tuple[Prefix, list[str] | None]] = []
        for store, mark in before:
            if isinstance(mark, PrefixSnapshot):
                out.append((store, prefix_changes(mark)))
                continue
            watch = self._watches[store.root].get()
            assert watch is not None
            out.append((store, watch.changes_since(mark)))
        return out

    def _check_stray_writes(
        self, recipe: Recipe, changed: list[tuple[Prefix, list[str] | None]]
    ) -> None:
        for store, changes in changed:
            self._check_store(recipe, store, changes)

    def _check_store(self, recipe: Recipe, store: Prefix, changes: list[str] | None) -> None:
        from mason.build.staged import check_changes

        if changes is None:
            where = "prefix" if store is self.prefix else f"venv {store.root}"
            message = f"writes into the live {where} could not be checked (inotify lost events)"
            self._event("warning", recipe, message)
            return
        with self._merged_lock:
            merged = self._merged.get(store.root, set())
            changes = [path for path in changes if path not in merged]
        if not changes:
            return
        root = store.root

        def legitimate(path: str) -> bool:
            # Other packages merge while this one builds: the directories they created
            # hold their files (checked one by one). A claimed file is explained when it
            # is as its owner's record says: merges never change a file in place.
            return (root / path).is_dir() and not (root / path).is_symlink()

        changes = [path for path in changes if not legitimate(path)]
        if not changes:
            return
        with store.read_locked() as index:
            owners = {path: index.owners_of(path) for path in changes}
        intact = _IntactCheck(store)
        check_changes(
            f"{recipe.name}-{recipe.version}",
            root,
            changes,
            ignore=lambda p: any(intact(p, owner) for owner in owners[p]),
        )

    def _previous_files(self, name: str) -> tuple[str, ...]:
        """The files of the installed version of ``name`` (which its merge may remove)."""
        if self._previous is not None:
            record = self._previous.get(name)
        else:
            record = self.prefix.record(name)
        return tuple(record.files) if record is not None else ()

    def _note_merged(self, store: Prefix, paths: Iterable[str]) -> None:
        """Paths of ``store`` that this run's merges make, replace or remove (changes a
        build's stray-write check must not blame on the build)."""
        with self._merged_lock:
            self._merged.setdefault(store.root, set()).update(paths)

    # -- Python ---------------------------------------------------------------------------

    def venv(self) -> Venv:
        """The prefix's venv, created (as the package ``python_venv``) on first use, in
        the directory :attr:`trees` places it (the prefix itself by default)."""
        import weakref

        from mason.python import ensure_venv
        from mason.python.pool import WheelPool

        with self._venv_lock:
            if self._venv is not None:
                return self._venv
            # every wheel of this run is staged in one of at most `jobs` processes
            self._wheel_pool = WheelPool(self.options.jobs, self.options.cache)
            weakref.finalize(self, self._wheel_pool.close)
            place = self.trees.place
            remember_venv(place)  # refuses a place other than the remembered one
            store = self.trees.store("venv")
            if not (place.root / "pyvenv.cfg").is_file():
                self._make_venv(store)
            # mason's cache of the venv stays in the bookkeeping of its store
            self._venv = ensure_venv(place.root, self.options.python, state=store.root)
            return self._venv

    def _make_venv(self, store: Prefix) -> None:
        """Create the venv and merge it into ``store`` as the package ``python_venv``."""
        from mason.python.venvpkg import VENV_PACKAGE, stage_venv, venv_version

        root = self.trees.place.root
        work = self.prefix.staging_dir(VENV_PACKAGE)
        staged = work / "venv"
        stage_venv(staged / root.relative_to(store.root), root, self.options.python)
        tree = store.scan(staged, VENV_PACKAGE)
        meta = PackageMeta(VENV_PACKAGE, venv_version(self.options.python), kind="venv")
        self._note_merged(store, tree.entries)
        store.merge(tree, meta)
        self._trash.put(work)

    def _wheels_of(self, recipe: Recipe, spec: BuildSpec) -> list[Path]:
        self.venv()
        if recipe.kind == "wheel":
            source = source_spec(recipe)
            assert source is not None
            return [self._fetch(recipe, source)]
        from mason.python.pip import download_wheels

        assert recipe.requirements is not None
        self._event("fetching", recipe, "pip download")
        dest = spec.build_dir.parent / "wheels"
        dest.mkdir(parents=True, exist_ok=True)
        reqs = [
            line.strip()
            for line in recipe.requirements.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        venv = self.venv()
        return list(
            download_wheels(
                reqs,
                dest,
                python=venv.python,
                index_url=self.options.index_url,
                find_links=self.options.find_links,
            )
        )

    def _take_stored_wheels(self, spec: BuildSpec) -> list[Path]:
        """Move the wheels a recipe stored (``sdh_store_wheel``) out of ``DESTDIR``."""
        store = spec.staged_prefix / WHEELS_DIR
        if not store.is_dir():
            return []
        out = spec.build_dir.parent / "stored-wheels"
        out.mkdir()
        wheels = []
        for wheel in sorted(store.iterdir()):
            wheels.append(out / wheel.name)
            os.rename(wheel, out / wheel.name)
        _prune_empty(store, spec.destdir)
        return wheels

    def _staged_tree(self, recipe: Recipe, spec: BuildSpec) -> Path:
        """``$DESTDIR`` + the root of ``recipe``'s tree; raise :class:`OutsideTree` for
        anything staged outside it."""
        from mason.build import StagedOutsidePrefix, staged_tree

        root = self._tree_root(recipe)
        if root != self.prefix.root and _only_lib64(spec.staged_prefix):
            # prepare_build_dir's $DESTDIR$PREFIX/lib{,64}, unused by a venv package
            (spec.staged_prefix / "lib64").unlink()
            _prune_empty(spec.staged_prefix / "lib", spec.destdir)
        _staged_root(spec, root).mkdir(parents=True, exist_ok=True)
        try:
            return staged_tree(spec.package, spec.destdir, root)
        except StagedOutsidePrefix as e:
            if not self.trees.place.separate:
                raise
            raise OutsideTree(spec.package, tree_of(recipe), root, e.paths) from e

    def _check_wheels_tree(self, recipe: Recipe, wheels: list[Path]) -> None:
        """Wheels go into the venv: refuse them for a package of the prefix's tree when
        the venv lies outside the prefix (its files would be outside the package's tree)."""
        if self._tree_root(recipe) != self.prefix.root or not self.trees.place.separate:
            return
        venv = self.trees.place.root
        package = f"{recipe.name}-{recipe.version}"
        raise OutsideTree(package, "prefix", self.prefix.root, [venv / w.name for w in wheels])

    def _tree_root(self, recipe: Recipe) -> Path:
        """The root of the store ``recipe`` merges into (its staged paths are relative
        to it)."""
        return self.trees.store(tree_of(recipe)).root

    def _stage_wheels(self, recipe: Recipe, wheels: list[Path], staged: Path) -> None:
        venv = self.venv()
        digests = self._digests.setdefault(recipe.name, {})
        source = source_spec(recipe) if recipe.kind == "wheel" else None
        for wheel in wheels:
            # a wheel package's wheel was verified against the catalog's sha256 by fetch
            verified = source.sha256 if source and wheel.name == source.filename else None
            done = self._wheel_pool.stage(
                wheel, venv, staged, tree_root=self._tree_root(recipe), sha256=verified
            )
            digests.update(done.known_digests())

    def _keep_wheels(self, wheels: list[Path]) -> None:
        """Put the wheels into the wheel store (mason's bookkeeping, like the records)."""
        store = self.prefix.root / WHEELS_DIR
        store.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            tmp = store / f".{wheel.name}.{os.getpid()}.{threading.get_ident()}"
            try:
                os.link(wheel, tmp)  # wheels are never changed in place: share the bytes
            except OSError:
                shutil.copyfile(wheel, tmp)
            os.replace(tmp, store / wheel.name)

    # -- after the merge ------------------------------------------------------------------

    def _meta(self, recipe: Recipe, build_seconds: float) -> PackageMeta:
        deps = {d: self.catalog.recipes[d].version for d in recipe.deps if d in self.catalog}
        return PackageMeta(
            name=recipe.name,
            version=recipe.version,
            kind=recipe.kind,
            dependencies=deps,
            recipe_hash=recipe.recipe_hash,
            test_result="passed" if self.options.check and "check" in recipe.scripts else "",
            timings={"build": round(build_seconds, 3), "installed_at": time.time()},
        )

    def _leave_other_store(self, recipe: Recipe, store: Prefix) -> None:
        """Uninstall ``recipe``'s old version from the other store (its tree changed)."""
        if self._previous is not None and recipe.name not in self._previous:
            return  # not installed when the run started
        other = self.trees.other(store)
        if other is None or other not in self.trees.stores:
            return
        old = other.record(recipe.name)
        if old is not None:
            self._note_merged(other, old.files)
            other.uninstall(recipe.name, force=True)

    def _after_merge(self, recipe: Recipe, spec: BuildSpec, store: Prefix) -> None:
        from mason.build import run_script

        kept = store.root / SCRIPTS_DIR / recipe.name
        removal = [spec.build_dir / f"spkg-{w}.in" for w in ("prerm", "postrm")]
        # The removal scripts of the version now installed, and none of an older one.
        shutil.rmtree(kept, ignore_errors=True)
        for p in removal:
            if p.is_file():
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, kept / p.name)
        if spec.build_dir.is_dir():
            run_script(spec, "spkg-postinst", pass_fds=self._fds())


class _IntactCheck:
    """Whether a path is as its owner's record says (records read once per check)."""

    def __init__(self, prefix: Prefix) -> None:
        self._prefix = prefix
        self._records: dict[str, Record | None] = {}

    def __call__(self, path: str, owner: str) -> bool:
        from mason.store.verify import check_file

        if owner not in self._records:
            self._records[owner] = self._prefix.record(owner)
        record = self._records[owner]
        info = record.files.get(path) if record is not None else None
        return info is not None and check_file(self._prefix.root / path, info) is None


@contextmanager
def _short_switch_interval(seconds: float = 0.0005) -> Iterator[None]:
    """The job threads mostly make system calls (link, lstat, rename, fsync): a thread
    whose call returned waits for the GIL until the holder's switch interval ends (5 ms by
    default). A shorter interval gives it back sooner (about 5% of a run of cached wheels,
    see docs/benchmarks.md)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _LazyWatch:
    """The run's :class:`PrefixWatch` of ``root``, started when the first build needs it
    (a run of wheel packages, which build nothing, never walks the prefix); ``None``
    where inotify cannot be used (builds then snapshot). A context manager."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._started = False
        self._watch: PrefixWatch | None = None

    def get(self) -> PrefixWatch | None:
        with self._lock:
            if not self._started:
                self._started = True
                self.root.mkdir(parents=True, exist_ok=True)
                self._watch = PrefixWatch.start(self.root)
            return self._watch

    def __enter__(self) -> _LazyWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._watch is not None:
            self._watch.close()


def _only_lib64(staged: Path) -> bool:
    if not staged.is_dir():
        return False
    entries = {e.name for e in staged.iterdir()}
    return entries <= {"lib", "lib64"} and not any((staged / "lib").iterdir())


def _staged_root(spec: BuildSpec, root: Path) -> Path:
    """``$DESTDIR`` + ``root``: where the files of the tree at ``root`` are staged."""
    return spec.destdir / root.relative_to(root.anchor)


def _prune_empty(path: Path, stop: Path) -> None:
    """Remove ``path`` and its parents up to (not including) ``stop`` while empty."""
    while path != stop and path.is_relative_to(stop):
        try:
            path.rmdir()
        except OSError:  # not empty, or gone
            if path.exists():
                return
        path = path.parent


def _without_label(package: str, text: str) -> str:
    """``text`` without a leading ``package:`` (the causes often name their package)."""
    return text.removeprefix(f"{package}: ")


def _short(error: BaseException | None) -> str:
    if isinstance(error, InstallFailed):
        return _without_label(error.package, str(error.cause).splitlines()[0])
    return str(error).splitlines()[0] if error else ""
