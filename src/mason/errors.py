"""mason's exception hierarchy.

Every error mason raises derives from :class:`MasonError`. Errors caused by bad input
(a broken catalog, a bad argument, a hostile archive) also derive from ``ValueError``
through :class:`BadInput`; the CLI maps them to exit status 2. Each error builds its own
message from typed fields, and may carry a ``hint`` telling the user what to do.
"""

from __future__ import annotations

#: The exit status of a command that met a bug in mason (an exception that is not a
#: :class:`MasonError`): distinct from 1, a package failed, and 2, bad input.
INTERNAL_ERROR_EXIT = 3


class MasonError(Exception):
    """Base of every error mason raises on purpose."""

    exit_code: int = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self)


class BadInput(MasonError, ValueError):
    """The user's input (catalog, arguments, archives, staged trees) is wrong.

    The prefix is left exactly as it was.
    """

    exit_code = 2


class UsageError(BadInput):
    """A command line that cannot be acted on."""


class PackageFailed(MasonError):
    """One or more packages failed to build or install (exit status 1)."""
