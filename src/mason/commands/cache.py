"""Handlers of ``mason cache key|push|ls|why-miss`` (the binary cache, docs/cache.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mason.binarycache.errors import CacheError
from mason.binarycache.localstore import LocalStore
from mason.binarycache.settings import CacheSettings, load_cache_settings
from mason.commands.query import _catalog, installed_in
from mason.config import Settings, load_settings
from mason.errors import UsageError

if TYPE_CHECKING:  # the registry client is loaded by the commands that talk to one
    from mason.binarycache.client import CacheClient
    from mason.binarycache.key import CacheKey


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(catalog=args.catalog, prefix=args.prefix)


def _cache_settings(args: argparse.Namespace) -> CacheSettings:
    cache = load_cache_settings(getattr(args, "cache_url", None))
    if cache.url is None:
        raise UsageError(
            "no binary cache configured",
            hint="pass --cache-url oci://HOST[:PORT]/REPO, set MASON_CACHE_URL, "
            "or put url = ... in the [cache] table of mason.toml",
        )
    return cache


def local_store(settings: Settings) -> LocalStore:
    """The artifacts of the user's cache (``$MASON_CACHE/binary``)."""
    if settings.cache is None:
        raise UsageError("the user's cache is off (MASON_CACHE=off): there are no artifacts")
    return LocalStore(settings.cache)


def _keys(settings: Settings, names: list[str]) -> dict[str, CacheKey]:
    from mason.binarycache.key import keys_for

    catalog = _catalog(settings)
    catalog.require(names)
    return keys_for(catalog, names, installed_in(settings))


def main(args: argparse.Namespace) -> int:
    """``mason cache SUBCOMMAND``."""
    handlers = {"key": key, "push": push, "ls": ls, "why-miss": why_miss}
    return handlers[args.cache_command](args)


def key(args: argparse.Namespace) -> int:
    """``mason cache key PKG``: the key and every input it is the hash of."""
    found = _keys(_settings(args), [args.package])[args.package]
    if args.json:
        doc = {"key": found.key, "tag": found.tag, "inputs": found.document}
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    print(f"{found.name}-{found.version}  {found.key}")
    print(f"tag: {found.tag}")
    for name, value in sorted(found.document.items()):
        if isinstance(value, dict):
            print(f"{name}:")
            for k, v in sorted(value.items()):
                print(f"  {k}: {v}")
        else:
            print(f"{name}: {value}")
    return 0


def push(args: argparse.Namespace) -> int:
    """``mason cache push [PKG...|--all] [--sign KEY]``: send artifacts built here."""
    from mason.binarycache.client import CacheClient

    settings = _settings(args)
    store = local_store(settings)
    client = CacheClient(_cache_settings(args), store)
    if args.all:
        tags = [tag for tag, _ in store.tags()]
    elif args.packages:
        keys = _keys(settings, args.packages)
        tags = [keys[name].tag for name in args.packages]
    else:
        raise UsageError("name the packages to push, or pass --all")
    sign = Path(args.sign).expanduser() if args.sign else None
    failed = 0
    for tag in tags:
        try:
            result = client.push(tag, key_file=sign)
        except CacheError as e:
            print(f"mason: error: {e}", file=sys.stderr)
            failed += 1
            continue
        signed = ", signed" if result.signed else ""
        print(f"pushed {tag} ({result.blobs} blob(s), {result.uploaded} bytes sent{signed})")
    return 1 if failed else 0


def ls(args: argparse.Namespace) -> int:
    """``mason cache ls``: the artifacts in the registry."""
    from mason.binarycache import Registry

    cache = _cache_settings(args)
    assert cache.url is not None
    tags = [t for t in Registry(cache.url).tags() if not t.endswith(".sig")]
    if args.json:
        print(json.dumps({"url": str(cache.url), "tags": tags}, indent=2))
    else:
        for tag in tags:
            print(tag)
        print(f"{len(tags)} artifact(s) in {cache.url}")
    return 0


def _candidates(client: CacheClient, name: str) -> list[str]:
    return [
        t for t in client.registry.tags() if t.startswith(f"{name}-") and not t.endswith(".sig")
    ]


