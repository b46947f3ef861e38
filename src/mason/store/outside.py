"""What a record says about a package another installer (pip) changed, or installed.

Two cases, both found by reconciling the records with the venv's ``*.dist-info``
(:mod:`mason.python.reconcile`):

- a mason package whose distribution pip replaced or removed: ``was`` is the version
  mason installed (the record keeps it as its version), ``now`` what is there now
  (``None``: removed);
- an **external** package, one mason never installed (record kind ``external``):
  ``was`` is ``None``, the record's version is ``now``.

The record then claims what is there now: the files the current distribution's ``RECORD``
lists, and those of its own that are still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

EXTERNAL = "external"


class OutsideJSON(TypedDict):
    installer: str | None
    was: str | None
    now: str | None
    dist_info: str | None


@dataclass(frozen=True)
class Outside:
    """``installer`` put version ``now`` (dist-info ``dist_info``, relative to the store)
    where mason had installed ``was``."""

    installer: str | None
    was: str | None
    now: str | None
    dist_info: str | None = None

    @property
    def external(self) -> bool:
        """Whether mason never installed this package."""
        return self.was is None

    def note(self, name: str) -> str:
        """``six: pip replaced 1.17.0 with 1.16.0`` and the like."""
        return f"{name}: {self.describe()}"

    def describe(self) -> str:
        """What happened, without the package's name."""
        who = self.installer or "another installer"
        if self.was is None:
            if self.now is None:
                return "removed outside mason"
            return f"external: installed by {who}"
        if self.now is None:
            return f"{self.was} removed outside mason"
        if self.now == self.was:
            return f"{who} reinstalled {self.was}"
        return f"{who} replaced {self.was} with {self.now}"

    def to_json(self) -> OutsideJSON:
        return {
            "installer": self.installer,
            "was": self.was,
            "now": self.now,
            "dist_info": self.dist_info,
        }

    @classmethod
    def from_json(cls, data: OutsideJSON) -> Outside:
        return cls(data["installer"], data["was"], data["now"], data["dist_info"])
