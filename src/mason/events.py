"""What a long-running operation tells its caller while it works.

The library never prints; it calls an ``on_event`` callback with these values, and the
CLI turns them into lines or a live display.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal[
    "planned",  # the run knows its packages (message: the count)
    "slots",  # how many packages hold a build slot from now on (message: the count)
    "started",
    "waiting",  # another mason run is building it (message: who)
    "fetching",
    "building",
    "checking",
    "merging",
    "done",
    "failed",
    "skipped",
    "warning",
]


@dataclass(frozen=True)
class Event:
    """One step of one package (``package`` is empty for run-wide events)."""

    phase: Phase
    package: str = ""
    version: str = ""
    message: str = ""
    time: float = field(default_factory=time.time)

    @property
    def label(self) -> str:
        """``name-version`` as the per-line output prefixes it."""
        return f"{self.package}-{self.version}" if self.version else self.package


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An event sink that drops everything."""
