"""Handler of ``mason clean``: kept build directories, unneeded sources, the user's cache."""

from __future__ import annotations

import argparse
import os
import shutil
import uuid
from pathlib import Path

from mason import builddirs
from mason.commands.query import _catalog
from mason.commands.store import existing_prefix
from mason.config import Settings, load_settings
from mason.store import require_writable

#: what ``mason clean`` with no option removes
DEFAULT = ("builds",)


def _builds(settings: Settings) -> list[tuple[str, Path, int]]:
    prefix = existing_prefix(settings.prefix)
    require_writable(prefix)
    kept = builddirs.kept(prefix)
    builddirs.remove(kept)
    return [("build directory", d.path, d.size) for d in kept]


def _sources(settings: Settings) -> list[tuple[str, Path, int]]:
    """Files of the upstream cache that no recipe of the catalog names (hidden ones, being
    downloaded right now, stay)."""
    from mason.install import default_upstream

    catalog = _catalog(settings)
    upstream = settings.upstream or default_upstream(catalog)
    needed = {r.checksums.tarball for r in catalog if r.checksums and r.checksums.tarball}
    removed = []
    for entry in sorted(upstream.iterdir()) if upstream.is_dir() else []:
        if entry.name.startswith(".") or entry.name in needed or not entry.is_file():
            continue
        size = entry.stat().st_size
        entry.unlink()
        removed.append(("source", entry, size))
    return removed


def _cache(settings: Settings) -> list[tuple[str, Path, int]]:
    """The user's cache of unpacked wheels and byte-code: each part renamed away first, so
    a concurrent install sees it whole or not at all."""
    if settings.cache is None or not settings.cache.is_dir():
        return []
    removed = []
    for part in sorted(settings.cache.iterdir()):
        if part.name.startswith(".") or not part.is_dir():
            continue
        size = builddirs.tree_size(part)
        doomed = part.with_name(f".{part.name}.removed-{uuid.uuid4().hex[:8]}")
        os.rename(part, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(("cache", part, size))
    return removed


_CLEANERS = {"builds": _builds, "sources": _sources, "cache": _cache}


def clean(args: argparse.Namespace) -> int:
    """``mason clean [--builds] [--sources] [--cache] [--all]``: remove, say what and how
    much (default: ``--builds``)."""
    settings = load_settings(catalog=args.catalog, prefix=args.prefix, upstream=args.upstream)
    chosen = [what for what in _CLEANERS if args.all or getattr(args, what)] or list(DEFAULT)
    removed = [item for what in chosen for item in _CLEANERS[what](settings)]
    for kind, path, size in removed:
        print(f"removed {kind} {path} ({builddirs.human(size)})")
    total = sum(size for _, _, size in removed)
    print(f"freed {builddirs.human(total)}" if removed else "nothing to clean")
    return 0
