"""Where the binary cache is and how far to trust it.

``--cache-url`` beats ``MASON_CACHE_URL`` beats ``url`` in the ``[cache]`` table of
``mason.toml`` (top level, or ``[mason.cache]``); the table may also say
``require_signature = true`` and ``trusted_keys = ["keys/ci.pub", ...]`` (ssh public
keys, relative to the file's directory). A URL is ``oci://HOST[:PORT]/REPOSITORY``:
https by default, plain http only to a loopback host (``oci+http://`` forces plain http,
still only to loopback).
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mason.binarycache.errors import CacheUrlError
from mason.config import CONFIG_FILE, ConfigError

_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CacheUrl:
    """A parsed ``oci://`` URL."""

    scheme: str  # "https" or "http"
    host: str
    port: int
    repository: str

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        plain = "+http" if self.scheme == "http" and not is_loopback(self.host) else ""
        return f"oci{plain}://{self.netloc}/{self.repository}"


def parse_url(url: str) -> CacheUrl:
    """Parse and check ``url``; raise :class:`CacheUrlError`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("oci", "oci+http", "oci+https"):
        raise CacheUrlError(url, "the scheme must be oci://")
    host = parts.hostname
    if not host:
        raise CacheUrlError(url, "no host")
    repository = parts.path.strip("/")
    if not _REPOSITORY.fullmatch(repository):
        raise CacheUrlError(
            url, f"{repository!r} is not a repository name (lower case, a-z0-9._-/)"
        )
    loopback = is_loopback(host)
    scheme = (
        "http" if parts.scheme == "oci+http" or (parts.scheme == "oci" and loopback) else "https"
    )
    if scheme == "http" and not loopback:
        raise CacheUrlError(url, "plain http is refused except to a loopback host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise CacheUrlError(url, str(e)) from e
    return CacheUrl(scheme, host, port, repository)


@dataclass(frozen=True)
class CacheSettings:
    """The binary cache of one command (``url`` None: none configured)."""

    url: CacheUrl | None
    require_signature: bool = False
    trusted_keys: tuple[Path, ...] = ()


def _table(cwd: Path) -> tuple[dict[str, Any], Path]:
    import tomllib

    path = cwd / CONFIG_FILE
    if not path.is_file():
        return {}, path
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    for table in (data.get("cache"), (data.get("mason") or {}).get("cache")):
        if isinstance(table, dict):
            return table, path
    return {}, path


def load_cache_settings(url: str | None = None, cwd: Path | None = None) -> CacheSettings:
    """The cache settings: ``url`` from the command line, the environment, ``mason.toml``."""
    cwd = cwd or Path.cwd()
    table, source = _table(cwd)
    raw = url or os.environ.get("MASON_CACHE_URL") or table.get("url")
    if raw is not None and not isinstance(raw, str):
        raise ConfigError(f"{source}: [cache] url must be a string")
    require = table.get("require_signature", False)
    if not isinstance(require, bool):
        raise ConfigError(f"{source}: [cache] require_signature must be true or false")
    keys = table.get("trusted_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{source}: [cache] trusted_keys must be a list of paths")
    trusted = tuple((source.parent / Path(k).expanduser()).absolute() for k in keys)
    return CacheSettings(parse_url(raw) if raw else None, require, trusted)
