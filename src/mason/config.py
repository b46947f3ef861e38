"""Where mason's settings come from: command line, environment, ``mason.toml``.

Precedence, highest first: a command-line option, the environment (``MASON_CATALOG``,
``MASON_PREFIX``, ``MASON_UPSTREAM``, ``MASON_CACHE``), ``mason.toml`` in the current
directory, defaults. ``MASON_CACHE=off`` (``cache = false`` in ``mason.toml``) turns the
user's cache (byte-code and unpacked wheels, shared by every prefix) off. The build
sandbox: ``--sandbox``, ``MASON_SANDBOX``, ``sandbox = "auto"|"require"|"off"``.
Relative paths in ``mason.toml`` are relative to the directory holding it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mason.errors import BadInput

CONFIG_FILE = "mason.toml"

#: Whether builds run in the sandbox (:mod:`mason.build.sandbox`): where it works, always,
#: never.
SandboxMode = Literal["auto", "require", "off"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("auto", "require", "off")


class ConfigError(BadInput):
    """``mason.toml`` cannot be read or has a bad value."""


class BadSandboxMode(BadInput):
    """A sandbox setting other than auto, require or off."""

    def __init__(self, value: str, source: str) -> None:
        super().__init__(
            f"{source}: the sandbox setting must be auto, require or off, not {value!r}",
            hint="auto sandboxes builds where bubblewrap works, require insists, off never does",
        )
        self.value = value


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one mason command."""

    catalog: Path | None
    prefix: Path
    upstream: Path | None = None
    mirrors: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    python: str | None = None
    venv: Path | None = None
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    cache: Path | None = None  # mason's cache shared by every prefix (None: no cache)
    sandbox: SandboxMode = "auto"  # builds in the sandbox (mason.build.sandbox)


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/mason``, or ``~/.cache/mason``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "mason"


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    section = data.get("mason", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [mason] must be a table")
    return section


def _path_value(raw: object, base: Path, key: str, source: Path) -> Path:
    if not isinstance(raw, str):
        raise ConfigError(f"{source}: '{key}' must be a string path")
    p = Path(raw).expanduser()
    return p if p.is_absolute() else base / p


def _str_list(raw: object, key: str, source: Path) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return tuple(raw)
    raise ConfigError(f"{source}: '{key}' must be a string or a list of strings")


def _sandbox_mode(cli: str | None, cfg: dict[str, Any], cfg_path: Path) -> SandboxMode:
    if cli:
        return parse_mode(cli, "--sandbox")
    if os.environ.get("MASON_SANDBOX"):
        return parse_mode(os.environ["MASON_SANDBOX"], "MASON_SANDBOX")
    if "sandbox" in cfg:
        return parse_mode(str(cfg["sandbox"]), f"{cfg_path}: 'sandbox'")
    return "auto"


def load_settings(
    *,
    catalog: str | None = None,
    prefix: str | None = None,
    upstream: str | None = None,
    mirrors: list[str] | None = None,
    python: str | None = None,
    venv: str | None = None,
    find_links: list[str] | None = None,
    index_url: str | None = None,
    sandbox: str | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Combine the command line, the environment and ``mason.toml`` into settings."""
    cwd = cwd or Path.cwd()
    cfg_path = cwd / CONFIG_FILE
    cfg: dict[str, Any] = _read_toml(cfg_path) if cfg_path.is_file() else {}

    def pick_path(cli: str | None, env: str, key: str) -> Path | None:
        if cli:
            return Path(cli).expanduser().absolute()
        if os.environ.get(env):
            return Path(os.environ[env]).expanduser().absolute()
        if key in cfg:
            return _path_value(cfg[key], cwd, key, cfg_path).absolute()
        return None

    cat = pick_path(catalog, "MASON_CATALOG", "catalog")
    pre = pick_path(prefix, "MASON_PREFIX", "prefix") or (cwd / "local").absolute()
    up = pick_path(upstream, "MASON_UPSTREAM", "upstream")
    mir: tuple[str, ...] = tuple(mirrors) if mirrors else ()
    if not mir and "mirrors" in cfg:
        mir = _str_list(cfg["mirrors"], "mirrors", cfg_path)
    fl: tuple[str, ...] = tuple(find_links) if find_links else ()
    if not fl and "find_links" in cfg:
        fl = _str_list(cfg["find_links"], "find_links", cfg_path)
    variables = cfg.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise ConfigError(f"{cfg_path}: [mason.variables] must map names to strings")
    py = python or (cfg.get("python") if isinstance(cfg.get("python"), str) else None)
    venv_path = pick_path(venv, "MASON_VENV", "venv")
    idx = index_url or (cfg.get("index_url") if isinstance(cfg.get("index_url"), str) else None)
    off = os.environ.get("MASON_CACHE") == "off" or cfg.get("cache") is False
    # a [cache] table is the binary cache's (mason.binarycache.settings), not this path
    cache_key = "" if isinstance(cfg.get("cache"), dict) else "cache"
    cache = None if off else pick_path(None, "MASON_CACHE", cache_key) or default_cache()
    return Settings(
        sandbox=_sandbox_mode(sandbox, cfg, cfg_path),
        catalog=cat,
        prefix=pre,
        upstream=up,
        mirrors=mir,
        variables=dict(variables),
        python=py,
        venv=venv_path,
        find_links=fl,
        index_url=idx,
        cache=cache,
    )


def parse_mode(value: str, source: str) -> SandboxMode:
    """``value`` as a :data:`SandboxMode`; :class:`BadSandboxMode` naming ``source``."""
    for mode in SANDBOX_MODES:
        if value == mode:
            return mode
    raise BadSandboxMode(value, source)
