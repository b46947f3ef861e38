"""Registry credentials and ``WWW-Authenticate`` challenges (Basic and Bearer tokens).

Credentials, first found wins: ``MASON_CACHE_USERNAME`` + ``MASON_CACHE_PASSWORD``, then
``~/.docker/config.json`` (``auths["HOST:PORT"].auth``, base64 ``user:password``, as
``docker login`` writes it; credential helpers are not run). A Bearer challenge is
answered by asking its realm for a token (with the credentials as Basic auth, when
there are any); a Basic challenge by the credentials. The realm must be https, or plain
http on a loopback host, like the registry itself.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` header."""

    scheme: str  # lower case: "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def _docker_config(netloc: str, host: str) -> Credentials | None:
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        auths = json.loads(path.read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(auths, dict):
        return None
    for name in (netloc, host, f"https://{netloc}", f"http://{netloc}"):
        entry = auths.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError:
                return None
            return Credentials(user, password)
    return None


def find_credentials(netloc: str, host: str) -> Credentials | None:
    """The credentials for the registry at ``netloc`` (``HOST:PORT``), if any."""
    user = os.environ.get("MASON_CACHE_USERNAME")
    if user:
        return Credentials(user, os.environ.get("MASON_CACHE_PASSWORD", ""))
    return _docker_config(netloc, host)
