"""An ``installer`` destination that writes a wheel into a staging tree.

Paths are laid out for the FINAL venv (shebangs name the venv's python, byte-code names the
final source path, RECORD is relative to site-packages as pip writes it) while the bytes go
to ``staged_root``, which stands for ``tree_root`` (the venv root unless the store merges
relative to some directory above it). Nothing is ever overwritten: every file is created
with ``O_EXCL``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from installer.destinations import WheelDestination
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.utils import Scheme, construct_record_file, copyfileobj_with_hashing, fix_shebang

from mason.python.bytecode import CompileJob, CompilePool, compile_sources, pyc_name
from mason.python.errors import BadWheel, StagingWriteFailed, VenvError
from mason.python.venv import SCHEME_NAMES, Venv

if TYPE_CHECKING:  # only a Literal alias in installer's stubs
    from installer.scripts import ScriptSection

HASH = "sha256"
_LIBS = ("purelib", "platlib")


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
    ):
        self.wheel = wheel
        self.compile_pool = compile_pool
        self.venv = venv
        self.staged_root = staged_root
        self.tree_root = tree_root
        self.interpreter = str(venv.python)
        self.scheme_dirs: dict[str, Path] = {name: venv.scheme(name) for name in SCHEME_NAMES}
        # pip's venv layout: headers of distribution X go to include/site/pythonX.Y/X
        self.scheme_dirs["headers"] = venv.scheme("headers") / dist
        self.written: list[Path] = []
        self._made_dirs: set[Path] = set()
        self.not_compiled: list[Path] = []
        self.bytecode: list[tuple[Path, Path]] = []
        for name, where in self.scheme_dirs.items():
            if not where.is_relative_to(tree_root):
                raise VenvError(venv.root, f"its {name} scheme {where} is not under {tree_root}")

    def discard(self) -> None:
        """Remove what was written so far, and the directories that became empty."""
        for rel in reversed(self.written):
            staged = self.staged_root / rel
            staged.unlink(missing_ok=True)
            for parent in staged.parents:
                if parent == self.staged_root or not parent.is_relative_to(self.staged_root):
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
        self.written.clear()
        self._made_dirs.clear()

    def _final(self, scheme: Scheme, path: str) -> Path:
        norm = posixpath.normpath(path)
        if posixpath.isabs(norm) or norm.split("/")[0] == ".." or "\\" in norm:
            raise BadWheel(self.wheel, [f"{path} escapes the {scheme} directory"])
        return self.scheme_dirs[scheme] / norm

    def _staged(self, final: Path) -> Path:
        return self.staged_root / final.relative_to(self.tree_root)

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """Create the staged file exclusively; return its RECORD entry."""
        final = self._final(scheme, path)
        target = self._staged(final)
        if target.parent not in self._made_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(target.parent)
        mode = 0o777 if is_executable else 0o666  # the umask decides the rest
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise StagingWriteFailed(self.wheel, f"{target} is already staged") from None
        self.written.append(final.relative_to(self.tree_root))
        with os.fdopen(fd, "wb") as f:
            digest, size = copyfileobj_with_hashing(stream, f, HASH)
        return RecordEntry(path, Hash(HASH, digest), size)

    def write_file(
        self, scheme: Scheme, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """Write one file of the wheel; scripts get the venv's python in their shebang."""
        path_ = os.fspath(path)
        if scheme == "scripts":
            with fix_shebang(stream, self.interpreter) as fixed:
                return self.write_to_fs(scheme, path_, fixed, is_executable)
        return self.write_to_fs(scheme, path_, stream, is_executable)

    def write_script(
        self, name: str, module: str, attr: str, section: ScriptSection
    ) -> RecordEntry:
        """Write a console or gui entry point as a launcher script."""
        script_name, data = Script(name, module, attr, section).generate(self.interpreter, "posix")
        with io.BytesIO(data) as stream:
            return self.write_to_fs(Scheme("scripts"), script_name, stream, is_executable=True)

    def finalize_installation(
        self, scheme: Scheme, record_file_path: str, records: Iterable[tuple[Scheme, RecordEntry]]
    ) -> None:
        """Byte-compile the library sources, then write RECORD listing everything."""
        entries = list(records)
        entries += self._compile([(s, r) for s, r in entries if s in _LIBS])

        def prefix(file_scheme: Scheme) -> str | None:
            rel = os.path.relpath(self.scheme_dirs[file_scheme], self.scheme_dirs[scheme])
            return None if rel == "." else rel + "/"

        with construct_record_file(entries, prefix) as record:
            self.write_to_fs(scheme, record_file_path, record, is_executable=False)

    def _compile(self, libs: list[tuple[Scheme, RecordEntry]]) -> list[tuple[Scheme, RecordEntry]]:
        planned: dict[CompileJob, tuple[Scheme, str]] = {}
        for scheme, entry in libs:
            if not entry.path.endswith(".py"):
                continue
            source = self._final(scheme, entry.path)
            rel_pyc = posixpath.join(
                posixpath.dirname(entry.path),
                "__pycache__",
                pyc_name(posixpath.basename(entry.path), self.venv.cache_tag),
            )
            target = self._staged(self._final(scheme, rel_pyc))
            job = CompileJob(self._staged(source), target, str(source))
            planned[job] = (scheme, rel_pyc)
            self.written.append(self._final(scheme, rel_pyc).relative_to(self.tree_root))
        done = set(compile_sources(list(planned), self.venv, self.compile_pool))
        self.not_compiled = [
            Path(j.dfile).relative_to(self.tree_root) for j in planned if j not in done
        ]
        skipped = {j.target.relative_to(self.staged_root) for j in planned if j not in done}
        self.written = [rel for rel in self.written if rel not in skipped]
        self.bytecode = [
            (Path(j.dfile).relative_to(self.tree_root), j.target.relative_to(self.staged_root))
            for j in planned
            if j in done
        ]
        return [self._pyc_entry(job, *planned[job]) for job in planned if job in done]

    def _pyc_entry(
        self, job: CompileJob, scheme: Scheme, rel_pyc: str
    ) -> tuple[Scheme, RecordEntry]:
        data = job.target.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.new(HASH, data).digest()).decode().rstrip("=")
        return scheme, RecordEntry(rel_pyc, Hash(HASH, digest), len(data))
