"""The first line of a ``dependencies`` file, the way SageMath's Makefile reads it.

``a b $(PYTHON) | c $(PYTHON_TOOLCHAIN)``: tokens before ``|`` are normal dependencies,
after it order-only ones. ``#`` starts a comment. ``$(NAME)`` expands from the catalog's
variables into one or more words; ``FORCE`` means always rebuild; a word with a ``/``, or
a reference nobody defines (``$(SCRIPTS)``), is a file dependency;
``$(findstring X,$(OPTIONAL_INSTALLED_PACKAGES))`` (or ``filter``) names a conditional
dependency, used only when X is selected or installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_REF = re.compile(r"\$[({]([A-Za-z0-9_.-]+)[)}]")
_CALL = re.compile(r"^\$\((findstring|filter)\s+([^,]*),\s*(.*)\)$", re.S)
_INSTALLED_LISTS = frozenset(
    {"$(OPTIONAL_INSTALLED_PACKAGES)", "$(SAGE_OPTIONAL_INSTALLED_PACKAGES)"}
)
_MAX_DEPTH = 20
_UNBALANCED = "\0unbalanced"


@dataclass
class DepLine:
    """What one dependency line says; ``problems`` are messages about the line."""

    normal: list[str] = field(default_factory=list)
    order_only: list[str] = field(default_factory=list)
    conditional: list[str] = field(default_factory=list)
    conditional_order_only: list[str] = field(default_factory=list)
    file_deps: list[str] = field(default_factory=list)
    force: bool = False
    problems: list[str] = field(default_factory=list)


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Replace the known ``$(NAME)`` references; leave the others as written."""
    return _REF.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def resolve_variables(raw: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Expand references between variables; report loops and runaway nesting."""
    resolved: dict[str, str] = {}
    problems: list[str] = []
    for name, value in raw.items():
        for _ in range(_MAX_DEPTH):
            nxt = expand(value, raw)
            if nxt == value:
                break
            value = nxt
        else:
            problems.append(f"variable {name} refers to itself")
        resolved[name] = value
    return resolved, problems


def split_tokens(line: str) -> list[str]:
    """Words of a make line: whitespace and ``|`` split, except inside ``$(...)``."""
    tokens: list[str] = []
    word: list[str] = []
    depth = 0
    for i, ch in enumerate(line):
        opens_reference = ch in "({" and (depth > 0 or line[i - 1 : i] == "$")
        if opens_reference:
            depth += 1
        elif ch in ")}" and depth:
            depth -= 1
        elif depth == 0 and (ch.isspace() or ch == "|"):
            if word:
                tokens.append("".join(word))
                word = []
            if ch == "|":
                tokens.append("|")
            continue
        word.append(ch)
    if word:
        tokens.append("".join(word))
    if depth:
        tokens.append(_UNBALANCED)
    return tokens


def _call(token: str, variables: Mapping[str, str], out: DepLine, after_bar: bool) -> None:
    m = _CALL.match(token)
    if not m:
        out.problems.append(
            f"unsupported make function {token!r} (mason knows findstring "
            "and filter over $(OPTIONAL_INSTALLED_PACKAGES))"
        )
        return
    if m.group(3).strip() not in _INSTALLED_LISTS:
        out.problems.append(
            f"{token!r}: mason only understands {m.group(1)} over $(OPTIONAL_INSTALLED_PACKAGES)"
        )
        return
    names = expand(m.group(2), variables).split()
    (out.conditional_order_only if after_bar else out.conditional).extend(names)


def _word(word: str, out: DepLine, after_bar: bool) -> None:
    if word == "FORCE":
        out.force = True
    elif "/" in word or "$" in word:
        if not after_bar:  # an order-only file only has to exist; mason cannot make it
            out.file_deps.append(word)
    else:
        (out.order_only if after_bar else out.normal).append(word)


def parse_dependency_line(line: str, variables: Mapping[str, str]) -> DepLine:
    """Parse the first line of a dependencies file (comment not yet removed)."""
    out = DepLine()
    after_bar = False
    for token in split_tokens(line.split("#", 1)[0]):
        if token == "|":
            if after_bar:
                out.problems.append("more than one '|' (order-only separator)")
            after_bar = True
        elif token == _UNBALANCED:
            out.problems.append("unbalanced parentheses in a $(...) reference")
        elif token.startswith("$(") and any(c in token for c in " \t,"):
            _call(token, variables, out, after_bar)
        else:
            for word in expand(token, variables).split():
                _word(word, out, after_bar)
    return out
