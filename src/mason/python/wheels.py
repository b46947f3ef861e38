"""Staging wheels: a ``.whl`` in, a tree laid out like the venv out (SPEC section 6).

``stage_wheel`` checks the wheel first (every RECORD hash and size, no path escaping the
venv) and reports every problem at once; then ``installer`` unpacks it through
:class:`~mason.python.destination.StagingDestination`. The staged tree holds the files with
their final layout, byte-code and pip-compatible metadata (``RECORD``, ``INSTALLER``); the
store merges it into the venv like any other staged tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import installer
from installer.exceptions import InstallerError
from installer.records import RecordEntry, parse_record_file
from installer.sources import WheelContentElement, WheelFile
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from mason.errors import MasonError
from mason.python.compilepool import CompilePool
from mason.python.destination import LocatedScript, StagingDestination, record_digest
from mason.python.errors import BadWheel, StagingWriteFailed
from mason.python.pyccache import BytecodeCache
from mason.python.venv import Venv


@dataclass(frozen=True)
class StagedWheel:
    """One wheel unpacked into ``staged_root``, ready for the store to merge.

    Paths in ``files`` and ``dist_info`` are relative to ``staged_root``, which stands for
    ``tree_root`` (the venv root by default). ``files`` lists everything written, RECORD and
    byte-code included, sorted as paths sort; ``not_compiled`` the sources that did not
    byte-compile. The per-file fields are POSIX strings, not ``Path`` objects: a wheel
    staged in a worker process comes back pickled, and rebuilding thousands of ``Path``
    objects cost mason's process (the thread handing the workers their next tasks) 60 ms
    of a run of 44 wheels.
    ``bytecode`` pairs each compiled source with its ``.pyc``: when the store keeps another
    package's equivalent namespace ``__init__.py`` instead of this one, it must keep that
    package's ``.pyc`` too (a CHECKED_HASH ``.pyc`` embeds the hash of its own source).
    ``digests`` holds ``(rel, sha256 hex, size)`` of each written file; ``scripts`` the
    files that name the venv's interpreter, ``record`` the RECORD (which lists their hashes).
    """

    wheel: Path
    distribution: str
    version: str
    staged_root: Path
    tree_root: Path
    dist_info: Path
    files: tuple[str, ...]
    not_compiled: tuple[str, ...] = ()
    bytecode: tuple[tuple[str, str], ...] = ()
    digests: tuple[tuple[str, str, int], ...] = ()
    scripts: tuple[LocatedScript, ...] = ()
    record: Path | None = None

    def known_digests(self) -> dict[str, tuple[str, int]]:
        """``rel -> (sha256 hex, size)`` of every file written, hashed while writing
        (what :meth:`mason.store.Prefix.scan` takes as ``known``)."""
        return {rel: (digest, size) for rel, digest, size in self.digests}


def stage_wheel(
    wheel: Path,
    venv: Venv,
    staged_root: Path,
    *,
    installer_name: str = "mason",
    tree_root: Path | None = None,
    compile_pool: CompilePool | None = None,
    bytecode_cache: BytecodeCache | None = None,
) -> StagedWheel:
    """Unpack ``wheel`` under ``staged_root``, laid out for ``venv``.

    ``staged_root`` stands for ``tree_root`` (default ``venv.root``); it may exist but must
    not hold any of the wheel's files. ``compile_pool`` byte-compiles in worker processes
    (callers staging from several threads at once want that); ``bytecode_cache`` gives
    byte-code compiled before, by any prefix. Raises :class:`BadWheel`
    for a broken wheel and :class:`StagingWriteFailed` when writing fails; on any failure
    the files this call wrote are removed again.

    The contents are checked against RECORD while they are unpacked (one pass over the
    data): a mismatch is reported before RECORD is written, every mismatch at once (the
    byte-code of a big wheel, compiled while it is unpacked, is removed with the rest).
    """
    tree = tree_root.absolute() if tree_root is not None else venv.root
    with _open_wheel(wheel) as (source, names):
        check_wheel(wheel, source, names, venv)
        destination = StagingDestination(
            wheel, venv, staged_root, tree, source.distribution, compile_pool, bytecode_cache
        )
        destination.content_problems = source.problems
        existed = staged_root.exists()
        try:
            _install(wheel, source, destination, installer_name)
        except BaseException:
            destination.discard()
            if not existed:
                with contextlib.suppress(OSError):
                    staged_root.rmdir()
            raise
    dist_info = venv.root / venv.relative.purelib / source.dist_info_dir
    return StagedWheel(
        wheel=wheel,
        distribution=source.distribution,
        version=source.version,
        staged_root=staged_root,
        tree_root=tree,
        dist_info=dist_info.relative_to(tree),
        files=tuple(sorted(destination.written, key=path_order)),
        not_compiled=tuple(sorted(destination.not_compiled, key=path_order)),
        bytecode=tuple(sorted(destination.bytecode, key=lambda pair: path_order(pair[0]))),
        digests=tuple(sorted((rel, d, n) for rel, (d, n) in destination.digests.items())),
        scripts=tuple(destination.scripts),
        record=destination.record,
    )


class _CheckedWheel(WheelFile):
    """A wheel whose member streams check their RECORD hash and size as they are read;
    mismatches go to :attr:`problems`."""

    def __init__(self, f: zipfile.ZipFile) -> None:
        super().__init__(f)
        self.problems: list[str] = []

    def get_contents(self) -> Iterator[WheelContentElement]:
        for record, stream, is_executable in super().get_contents():
            checked = _CheckedStream(stream, record, self.problems)
            yield record, cast(BinaryIO, checked), is_executable


class _CheckedStream:
    """Passes reads through, hashing them; at the end, compares with RECORD.

    When RECORD's hash is sha256 (as the written file's RECORD entry is), the digest of
    what was read is :attr:`sha256` afterwards (urlsafe base64, as RECORD writes it):
    the destination takes it instead of hashing the same bytes a second time.
    """

    def __init__(self, stream: BinaryIO, record: tuple[str, str, str], problems: list[str]):
        self._stream = stream
        self._path = record[0]
        entry = RecordEntry.from_elements(*record) if record[1] else None
        self._entry = entry
        self._hash = hashlib.new(entry.hash_.name) if entry and entry.hash_ else None
        self.hashes_sha256 = self._hash is not None and self._hash.name == "sha256"
        self.sha256: str | None = None
        self._size = 0
        self._problems = problems

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if self._hash is not None:
            self._hash.update(data)
            self._size += len(data)
            if not data or n < 0:
                self._finish()
        return data

    def _finish(self) -> None:
        assert self._hash is not None and self._entry is not None and self._entry.hash_
        digest = record_digest(self._hash.digest())
        if self.hashes_sha256:
            self.sha256 = digest
        size = self._entry.size
        if digest != self._entry.hash_.value or (size is not None and size != self._size):
            self._problems.append(f"hash / size of {self._path} didn't match RECORD")
        self._hash = None


@contextmanager
def _open_wheel(wheel: Path) -> Iterator[tuple[_CheckedWheel, list[str]]]:
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise BadWheel(wheel, [f"cannot read it as a zip archive: {e}"]) from e
    with archive:
        try:
            source = _CheckedWheel(archive)
        except ValueError as e:
            raise BadWheel(wheel, [str(e)]) from e
        yield source, archive.namelist()


def _install(
    wheel: Path, source: WheelFile, destination: StagingDestination, installer_name: str
) -> None:
    metadata = {"INSTALLER": f"{installer_name}\n".encode()}
    try:
        installer.install(source, destination, metadata)
    except MasonError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise BadWheel(wheel, [f"corrupt archive: {e}"]) from e
    except OSError as e:
        raise StagingWriteFailed(wheel, str(e)) from e
    # installer asserts on malformed entry points
    except (InstallerError, ValueError, KeyError, AssertionError) as e:
        raise BadWheel(wheel, [f"{type(e).__name__}: {e}"]) from e


def check_wheel(wheel: Path, source: WheelFile, names: list[str], venv: Venv) -> None:
    """Raise :class:`BadWheel` listing every problem of the wheel, before anything is written.

    Checked: the file name and its tags (against ``venv``), member and RECORD paths that
    would escape the venv, that RECORD lists every member with a hash and size. Contents
    are checked while unpacking (:class:`_CheckedWheel`), except in a wheel found broken
    here: then here too, so that every problem is reported at once. ``names`` are the
    archive's members.
    """
    problems = _tag_problems(wheel, venv)
    try:
        record = source.read_dist_info("RECORD")
    except (KeyError, ValueError) as e:
        raise BadWheel(wheel, [*problems, f"no readable RECORD: {e}"]) from e
    rows = [row[0] for row in parse_record_file(record.splitlines())]
    every = dict.fromkeys(names + rows)
    problems += [f"{name} escapes the venv" for name in every if _escapes(name)]
    issues = _record_issues(wheel, source, bool(problems), bool(problems))
    if issues and not problems:  # broken anyway: its contents too, for every problem at once
        issues = _record_issues(wheel, source, True, False)
    problems += issues
    if problems:
        raise BadWheel(wheel, problems)


def _record_issues(wheel: Path, source: WheelFile, contents: bool, reported: bool) -> list[str]:
    """What ``validate_record`` finds (``reported``: other problems are already known)."""
    try:
        source.validate_record(validate_contents=contents)
    except source.validation_error as e:
        issues: list[str] = getattr(e, "issues", [str(e)])
        return [_strip_wheel_name(issue, wheel) for issue in issues]
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        return [f"corrupt archive: {e}"]
    except ValueError:
        if not reported:  # installer chokes on absolute member names we already reported
            raise
    return []


def _tag_problems(wheel: Path, venv: Venv) -> list[str]:
    try:
        _, _, _, tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as e:
        return [str(e)]
    if venv.accepts(str(tag) for tag in tags):
        return []
    names = ".".join(sorted({str(tag) for tag in tags}))
    py = "{}.{}".format(*venv.version)
    return [f"it is built for {names}, which Python {py} of {venv.root} cannot run"]


def _escapes(name: str) -> bool:
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in posixpath.normpath(name).split("/") or ".." in name.split("/")


def path_order(rel: str) -> list[str]:
    """The sort key that orders relative POSIX paths as ``Path`` objects sort."""
    return rel.split("/")


def _strip_wheel_name(issue: str, wheel: Path) -> str:
    lead = f"In {wheel}, "
    return issue[len(lead) :] if issue.startswith(lead) else issue
