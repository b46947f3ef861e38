"""The Python session of a run: the prefix's venv (made on first use, as the package
``python_venv``), the pool of processes staging wheels into it, and the wheels a package
puts into the wheel store of its staged tree.

A context manager: the pool's processes end with it (the end of the run)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mason.catalog import Recipe
from mason.install.guard import StrayCheck
from mason.install.options import InstallOptions, source_spec
from mason.layout import WHEELS_DIR
from mason.store import PackageMeta, Prefix
from mason.trash import Trash
from mason.trees import Trees, remember_venv

if TYPE_CHECKING:
    from mason.python import Venv
    from mason.python.pool import WheelPool


class PythonSession:
    """The venv of ``trees`` and what stages wheels into it, for one run."""

    def __init__(
        self, trees: Trees, options: InstallOptions, trash: Trash, stray: StrayCheck
    ) -> None:
        self.trees = trees
        self.options = options
        self._trash = trash
        self._stray = stray
        self._lock = threading.Lock()
        self._venv: Venv | None = None
        self._pool: WheelPool | None = None
        # per package: digests of the files its wheels wrote (the scan need not hash them)
        self._digests: dict[str, dict[str, tuple[str, int]]] = {}

    def __enter__(self) -> PythonSession:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def venv(self, *, staging: bool = False) -> Venv:
        """The prefix's venv, created (as the package ``python_venv``) on first use, in
        the directory the trees place it (the prefix itself by default). ``staging``: the
        caller stages wheels into it, so the pool's workers start first (while the venv is
        made); a build that only needs the venv never waits for them (a forkserver and
        ``-j`` workers: 0.4 s at the start of a run that stages no wheel)."""
        from mason.python import ensure_venv
        from mason.python.pool import WheelPool

        with self._lock:
            # every wheel of this run is staged in one of at most `jobs` processes
            if staging and self._pool is None:
                self._pool = WheelPool(self.options.jobs, self.options.cache)
                self._pool.warm()
            if self._venv is not None:
                return self._venv
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
        work = self.trees.prefix.staging_dir(VENV_PACKAGE)
        staged = work / "venv"
        stage_venv(staged / root.relative_to(store.root), root, self.options.python)
        tree = store.scan(staged, VENV_PACKAGE)
        meta = PackageMeta(VENV_PACKAGE, venv_version(self.options.python), kind="venv")
        self._stray.note_merged(store, tree.entries)
        store.merge(tree, meta)
        self._trash.put(work)

    def download(self, recipe: Recipe, dest: Path) -> list[Path]:
        """``pip download`` the wheels of a ``pip`` package's requirements into ``dest``."""
        from mason.python.pip import download_wheels

        assert recipe.requirements is not None
        dest.mkdir(parents=True, exist_ok=True)
        venv = self.venv()
        return list(
            download_wheels(
                recipe.path / "requirements.txt",  # its -r includes are the recipe's files
                dest,
                python=venv.python,
                index_url=self.options.index_url,
                find_links=self.options.find_links,
            )
        )

    def stage_wheels(self, recipe: Recipe, wheels: Sequence[Path], staged: Path) -> None:
        """Install ``wheels`` into the staged tree ``staged`` of ``recipe`` (the venv's
        paths relative to the root of ``recipe``'s store). An installation of the same
        distribution the build staged before goes first (SageMath's helpers uninstall it
        before ``pip install``)."""
        from mason.python.staged_dist import drop_staged_distribution, project_of

        venv = self.venv(staging=True)
        assert self._pool is not None
        digests = self._digests.setdefault(recipe.name, {})
        source = source_spec(recipe) if recipe.kind == "wheel" else None
        tree_root = self.trees.store_for(recipe).root
        for wheel in wheels:
            drop_staged_distribution(project_of(wheel), venv, staged, tree_root)
            # a wheel package's wheel was verified against the catalog's sha256 by fetch
            verified = source.checksums.sha256 if source and wheel.name == source.filename else None
            done = self._pool.stage(wheel, venv, staged, tree_root=tree_root, sha256=verified)
            digests.update(done.known_digests())

    def store_wheel(
        self, recipe: Recipe, wheel: Path, staged: Path, *, move: bool, sha256: str | None
    ) -> Path:
        """Put ``wheel`` into the wheel store of the staged tree ``staged`` (a file of
        ``recipe``'s like any other: the merge carries it, the record claims it); return
        it there. With ``move`` (a wheel of the work directory) it is moved; else (the
        upstream cache's) hard-linked when its ``sha256`` is known (the scan then need not
        hash it, and a link to outside the tree is allowed for it), or copied."""
        store = staged / WHEELS_DIR
        store.mkdir(parents=True, exist_ok=True)
        target = store / wheel.name
        if move:
            os.rename(wheel, target)
            return target
        try:
            if sha256 is None:
                raise OSError("no digest: copy")
            os.link(wheel, target)
        except OSError:
            shutil.copyfile(wheel, target)
            return target
        size = target.stat().st_size
        self._digests.setdefault(recipe.name, {})[f"{WHEELS_DIR}/{wheel.name}"] = (sha256, size)
        return target

    def known_digests(self, name: str) -> dict[str, tuple[str, int]] | None:
        """The digests of the files ``name``'s wheels wrote (taken: asked once)."""
        return self._digests.pop(name, None)
