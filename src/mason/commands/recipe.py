"""Handlers of the recipe tools: ``new``, ``fix-checksum``, ``update``.

They write the catalog (never the prefix): see :mod:`mason.catalog.writer`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mason.catalog import Catalog, Recipe, skeleton
from mason.catalog import files as recipe_files
from mason.catalog.load import NAME_RE, find_catalog
from mason.catalog.writer import (
    DIGESTS,
    STALE,
    NoTarball,
    SourceMissing,
    create_recipe,
    file_digests,
    is_url,
    obtain,
    rewrite_checksums,
    source_basename,
    write_text,
)
from mason.commands.query import _catalog
from mason.config import Settings, load_settings
from mason.errors import UsageError


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(catalog=args.catalog, prefix=args.prefix, upstream=args.upstream)


def _upstream(settings: Settings, catalog_root: Path) -> Path:
    from mason.install import default_upstream

    return settings.upstream or default_upstream(Catalog(catalog_root, {}, {}))


def _guess_system(archive: Path) -> skeleton.BuildSystem:
    from mason.extract import extract

    with tempfile.TemporaryDirectory(prefix="mason-new-") as tmp:
        return skeleton.build_system(extract(archive, Path(tmp) / "src"))


def _checked_version(version: str) -> str:
    """The upstream part of ``version`` (``1.2.p0`` -> ``1.2``); bad ones are usage errors."""
    _, upstream, _, problems = recipe_files.parse_version(version)
    if problems:
        raise UsageError(f"version {version!r}: {problems[0][1]}")
    return upstream


def new(args: argparse.Namespace) -> int:
    """``mason new NAME``: a recipe skeleton, its build steps guessed from ``--source``."""
    settings = _settings(args)
    if settings.catalog is None:
        raise UsageError("no catalog given", hint="pass --catalog DIR (it is created if missing)")
    if not NAME_RE.fullmatch(args.name):
        raise UsageError(f"bad package name {args.name!r}: use lower-case letters, digits and _")
    catalog = find_catalog(settings.catalog) if settings.catalog.is_dir() else settings.catalog
    written: dict[str, str] = {"type": f"{args.type}\n", "SPKG.rst": f"{args.name}: TODO\n"}
    system: skeleton.BuildSystem | None = None
    if args.source:
        filename = source_basename(args.source)
        version = args.version or skeleton.guess_version(filename)
        if version is None:
            raise UsageError(f"cannot tell the version from {filename!r}", hint="pass --version V")
        upstream_version = _checked_version(version)
        archive = obtain(args.source, _upstream(settings, catalog), filename)
        system = _guess_system(archive)
        lines = [f"tarball={skeleton.tarball_template(filename, upstream_version)}"]
        lines.append(f"sha256={file_digests(archive, ('sha256',))['sha256']}")
        if is_url(args.source):
            lines.append(f"upstream_url={skeleton.url_template(args.source, upstream_version)}")
        written["checksums.ini"] = "\n".join(lines) + "\n"
        if system == "python":
            written["install-requires.txt"] = f"{args.name}\n"
    else:
        version = args.version or "1.0"
        _checked_version(version)
    written["package-version.txt"] = f"{version}\n"
    written["spkg-install.in"] = skeleton.spkg_install(system)
    path = create_recipe(catalog, args.name, written)
    how = f"{system} build" if system else "no source"
    print(f"created {path} ({how}, version {version}): {', '.join(sorted(written))}")
    if system == "unknown":
        print(f"the build system was not recognized: write {path / 'spkg-install.in'}")
    return 0


def _raw_checksums(recipe: Recipe) -> tuple[str, dict[str, str | None]]:
    """The text of ``checksums.ini`` and its values with ``VERSION`` left in."""
    path = recipe.path / "checksums.ini"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    parsed, _ = recipe_files.parse_checksums(text, None)
    return text, dict(vars(parsed))


def _algorithms(old: dict[str, str | None]) -> tuple[str, ...]:
    """sha256 always; sha1 too when the recipe had one (every one given must match)."""
    return tuple(a for a in DIGESTS if a == "sha256" or old.get(a))


def _write_checksums(
    recipe: Recipe, archive: Path, old: dict[str, str | None], text: str, tarball: str | None
) -> None:
    new = file_digests(archive, _algorithms(old))
    rewritten = rewrite_checksums(text, new, tarball)
    label = f"[{recipe.name}]"
    if rewritten == text:
        print(f"{label} checksums.ini already matches {archive}")
        return
    write_text(recipe.path / "checksums.ini", rewritten)
    for algorithm, value in new.items():
        if old.get(algorithm) != value:
            print(f"{label} {algorithm}: {old.get(algorithm) or '(none)'} -> {value}")
    for algorithm in STALE:
        if old.get(algorithm):
            print(f"{label} {algorithm}: dropped (it described another file)")
    if tarball and tarball != old.get("tarball"):
        print(f"{label} tarball: {old.get('tarball') or '(none)'} -> {tarball}")


def fix_checksum(args: argparse.Namespace) -> int:
    """``mason fix-checksum PKG...``: checksums.ini from the file in the upstream cache."""
    settings = _settings(args)
    catalog = _catalog(settings)
    upstream = _upstream(settings, catalog.root)
    work = []
    for name in args.packages:  # check every package before writing any
        recipe = catalog[name]
        if recipe.checksums is None or recipe.checksums.tarball is None:
            raise NoTarball(name, recipe.path)
        archive = upstream / recipe.checksums.tarball
        if not archive.is_file():
            raise SourceMissing(name, archive)
        work.append((recipe, archive))
    for recipe, archive in work:
        text, old = _raw_checksums(recipe)
        _write_checksums(recipe, archive, old, text, None)
    return 0


def _new_source(
    recipe: Recipe, source: str | None, upstream: Path, old: dict[str, str | None], version: str
) -> tuple[Path, str] | None:
    """The new version's source file in the upstream cache and its ``tarball=`` template."""
    before = recipe.upstream_version
    raw = old.get("tarball")
    if source:
        filename = source_basename(source)
        template = skeleton.tarball_template(filename, version)
        return obtain(source, upstream, filename), template
    if raw is None:
        return None  # no sources before, none now: only the version changes
    template = raw if "VERSION" in raw else skeleton.tarball_template(raw, before)
    filename = template.replace("VERSION", version)
    if (upstream / filename).is_file():
        return upstream / filename, template
    url = old.get("upstream_url")
    if url:
        return obtain(url.replace("VERSION", version), upstream, filename), template
    raise SourceMissing(recipe.name, upstream / filename)


def update(args: argparse.Namespace) -> int:
    """``mason update PKG VERSION``: a new version, its checksums from the new source."""
    settings = _settings(args)
    catalog = _catalog(settings)
    recipe = catalog[args.package]
    upstream_version = _checked_version(args.version)
    text, old = _raw_checksums(recipe)
    upstream = _upstream(settings, catalog.root)
    found = _new_source(recipe, args.source, upstream, old, upstream_version)
    if found is not None:
        archive, template = found
        _write_checksums(recipe, archive, old, text, template)
    write_text(recipe.path / "package-version.txt", f"{args.version}\n")
    print(f"[{recipe.name}] version: {recipe.version} -> {args.version}")
    return 0
