"""Requirement files (``requirements.txt``, ``install-requires.txt``, ...) as pip reads them.

Each line is a PEP 508 requirement (checked with ``packaging.requirements``, markers
included: pip evaluates them) or a URL (``git+https://...#egg=name``, which PEP 508 does
not cover). ``#`` starts a comment at the start of a line or after whitespace, a trailing
``\\`` joins the next line, and ``-r FILE`` / ``--requirement FILE`` includes another file
relative to the including one. Every other pip option is refused: a recipe's requirement
line must never become an option of pip (``--dest=/elsewhere`` would write there).
Nothing here touches the disk; includes are read through the caller's ``read``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: ``rel -> text`` of a file next to the first one, or None when there is none.
Reader = Callable[[str], str | None]

_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDE = re.compile(r"(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^\s=-]))(?P<file>\S.*)")


@dataclass(frozen=True)
class RequirementProblem:
    """Line ``line`` of ``file`` (relative to the first file's directory) is not usable."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class RequirementLines:
    """The requirements of a file and its includes, in order, and what was wrong."""

    requirements: list[str] = field(default_factory=list)
    problems: list[RequirementProblem] = field(default_factory=list)


def parse_requirements(
    text: str, file: str, read: Reader | None = None, *, strict: bool = True
) -> RequirementLines:
    """The requirement lines of ``text`` (the file ``file``) and of what it includes.

    Without ``read``, an include is a problem. Not ``strict``, a line that is neither a
    requirement nor a URL is kept as it is (SageMath's ``install-requires.txt`` files,
    which nothing hands to pip, hold some such as ``pandoc_attributes >=8bc82f6d``).
    """
    out = RequirementLines()
    _parse(text, file, _Context(read, strict), (file,), out)
    return out


@dataclass(frozen=True)
class _Context:
    read: Reader | None
    strict: bool


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """``(first line number, line)`` with continuations joined and comments removed."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if line:
            lines.append((start, line))
    if pending.strip():
        lines.append((start, _COMMENT.sub("", pending).strip()))
    return lines


def _parse(
    text: str, file: str, context: _Context, stack: tuple[str, ...], out: RequirementLines
) -> None:
    for number, line in _logical_lines(text):
        include = _INCLUDE.fullmatch(line)
        if include is not None:
            _include(include["file"].strip(), file, number, context, stack, out)
        elif line.startswith("-"):
            out.problems.append(
                RequirementProblem(file, number, f"{line!r} is a pip option, not a requirement")
            )
        elif not context.strict or _is_requirement(line):
            out.requirements.append(line)
        else:
            message = f"{line!r} is neither a PEP 508 requirement nor a URL"
            out.problems.append(RequirementProblem(file, number, message))


def _is_requirement(line: str) -> bool:
    # imported here: a catalog without requirement files never needs it (20 ms of a start)
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(line)
    except InvalidRequirement:
        return "://" in line.split()[0]  # a URL pip takes (``git+https://...#egg=x``)
    return True


def _include(
    name: str,
    file: str,
    number: int,
    context: _Context,
    stack: tuple[str, ...],
    out: RequirementLines,
) -> None:
    rel = posixpath.normpath(posixpath.join(posixpath.dirname(file), name))
    read, text = context.read, None
    if read is None:
        message = "-r includes are not read here"
    elif posixpath.isabs(rel) or rel.split("/")[0] == "..":
        message = f"-r {name}: includes stay inside the recipe"
    elif rel in stack:
        message = f"-r {name}: includes itself ({' -> '.join((*stack, rel))})"
    elif (text := read(rel)) is None:
        message = f"-r {name}: no such file"
    if text is None:
        out.problems.append(RequirementProblem(file, number, message))
        return
    _parse(text, rel, context, (*stack, rel), out)
