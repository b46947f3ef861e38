"""A byte-code cache shared by every prefix of a user: a source is compiled once, ever.

Byte-compiling is most of the cost of installing wheels (sympy alone has 1,500 sources).
Rebuilding a prefix, or building a second one, installs the same sources again in wheels
rebuilt from them (``sdh_pip_install``, ``pip`` packages: a new wheel, the same modules);
their ``.pyc`` files come from here instead of the compiler, as hard links when the cache
is on the prefix's filesystem (linking costs a fraction of creating and writing a file).
A wheel the catalog fixes by its sha256 is not kept here: its unpacked entry
(:mod:`mason.python.unpacked`) holds its byte-code already.

An entry is keyed by the interpreter's magic number, the name compiled into the code
(the source's path relative to the venv root, the same in every prefix) and the sha256 of
the source, so a hit is byte for byte what compiling would give. Entries are written
atomically (temporary file, then rename); a reader checks the header (magic number and
checked-hash flag) before using an entry, and compiles again when it does not check out.
The header also holds the SipHash of the source: should an entry ever not match its
source, the importer notices and compiles the source itself. The cache is best effort: a
cache that cannot be read or written never fails an install.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

#: Flags of a hash-based ``.pyc`` whose hash the importer checks (PEP 552).
_CHECKED_HASH = (0b11).to_bytes(4, "little")
_HEADER_SIZE = 16  # magic, flags, SipHash of the source
#: Shard directories this process made or found (one ``mkdir`` each, not one per entry).
_MADE: set[str] = set()


@dataclass(frozen=True)
class BytecodeCache:
    """Cached ``.pyc`` files of the running interpreter, under ``root``."""

    root: Path

    @property
    def directory(self) -> Path:
        """Where this interpreter's entries live (``cpython-311-a70d0d0a``)."""
        tag = sys.implementation.cache_tag
        return self.root / f"{tag}-{importlib.util.MAGIC_NUMBER.hex()}"

    def entry(self, dfile: str, digest: str) -> Path:
        """The cache file of the source whose sha256 is ``digest``, compiled as ``dfile``."""
        key = hashlib.sha256(f"{dfile}\0{digest}".encode()).hexdigest()
        return self.directory / key[:2] / f"{key[2:]}.pyc"

    def load(self, dfile: str, digest: str) -> bytes | None:
        """The cached byte-code (``None``: not cached, or not a checked-hash ``.pyc`` of
        this interpreter)."""
        try:
            with open(self.entry(dfile, digest), "rb") as f:
                data = f.read()
        except OSError:
            return None
        header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH
        return data if data.startswith(header) and len(data) > _HEADER_SIZE else None

    def keep(self, dfile: str, digest: str, pyc: Path) -> None:
        """Keep ``pyc``, the byte-code of the source whose sha256 is ``digest``: linked
        (the ``.pyc`` files mason writes are never changed in place; a link appears whole,
        so no temporary name is needed), or copied when the cache is on another
        filesystem. An entry there already was not usable (else there would have been no
        compiling): it is replaced. Errors are ignored."""
        path = self.entry(dfile, digest)
        parent = str(path.parent)
        try:
            if parent not in _MADE:
                os.makedirs(parent, exist_ok=True)
                _MADE.add(parent)
            os.link(pyc, path)
        except OSError:
            self._replace(pyc, path)

    @staticmethod
    def _replace(pyc: Path, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            try:
                os.link(pyc, tmp)
            except OSError:
                shutil.copyfile(pyc, tmp)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def link_out(self, dfile: str, digest: str, target: str | Path) -> bool:
        """Link the cached byte-code to ``target`` (replacing a file there); False when
        that is impossible (another filesystem): the caller writes it instead."""
        path = self.entry(dfile, digest)
        try:
            os.link(path, target)
        except FileExistsError:
            os.unlink(target)
            return self.link_out(dfile, digest, target)
        except OSError:
            return False
        return True
