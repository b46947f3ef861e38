"""An ``installer`` destination that writes a wheel into a staging tree.

Paths are laid out for the FINAL venv (shebangs name the venv's python, RECORD is relative
to site-packages as pip writes it) while the bytes go to ``staged_root``, which stands for
``tree_root`` (the venv root unless the store merges relative to some directory above
it). Nothing is ever overwritten: every file is created with ``O_EXCL``, and hashed as it
is written (the digests go to the store's scan). The files that name the venv's location
(:class:`LocatedScript`) are remembered, so that a cached copy can be remade elsewhere.
"""

from __future__ import annotations

import base64
import io
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from installer.destinations import WheelDestination
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.utils import Scheme, construct_record_file, copyfileobj_with_hashing, fix_shebang

from mason.python.bytecode import pyc_name
from mason.python.compilepool import CompilePool
from mason.python.compilestream import CompileStream
from mason.python.errors import BadWheel, StagingWriteFailed, VenvError
from mason.python.pyccache import BytecodeCache
from mason.python.venv import SCHEME_NAMES, Venv
from mason.store.fsops import RawFile, prune_empty

if TYPE_CHECKING:  # only a Literal alias in installer's stubs
    from installer.scripts import ScriptSection

HASH = "sha256"
_LIBS = ("purelib", "platlib")


@dataclass(frozen=True)
class LocatedScript:
    """A file of the scripts scheme: its bytes name the venv's interpreter.

    ``rel`` is relative to the tree root. ``entry`` is ``(name, module, attr, section)``
    of an entry point launcher; otherwise ``raw`` holds the file as the wheel ships it
    (``#!python``). :func:`script_bytes` makes it for any interpreter.
    """

    rel: str
    executable: bool
    entry: tuple[str, str, str, str] | None = None
    raw: bytes | None = None


def script_bytes(script: LocatedScript, interpreter: str) -> bytes:
    """The content of ``script`` for a venv whose interpreter is ``interpreter``."""
    if script.entry is not None:
        name, module, attr, section = script.entry
        launcher = Script(name, module, attr, cast("ScriptSection", section))
        return launcher.generate(interpreter, "posix")[1]
    with fix_shebang(io.BytesIO(script.raw or b""), interpreter) as fixed:
        return fixed.read()