def _nearest(
    client: CacheClient, wanted: CacheKey, tags: list[str]
) -> tuple[str, list[str]] | None:
    """The tag among ``tags`` whose key inputs differ least from ``wanted``'s, and how."""
    from mason.binarycache.artifact import load_artifact, parse_manifest
    from mason.binarycache.key import differences

    best: tuple[str, list[str]] | None = None
    for tag in tags:
        manifest = client.registry.get_manifest(tag)
        if manifest is None:
            continue
        config, _ = parse_manifest(manifest)
        data = client.registry.fetch_blob(config.digest, client.store).read_bytes()
        inputs: dict[str, Any] = load_artifact(manifest, data).info.get("inputs") or {}
        diff = differences(wanted.document, inputs)
        if best is None or len(diff) < len(best[1]):
            best = (tag, diff)
    return best


def why_miss(args: argparse.Namespace) -> int:
    """``mason cache why-miss PKG``: which key input differs from the nearest artifact
    (exit 0 either way: a miss is an answer, not an error)."""
    import tempfile

    from mason.binarycache.client import CacheClient

    settings = _settings(args)
    wanted = _keys(settings, [args.package])[args.package]
    with tempfile.TemporaryDirectory(prefix="mason-why-miss-") as tmp:
        client = CacheClient(_cache_settings(args), LocalStore(settings.cache or Path(tmp)))
        tags = _candidates(client, args.package)
        if wanted.tag in tags:
            print(f"{args.package}: hit: {wanted.tag} is in the cache")
            return 0
        nearest = _nearest(client, wanted, tags)
    if nearest is None:
        print(f"{args.package}: miss: no artifact of {args.package} in the cache at all")
        return 0
    print(f"{args.package}: miss: wanted {wanted.tag}; nearest is {nearest[0]}, which differs in:")
    for line in nearest[1]:
        print(f"  {line}")
    return 0


def cache_options(args: argparse.Namespace, settings: Settings) -> Any:
    """The :class:`~mason.binarycache.session.CacheOptions` of ``install`` / ``plan``."""
    from mason.binarycache.options import MODES, CacheOptions

    cache = load_cache_settings(getattr(args, "cache_url", None))
    given = getattr(args, "cache", None) or ("auto" if cache.url is not None else "never")
    mode = next(m for m in MODES if m == given)
    if mode == "only" and cache.url is None:
        raise UsageError(
            "--cache only needs a cache",
            hint="pass --cache-url oci://HOST[:PORT]/REPO or set MASON_CACHE_URL",
        )
    push = bool(getattr(args, "push", False))
    if push and cache.url is None:
        raise UsageError("--push needs a cache URL (--cache-url, MASON_CACHE_URL, [cache] url)")
    return CacheOptions(cache, mode, push, settings.cache)


def tree_roots(settings: Settings, catalog: Any, names: list[str]) -> dict[str, Path]:
    """Per package, the root of the tree it installs into (what artifacts relocate to)."""
    from mason.trees import locate_venv, tree_of

    place = locate_venv(settings.prefix, settings.venv)
    venv = place.root if place.separate else settings.prefix
    return {n: venv if tree_of(catalog.recipes[n]) == "venv" else settings.prefix for n in names}


def plan_sources(args: argparse.Namespace, settings: Settings, plan: Any) -> dict[str, str]:
    """For ``mason plan``: per planned package ``from cache`` or ``build: why`` (empty
    when no cache is configured or ``--cache never``)."""
    import tempfile

    from mason.binarycache.key import keys_for
    from mason.binarycache.session import plan_decisions

    options = cache_options(args, settings)
    if not options.pulls:
        return {}
    catalog = _catalog(settings)
    keys = keys_for(catalog, plan.requested, installed_in(settings))
    names = [step.name for step in plan]
    targets = tree_roots(settings, catalog, names)
    with tempfile.TemporaryDirectory(prefix="mason-plan-") as tmp:
        local = settings.cache or Path(tmp)
        decisions = plan_decisions(options, keys, targets, local)
    return {n: "from cache" if d.from_cache else f"build: {d.reason}" for n, d in decisions.items()}
