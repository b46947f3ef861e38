"""The artifacts kept in the user's cache: ``$MASON_CACHE/binary/``.

``blobs/sha256/<hex>`` holds blobs by digest (layers, configs, manifests), written to a
temporary name, fsync'd and renamed, so a blob under its name is always whole;
``tags/<tag>`` names the manifest digest of an artifact built here (what ``mason cache
push`` sends). Reading a blob checks its digest: a damaged file is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mason.binarycache.errors import CacheError
from mason.store.staged import sha256_file

SUBDIR = "binary"


class BadDigest(CacheError):
    """A blob's content does not have the digest it is stored or served under."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what}: digest mismatch: expected {expected}, got {actual}")


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise CacheError(f"unsupported or malformed digest {digest!r} (mason uses sha256)")
    return value


class LocalStore:
    """Content-addressed blobs and the tags of locally built artifacts."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / SUBDIR

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def new_blob(self) -> tuple[int, Path]:
        """A temporary file beside the blobs (same filesystem), for :meth:`commit_blob`."""
        directory = self.root / "blobs" / "sha256"
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        return fd, Path(name)

    def commit_blob(self, tmp: Path, digest: str) -> Path:
        """Move the finished temporary ``tmp`` (content already checked) to its name."""
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        target = self.blob_path(digest)
        os.replace(tmp, target)
        return target

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its digest."""
        digest = sha256_digest(data)
        if not self.has_blob(digest):
            fd, tmp = self.new_blob()
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self.commit_blob(tmp, digest)
        return digest

    def read_bytes(self, digest: str) -> bytes:
        """The blob ``digest``, checked (raise :class:`BadDigest` if damaged)."""
        data = self.blob_path(digest).read_bytes()
        actual = sha256_digest(data)
        if actual != digest:
            raise BadDigest(f"cached blob {self.blob_path(digest)}", digest, actual)
        return data

    def check_file(self, digest: str) -> Path:
        """The path of blob ``digest`` after checking its content in full."""
        path = self.blob_path(digest)
        actual = "sha256:" + sha256_file(path)
        if actual != digest:
            raise BadDigest(f"cached blob {path}", digest, actual)
        return path

    def set_tag(self, tag: str, digest: str) -> None:
        directory = self.root / "tags"
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{tag}.{os.getpid()}"
        tmp.write_text(digest + "\n")
        os.replace(tmp, directory / tag)

    def tag(self, tag: str) -> str | None:
        try:
            return (self.root / "tags" / tag).read_text().strip()
        except OSError:
            return None

    def tags(self) -> Iterator[tuple[str, str]]:
        """Every local tag and its manifest digest, by name."""
        directory = self.root / "tags"
        if not directory.is_dir():
            return
        for path in sorted(directory.iterdir()):
            if not path.name.startswith("."):
                yield path.name, path.read_text().strip()
