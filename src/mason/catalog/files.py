"""Parsers for the small metadata files of a recipe; each returns its problems.

A problem is ``(line, message)``; ``line`` is 1-based or ``None`` for the whole file.
Nothing here touches the disk.
"""

from __future__ import annotations

import re

from mason.catalog.model import TYPES, Checksums, PkgType, Tree

LineProblem = tuple[int | None, str]

VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")
_PATCH_LEVEL = re.compile(r"(?P<upstream>.+)\.p(?P<level>[0-9]+)")
_HEX_LENGTHS = {"sha256": 64, "sha1": 40, "md5": 32}
_CHECKSUM_KEYS = ("tarball", "sha256", "sha1", "md5", "cksum", "upstream_url")
_TREES: dict[str, Tree] = {
    "SAGE_LOCAL": "prefix",
    "SAGE_VENV": "venv",
    "SAGE_DOCS": "prefix",
    "prefix": "prefix",
    "venv": "venv",
}


def decode(data: bytes) -> tuple[str | None, LineProblem | None]:
    """UTF-8 text, or the line of the first undecodable byte."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return None, (line, f"not UTF-8: undecodable byte 0x{data[e.start]:02x}")


def first_line(text: str) -> str:
    """The first line, the only one SageMath reads in dependency files."""
    return text.split("\n", 1)[0].rstrip("\r")


def meaningful_lines(text: str) -> list[str]:
    """Stripped lines that are neither empty nor ``#`` comments."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def parse_version(text: str) -> tuple[str, str, int | None, list[LineProblem]]:
    """``1.2.11.p0`` -> version, upstream ``1.2.11``, patch level 0 (SageMath's rule)."""
    version = text.strip()
    if not version:
        return version, version, None, [(1, "empty version")]
    if not VERSION_RE.fullmatch(version):
        bad = "whitespace" if any(c.isspace() for c in version) else "characters"
        shown = version if "\n" not in version else version.replace("\n", "\\n")
        return (
            version,
            version,
            None,
            [(1, f"bad version {shown!r}: contains {bad} outside [A-Za-z0-9._+~-]")],
        )
    m = _PATCH_LEVEL.fullmatch(version)
    if m:
        return version, m["upstream"], int(m["level"]), []
    return version, version, None, []


def parse_type(text: str) -> tuple[PkgType | None, list[LineProblem]]:
    """``standard`` and friends; whitespace around it (or no newline) is fine."""
    value = text.strip()
    if not value:
        return None, [(1, f"empty type (write one of: {', '.join(TYPES)})")]
    if value not in TYPES:
        return None, [(1, f"unknown type {value!r} (expected one of: {', '.join(TYPES)})")]
    return value, []


def parse_tree(text: str) -> tuple[Tree | None, list[LineProblem]]:
    """``trees.txt``: SAGE_LOCAL/prefix, SAGE_VENV/venv; SAGE_DOCS goes to the prefix."""
    words = " ".join(meaningful_lines(text)).split()
    if len(words) != 1 or words[0] not in _TREES:
        return None, [(1, f"unknown tree {' '.join(words)!r} (expected SAGE_LOCAL or SAGE_VENV)")]
    return _TREES[words[0]], []


def _ini_pairs(text: str) -> tuple[list[tuple[int, str, str]], list[LineProblem]]:
    pairs: list[tuple[int, str, str]] = []
    problems: list[LineProblem] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or (line.startswith("[") and line.endswith("]")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            problems.append((number, f"malformed line {raw!r} (expected key=value)"))
            continue
        pairs.append((number, key.strip(), value.strip()))
    return pairs, problems


def _check_digest(key: str, value: str) -> str | None:
    if key in _HEX_LENGTHS:
        n = _HEX_LENGTHS[key]
        if len(value) != n or not all(c in "0123456789abcdefABCDEF" for c in value):
            return f"{key}= must be {n} hexadecimal digits, not {value!r}"
    if key == "cksum" and not value.isdigit():
        return f"cksum= must be a number, not {value!r}"
    return None


def parse_checksums(text: str, upstream_version: str | None) -> tuple[Checksums, list[LineProblem]]:
    """``checksums.ini``; VERSION in ``tarball``/``upstream_url`` becomes the upstream version.

    Without a version (``None``) VERSION stays; the caller reports the missing version.
    """
    pairs, problems = _ini_pairs(text)
    values: dict[str, str] = {}
    for number, key, value in pairs:
        if key not in _CHECKSUM_KEYS:
            continue  # unknown keys are tolerated, as SageMath's tools do
        bad = _check_digest(key, value)
        if bad:
            problems.append((number, bad))
        values[key] = value
    if "tarball" not in values:
        problems.append((None, "no tarball= line (a recipe without sources has no checksums.ini)"))
    elif not ({"sha256", "sha1"} & values.keys()):
        problems.append((None, "no sha256= or sha1= line: the tarball could never be verified"))
    for key in ("tarball", "upstream_url"):
        if key in values and upstream_version is not None:
            values[key] = values[key].replace("VERSION", upstream_version)
    return Checksums(**{k: values.get(k) for k in _CHECKSUM_KEYS}), problems


def parse_variables(text: str) -> tuple[dict[str, str], list[LineProblem]]:
    """``variables.ini``: ``NAME = value`` lines, optionally under a ``[variables]`` header."""
    pairs, problems = _ini_pairs(text)
    return {key: value for _, key, value in pairs}, problems


def summary(text: str) -> str:
    """The first non-empty line of ``SPKG.rst``."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
