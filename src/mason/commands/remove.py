"""Handler of ``mason uninstall``: removal scripts around the store's journaled uninstall.

For each package (dependents first when several are named): ``spkg-prerm`` -> the store
removes its files (its Python distributions' files included: they are claimed like any
other), deepest first, keeping co-owned and user-changed files, pruning emptied
directories, dropping the record -> ``spkg-postrm``. The removal scripts kept by the
install in ``<prefix>/var/lib/mason/scripts/<name>/`` are copied into a fresh staging
directory first (they run there with the build environment), and the kept directory goes
with the record.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from mason import builddirs
from mason.build import BuildSpec
from mason.catalog.load import find_catalog
from mason.commands.store import announce_recovery, existing_prefix
from mason.commands.venvstate import reconciled
from mason.config import load_settings
from mason.graph import topological_order
from mason.layout import LOG_DIR, REMOVAL_SCRIPTS, SCRIPTS_DIR
from mason.store import (
    NotInstalled,
    Prefix,
    Record,
    UninstallReport,
    check_unused,
    missing_dependencies,
    require_writable,
)
from mason.store.headers import Summary
from mason.trees import Trees


def removal_order(
    names: Sequence[str], records: Mapping[str, Summary], *, prefix: str, force: bool = False
) -> list[str]:
    """``names`` with every package before the packages it depends on (dependents first).

    Raises :class:`NotInstalled` naming every package without a record, and (unless
    ``force``) :class:`PackageInUse` naming every installed package outside ``names`` that
    needs one of them; nothing is removed then.
    """
    wanted = list(dict.fromkeys(names))
    missing = [n for n in wanted if n not in records]
    if missing:
        raise NotInstalled(", ".join(missing), prefix)
    if not force:
        check_unused(wanted, records)
    # each package waits for its dependents to go first; ties in the order asked
    users_of = {n: [u for u in wanted if n in records[u].dependencies] for n in wanted}
    return topological_order(users_of, rank=wanted.index)


def _removal_spec(
    trees: Trees, store: Prefix, record: Record, catalog: Path | None
) -> BuildSpec | None:
    """Where ``record``'s removal scripts run: a fresh directory holding copies of the
    fragments the install kept in ``store`` (None when it kept none)."""
    prefix = trees.prefix
    kept = store.root / SCRIPTS_DIR / record.name
    fragments = [kept / f for f in REMOVAL_SCRIPTS if (kept / f).is_file()]
    if not fragments:
        return None
    work = prefix.staging_dir(f"{record.name}-{record.version}-uninstall")
    build = work / "build"
    build.mkdir()
    for fragment in fragments:
        shutil.copyfile(fragment, build / fragment.name)
    recipe = catalog / record.name if catalog is not None else None
    return BuildSpec(
        name=record.name,
        version=record.version,
        recipe_dir=recipe if recipe is not None and recipe.is_dir() else kept,
        prefix=prefix.root,
        build_dir=build,
        destdir=work / "dest",
        log_path=prefix.root / LOG_DIR / f"{record.name}-{record.version}.log",
        inst_local=store.root,
        venv=trees.place.root,
    )


@contextmanager
def _removal(
    trees: Trees, store: Prefix, record: Record, catalog: Path | None
) -> Iterator[BuildSpec | None]:
    spec = _removal_spec(trees, store, record, catalog)
    try:
        yield spec
    finally:
        if spec is not None:
            shutil.rmtree(spec.build_dir.parent, ignore_errors=True)
            builddirs.release(spec.build_dir.parent)


def remove_package(
    trees: Trees, name: str, *, catalog: Path | None = None, force: bool = False
) -> UninstallReport:
    """Uninstall one package from the store holding it (the prefix's, or the venv's):
    ``spkg-prerm``, the store's uninstall, ``spkg-postrm``.

    A failing ``spkg-prerm`` leaves the package installed (:class:`ScriptFailed`); a failing
    ``spkg-postrm`` is raised after the package was removed.
    """
    from mason.build import run_script

    store = trees.store_of(name)
    record = store.record(name) if store is not None else None
    if store is None or record is None:
        raise NotInstalled(name, str(trees.prefix.root))
    with _removal(trees, store, record, catalog) as spec:
        if spec is not None:
            run_script(spec, "spkg-prerm")
        report = trees.uninstall(name, force=force)  # the kept scripts go with the record
        if spec is not None:
            run_script(spec, "spkg-postrm")
    return report


def _print_report(report: UninstallReport) -> None:
    label = f"{report.package}-{report.version}"
    for path in report.modified:
        print(
            f"[{label}] warning: kept {path}: changed since it was installed "
            "(no longer owned by any package; remove it yourself if unwanted)",
            file=sys.stderr,
        )
    kept = f", {len(report.shared)} kept (shared with other packages)" if report.shared else ""
    print(f"[{label}] uninstalled: {len(report.removed)} file(s) removed{kept}")


def uninstall(args: argparse.Namespace) -> int:
    """``mason uninstall PKG... [--force]``: remove installed packages, dependents first."""
    settings = load_settings(catalog=args.catalog, prefix=args.prefix)
    trees = reconciled(Trees.open(existing_prefix(settings.prefix), settings.venv))
    require_writable(trees.prefix.root)
    catalog = settings.catalog
    if catalog is not None and catalog.is_dir():
        catalog = find_catalog(catalog)  # a SageMath root means its build/pkgs
    records = trees.summaries()
    order = removal_order(args.packages, records, prefix=str(trees.prefix.root), force=args.force)
    announce_recovery(trees.stores)  # what reading the records recovered first
    for name in order:
        outside = records[name].outside
        if outside is not None:  # pip changed it, or installed it: its RECORD says what
            label = f"{name}-{records[name].version}"
            print(f"[{label}] {outside.describe()}: removing what is there now")
        report = remove_package(trees, name, catalog=catalog, force=args.force)
        _print_report(report)
    reconciled(trees)  # the listing of the venv's dist-info follows the removals
    for user, deps in missing_dependencies(trees.summaries()).items():
        if set(deps) & set(order):
            print(
                f"mason: warning: {user} is now broken: it needs {', '.join(deps)}", file=sys.stderr
            )
    return 0
