"""A binary cache on an OCI registry: build once, install on many machines (docs/cache.md).

``key`` (what went into a build), ``artifact`` (a staged tree as an OCI image: a
deterministic tar layer and a config of mason's metadata), ``localstore`` (the artifacts
in ``$MASON_CACHE/binary/``), ``oci`` + ``auth`` (the distribution API on
``http.client``), ``relocate`` (another prefix), ``trust`` (ssh signatures),
``client`` (push, and the checked pull), ``settings`` (``[cache]``, ``MASON_CACHE_URL``).
"""

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
]
