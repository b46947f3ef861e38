"""An install's binary cache options (``--cache``, ``--cache-url``, ``--push``).

Apart from :mod:`mason.binarycache.session`, which needs the registry client: every
``mason install`` reads these to learn whether it uses a cache at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mason.binarycache.settings import CacheSettings

Mode = Literal["auto", "only", "never"]
MODES: tuple[Mode, ...] = ("auto", "only", "never")


@dataclass(frozen=True)
class CacheOptions:
    """The install's cache options (``--cache``, ``--cache-url``, ``--push``)."""

    settings: CacheSettings
    mode: Mode = "auto"
    push: bool = False
    local: Path | None = None  # the user's cache directory (None: artifacts in a temporary one)

    @property
    def pulls(self) -> bool:
        return self.mode != "never" and self.settings.url is not None

    @property
    def makes_artifacts(self) -> bool:
        return self.settings.url is not None or self.push
