"""A binary cache on an OCI registry: build once, install on many machines (docs/cache.md).

``key`` (what went into a build), ``artifact`` (a staged tree as an OCI image: a
deterministic tar layer and a config of mason's metadata), ``localstore`` (the artifacts
in ``$MASON_CACHE/binary/``), ``oci`` + ``auth`` (the distribution API on
``http.client``), ``relocate`` (another prefix), ``trust`` (ssh signatures),
``client`` (push, and the checked pull), ``settings`` (``[cache]``, ``MASON_CACHE_URL``),
``options`` (an install's ``--cache``/``--push``), ``session`` (the cache of one run).

The names below are loaded on first use (:pep:`562`): every ``mason install`` asks
whether a cache is configured, and most runs have none; importing the registry client
for them cost 45 ms of each command's start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mason.binarycache.artifact import Artifact, make_artifact
    from mason.binarycache.client import CacheClient, PushResult
    from mason.binarycache.errors import (
        ArtifactRefused,
        CacheError,
        CacheUrlError,
        NotInCache,
        NotRelocatable,
        RegistryError,
        SigningFailed,
    )
    from mason.binarycache.key import CacheKey, compute_keys
    from mason.binarycache.localstore import LocalStore
    from mason.binarycache.oci import Registry
    from mason.binarycache.settings import CacheSettings, CacheUrl, load_cache_settings, parse_url

#: Each public name and the module that defines it.
_WHERE = {
    "Artifact": "artifact",
    "make_artifact": "artifact",
    "CacheClient": "client",
    "PushResult": "client",
    "ArtifactRefused": "errors",
    "CacheError": "errors",
    "CacheUrlError": "errors",
    "NotInCache": "errors",
    "NotRelocatable": "errors",
    "RegistryError": "errors",
    "SigningFailed": "errors",
    "CacheKey": "key",
    "compute_keys": "key",
    "LocalStore": "localstore",
    "Registry": "oci",
    "CacheSettings": "settings",
    "CacheUrl": "settings",
    "load_cache_settings": "settings",
    "parse_url": "settings",
}

__all__ = [
    "Artifact",
    "ArtifactRefused",
    "CacheClient",
    "CacheError",
    "CacheKey",
    "CacheSettings",
    "CacheUrl",
    "CacheUrlError",
    "LocalStore",
    "NotInCache",
    "NotRelocatable",
    "PushResult",
    "Registry",
    "RegistryError",
    "SigningFailed",
    "compute_keys",
    "load_cache_settings",
    "make_artifact",
    "parse_url",
]  # the keys of _WHERE


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found here from now on
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
