"""A source file as a recipe's ``checksums.ini`` describes it, and checking a file against it.

Checksum policy:

* every ``sha256`` / ``sha1`` the recipe gives must match (sha256 is preferred; SageMath
  catalogs up to 9.8 only carry sha1);
* with neither, ``md5`` and ``cksum`` (POSIX ``cksum`` CRC) are checked instead and the
  file is accepted with a ``weak`` warning;
* with no checksum at all the source is refused (:class:`MissingChecksum`): sources
  without a matching checksum are never built.

Whatever the recipe gives, the file's actual sha256 is computed too, so every mismatch
message can tell the user the line to put into ``checksums.ini``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mason.catalog.model import Checksums
from mason.errors import BadInput

_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceSpec:
    """One upstream source file of a package: its ``checksums.ini`` (the catalog's
    :class:`~mason.catalog.Checksums`, ``tarball`` and ``upstream_url`` with ``VERSION``
    already substituted) and whose it is."""

    package: str
    version: str
    checksums: Checksums

    @property
    def filename(self) -> str:
        """The tarball's file name (empty when ``checksums.ini`` names none)."""
        return self.checksums.tarball or ""

    @property
    def upstream_url(self) -> str | None:
        return self.checksums.upstream_url


class ChecksumMismatch(BadInput):
    """A file's content does not match the recipe's checksum; ``sha256`` is its actual one."""

    def __init__(
        self, package: str, file: Path, algorithm: str, expected: str, actual: str, sha256: str
    ):
        self.package = package
        self.file = file
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.sha256 = sha256
        super().__init__(
            f"{package}: {file.name}: {algorithm} mismatch: expected {expected}, got {actual}",
            hint=f"the file is not the one build/pkgs/{package}/checksums.ini describes; "
            f"fetch it again, or if it is the right file run `mason fix-checksum {package}`",
        )


class MissingChecksum(BadInput):
    """The recipe gives no checksum at all, so its source can never be trusted."""

    def __init__(self, package: str, filename: str):
        self.package = package
        self.filename = filename
        super().__init__(
            f"{package}: checksums.ini gives no sha256, sha1, md5 or cksum for {filename}",
            hint=f"add sha256=... to {package}/checksums.ini",
        )


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Cksum:
    """POSIX ``cksum``: CRC-32 (polynomial 0x04C11DB7, MSB first) over data then length."""

    _TABLE: tuple[int, ...] = ()

    def __init__(self) -> None:
        if not _Cksum._TABLE:
            _Cksum._TABLE = tuple(_cksum_entry(i) for i in range(256))
        self._crc = 0
        self._length = 0

    def update(self, data: bytes, /) -> None:
        crc, table = self._crc, self._TABLE
        for byte in data:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
        self._crc = crc
        self._length += len(data)

    def hexdigest(self) -> str:
        """The decimal CRC, as ``cksum`` prints it and ``checksums.ini`` stores it."""
        crc, n, table = self._crc, self._length, self._TABLE
        while n:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ (n & 0xFF)]
            n >>= 8
        return str(~crc & 0xFFFFFFFF)


def _cksum_entry(i: int) -> int:
    crc = i << 24
    for _ in range(8):
        crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
    return crc & 0xFFFFFFFF


def expected(spec: SourceSpec) -> dict[str, str]:
    """The checksums to check: sha256/sha1 if any, else the weak md5/cksum."""
    sums = spec.checksums
    strong = {k: v for k, v in (("sha256", sums.sha256), ("sha1", sums.sha1)) if v}
    if strong:
        return {k: v.strip().lower() for k, v in strong.items()}
    weak = {k: v for k, v in (("md5", sums.md5), ("cksum", sums.cksum)) if v}
    if not weak:
        raise MissingChecksum(spec.package, spec.filename)
    return {k: v.strip().lower() for k, v in weak.items()}


def is_weak(spec: SourceSpec) -> bool:
    """True when only md5/cksum vouch for the source (accepted, with a warning)."""
    return not (spec.checksums.sha256 or spec.checksums.sha1)


def hashers(algorithms: Sequence[str]) -> dict[str, Hasher]:
    """One running hash per algorithm, plus sha256 always (for the messages)."""
    names = dict.fromkeys([*algorithms, "sha256"])
    return {a: (_Cksum() if a == "cksum" else hashlib.new(a)) for a in names}


def check(spec: SourceSpec, file: Path, wanted: dict[str, str], running: dict[str, Hasher]) -> None:
    """Raise :class:`ChecksumMismatch` unless every ``wanted`` digest matches."""
    for algorithm, want in wanted.items():
        got = running[algorithm].hexdigest()
        if got != want:
            sha256 = running["sha256"].hexdigest()
            raise ChecksumMismatch(spec.package, file, algorithm, want, got, sha256)


def verify(path: Path, spec: SourceSpec) -> None:
    """Check ``path`` against the checksums of ``spec``.

    Raises :class:`ChecksumMismatch` naming the package, the file and both digests,
    or :class:`MissingChecksum` if the recipe gives none.
    """
    wanted = expected(spec)
    running = hashers(list(wanted))
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            for h in running.values():
                h.update(chunk)
    check(spec, path, wanted, running)
