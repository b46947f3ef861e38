"""POSIX ``cksum`` (the weakest checksum ``checksums.ini`` may give), hashlib-like."""

from __future__ import annotations

from typing import Protocol


class Hasher(Protocol):
    """What hashlib's objects and :class:`Cksum` have in common."""

    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class Cksum:
    """POSIX ``cksum``: CRC-32 (polynomial 0x04C11DB7, MSB first) over data then length."""

    _TABLE: tuple[int, ...] = ()

    def __init__(self) -> None:
        if not Cksum._TABLE:
            Cksum._TABLE = tuple(_entry(i) for i in range(256))
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


def _entry(i: int) -> int:
    crc = i << 24
    for _ in range(8):
        crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
    return crc & 0xFFFFFFFF
