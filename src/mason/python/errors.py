"""Errors of mason's Python side: venvs, wheels and pip.

Each error keeps typed fields and builds its message from them. They pickle (the fields are
the constructor's arguments), so a wheel staged in a worker process reports the same error
as one staged in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mason.errors import BadInput, MasonError


def _bullets(lines: Sequence[str]) -> str:
    return "".join(f"\n  - {line}" for line in lines)


class VenvError(MasonError):
    """The venv cannot be created or inspected."""

    def __init__(self, venv: Path, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"venv {venv}: {reason}", hint=hint)
        self.venv = venv
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.venv, self.reason), {"hint": self.hint}))


class BadWheel(BadInput):
    """A wheel that must not be installed: broken RECORD, paths escaping the venv, ..."""

    def __init__(self, wheel: Path, problems: Sequence[str]) -> None:
        super().__init__(
            f"wheel {wheel.name} cannot be installed ({wheel}):{_bullets(problems)}",
            hint="download or build the wheel again, for this venv's Python",
        )
        self.wheel = wheel
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.wheel, self.problems), {}))


class StagingWriteFailed(MasonError):
    """Writing into the staging tree failed (disk full, permissions): not the wheel's fault."""

    def __init__(self, wheel: Path, reason: str) -> None:
        super().__init__(
            f"staging wheel {wheel.name} failed: {reason}",
            hint="check the space and permissions of the staging directory",
        )
        self.wheel = wheel
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.wheel, self.reason), {}))


class BadRequirement(BadInput):
    """Requirement strings pip would take for its own options (``--dest=/elsewhere``)."""

    def __init__(self, requirements: Sequence[str]) -> None:
        super().__init__(
            "not requirements but pip options: " + ", ".join(map(repr, requirements)),
            hint="requirements.txt lists one PEP 508 requirement or URL per line, no options",
        )
        self.requirements = tuple(requirements)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.requirements,), {}))


class BadRequirementsFile(BadInput):
    """A requirements file has lines pip must not be given (options, invalid lines)."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        super().__init__(
            f"{path}: not usable as requirements (pip options are refused):{_bullets(problems)}",
            hint="write one PEP 508 requirement or URL per line; -r FILE includes another file",
        )
        self.path = path
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.path, self.problems), {}))


class PipFailed(MasonError):
    """A pip command failed; ``output`` holds the end of what it printed."""

    def __init__(self, what: str, command: Sequence[str], returncode: int, output: str) -> None:
        tail = "\n".join(output.rstrip().splitlines()[-20:])
        super().__init__(
            f"{what}: pip exited with status {returncode}\n  command: {' '.join(command)}\n{tail}",
        )
        self.what = what
        self.command = tuple(command)
        self.returncode = returncode
        self.output = output

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.what, self.command, self.returncode, self.output)
        return (_rebuild, (type(self), args, {}))


class WrongWheelCount(MasonError):
    """A build produced no wheel, or more than one, where exactly one was expected."""

    def __init__(self, source: Path, wheels: Sequence[str]) -> None:
        found = ", ".join(wheels) if wheels else "none"
        super().__init__(
            f"building {source} must give exactly one wheel; it gave {len(wheels)}: {found}",
            hint="sdh_pip_install builds one project per call",
        )
        self.source = source
        self.wheels = tuple(wheels)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.source, self.wheels), {}))


def _rebuild(cls: type[MasonError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> MasonError:
    return cls(*args, **kwargs)