class StagingDestination(WheelDestination):
    """Write one wheel's files under ``staged_root`` for a venv living at ``venv.root``."""

    def __init__(
        self,
        wheel: Path,
        venv: Venv,
        staged_root: Path,
        tree_root: Path,
        dist: str,
        compile_pool: CompilePool | None = None,
        bytecode_cache: BytecodeCache | None = None,
    ):
        self.wheel = wheel
        self.compile_pool = compile_pool
        self.bytecode_cache = bytecode_cache
        self.venv = venv
        self.staged_root = staged_root
        self.tree_root = tree_root
        self.interpreter = str(venv.python)
        self.scheme_dirs: dict[str, Path] = {name: venv.scheme(name) for name in SCHEME_NAMES}
        # pip's venv layout: headers of distribution X go to include/site/pythonX.Y/X
        self.scheme_dirs["headers"] = venv.scheme("headers") / dist
        self.written: list[str] = []  # relative to the tree root
        # rel (to tree_root) -> (sha256 hex, size) of every file written, for the store's scan
        self.digests: dict[str, tuple[str, int]] = {}
        self._made_dirs: set[str] = set()
        self.not_compiled: list[str] = []  # relative to the tree root, as below
        self.bytecode: list[tuple[str, str]] = []
        self.scripts: list[LocatedScript] = []
        # the library sources, compiled as they are written: per source its scheme, the
        # .pyc's RECORD path and the source's path relative to the tree root
        self._stream = CompileStream(venv, compile_pool, bytecode_cache)
        self._planned: list[tuple[Scheme, str, str, str]] = []
        # mismatches with RECORD found while unpacking (filled by the wheel's streams)
        self.content_problems: list[str] = []
        self.record: Path | None = None  # RECORD, relative to the tree root
        for name, where in self.scheme_dirs.items():
            if not where.is_relative_to(tree_root):
                raise VenvError(venv.root, f"its {name} scheme {where} is not under {tree_root}")
        # per scheme, its directory relative to the tree root ("" or ending in "/")
        self._scheme_rels = {
            name: _dir_prefix(where.relative_to(tree_root))
            for name, where in self.scheme_dirs.items()
        }
        self._staged_str = str(staged_root)
        self._tree_str = str(tree_root)
        self._venv_cut = len(str(venv.root)) + 1  # tree root + rel -> relative to the venv

    def discard(self) -> None:
        """Remove what was written so far, and the directories that became empty."""
        self._stream.wait()  # byte-code under way is written before it is removed
        for rel in reversed(self.written):
            Path(self.staged_root, rel).unlink(missing_ok=True)
        parents = {(self.staged_root / rel).parent for rel in self.written}
        prune_empty(parents, self.staged_root, os.rmdir)
        self.written.clear()
        self.digests.clear()
        self.scripts.clear()
        self._made_dirs.clear()

    def _rel(self, scheme: Scheme, path: str) -> str:
        """``path`` of ``scheme`` relative to the tree root (strings: this runs per file)."""
        norm = posixpath.normpath(path)
        if posixpath.isabs(norm) or norm.split("/")[0] == ".." or "\\" in norm:
            raise BadWheel(self.wheel, [f"{path} escapes the {scheme} directory"])
        return f"{self._scheme_rels[scheme]}{norm}"

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """Create the staged file exclusively; return its RECORD entry."""
        rel = self._rel(scheme, path)
        target = f"{self._staged_str}/{rel}"
        parent = target.rpartition("/")[0]
        if parent not in self._made_dirs:
            os.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)
        mode = 0o777 if is_executable else 0o666  # the umask decides the rest
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise StagingWriteFailed(self.wheel, f"{target} is already staged") from None
        self.written.append(rel)
        with RawFile(fd) as f:
            digest, size = _copy(stream, f)
        self.digests[rel] = (_hex(digest), size)
        if scheme in _LIBS and path.endswith(".py"):
            self._plan_compile(scheme, path, rel, digest)
        return RecordEntry(path, Hash(HASH, digest), size)

    def write_file(
        self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """Write one file of the wheel; scripts get the venv's python in their shebang."""
        path_ = os.fspath(path)
        if scheme == "scripts":
            script = LocatedScript(self._rel(scheme, path_), is_executable, raw=stream.read())
            return self._write_script(scheme, path_, script)
        return self.write_to_fs(scheme, path_, stream, is_executable)

    def _write_script(self, scheme: Scheme, path: str, script: LocatedScript) -> RecordEntry:
        self.scripts.append(script)
        with io.BytesIO(script_bytes(script, self.interpreter)) as stream:
            return self.write_to_fs(scheme, path, stream, script.executable)

    def write_script(
        self, name: str, module: str, attr: str, section: ScriptSection
    ) -> RecordEntry:
        """Write a console or gui entry point as a launcher script."""
        scheme = Scheme("scripts")
        script_name = Script(name, module, attr, section).generate(self.interpreter, "posix")[0]
        entry = (name, module, attr, str(section))
        script = LocatedScript(self._rel(scheme, script_name), True, entry=entry)
        return self._write_script(scheme, script_name, script)

    def finalize_installation(
        self, scheme: Scheme, record_file_path: str, records: Iterable[tuple[Scheme, RecordEntry]]
    ) -> None:
        """Byte-compile the library sources, then write RECORD listing everything."""
        if self.content_problems:  # every file was read: all mismatches are known now
            raise BadWheel(self.wheel, list(self.content_problems))
        entries = list(records)
        entries += self._compile()

        prefixes: dict[Scheme, str | None] = {}

        def prefix(file_scheme: Scheme) -> str | None:  # asked per file: once per scheme
            if file_scheme not in prefixes:
                rel = os.path.relpath(self.scheme_dirs[file_scheme], self.scheme_dirs[scheme])
                prefixes[file_scheme] = None if rel == "." else rel + "/"
            return prefixes[file_scheme]

        with construct_record_file(entries, prefix) as record:
            self.write_to_fs(scheme, record_file_path, record, is_executable=False)
        self.record = Path(self._rel(scheme, record_file_path))

    def _plan_compile(self, scheme: Scheme, path: str, rel: str, digest: str) -> None:
        """Hand the source just written (``path`` in ``scheme``, ``rel`` to the tree root,
        its RECORD ``digest``) to the compile stream."""
        # strings, not Paths: this runs per module (sympy: 1,500)
        head, name = posixpath.split(path)
        compiled = pyc_name(name, self.venv.cache_tag)
        rel_pyc = posixpath.join(head, "__pycache__", compiled)
        pyc = posixpath.join(posixpath.dirname(rel), "__pycache__", compiled)
        dfile = posixpath.join(self._tree_str, rel)[self._venv_cut :]
        staged = self._staged_str
        self._stream.add((f"{staged}/{rel}", f"{staged}/{pyc}", dfile, _hex(digest)))
        self._planned.append((scheme, rel_pyc, rel, pyc))
        self.written.append(pyc)  # removed again below if it does not compile

    def _compile(self) -> list[tuple[Scheme, RecordEntry]]:
        done = self._stream.results()
        out: list[tuple[Scheme, RecordEntry]] = []
        for (scheme, rel_pyc, rel, pyc), compiled in zip(self._planned, done, strict=True):
            if compiled is None:
                self.not_compiled.append(rel)
                self.written.remove(pyc)
                continue
            self.bytecode.append((rel, pyc))
            hexdigest, size = compiled
            self.digests[pyc] = (hexdigest, size)
            b64 = record_digest(bytes.fromhex(hexdigest))
            out.append((scheme, RecordEntry(rel_pyc, Hash(HASH, b64), size)))
        return out


def _copy(stream: BinaryIO, f: RawFile) -> tuple[str, int]:
    """Copy ``stream`` into ``f``; the RECORD digest (sha256, urlsafe base64) and size of
    the bytes. A wheel's member stream that hashes them with sha256 already, to check them
    against the wheel's RECORD, gives its digest: each byte is hashed once."""
    if not getattr(stream, "hashes_sha256", False):
        return copyfileobj_with_hashing(stream, cast(BinaryIO, f), HASH)  # it only writes
    size = 0
    while data := stream.read(_CHUNK):
        f.write(data)
        size += len(data)
    digest: str | None = getattr(stream, "sha256", None)
    assert digest is not None  # set by the read that found the end
    return digest, size


_CHUNK = 1024 * 1024


def _dir_prefix(rel: Path) -> str:
    text = rel.as_posix()
    return "" if text == "." else text + "/"


def record_digest(raw: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64, unpadded."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hex(urlsafe_b64: str) -> str:
    """A RECORD digest (urlsafe base64, unpadded) as hex."""
    return base64.urlsafe_b64decode(urlsafe_b64 + "=" * (-len(urlsafe_b64) % 4)).hex()
