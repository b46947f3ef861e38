"""Install records: ``<prefix>/var/lib/mason/installed/<name>-<version>`` (JSON).

The on-disk format is declared with TypedDicts and versioned (``mason_format``); SageMath's
keys (``package_name``, ``package_version``, ``install_date``, ``system_uname``,
``test_result``, ``files``) are kept so its tools can read the records. In memory a record
is the frozen dataclass :class:`Record`.

Every reader of records goes through this module (:meth:`RecordStore.all`,
:meth:`RecordStore.find`, :func:`read_header`; the index's headers table,
:mod:`mason.store.headers`, caches what they say) with one rule for a package that has two
records (a crash between an upgrade's commit and its cleanup, or a package moving between
the prefix's and the venv's store): the newest install wins (:func:`newest_by_name`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, TypeVar, cast

from mason.store import fsops
from mason.store.errors import RecordUnreadable
from mason.store.outside import Outside, OutsideJSON

FORMAT = 1
FileKind = Literal["file", "symlink"]


class FileInfoJSON(TypedDict):
    type: FileKind
    sha256: str | None
    size: int
    target: NotRequired[str]


class _Header(TypedDict):
    mason_format: int
    package_name: str
    package_version: str
    install_date: str
    system_uname: str
    test_result: str
    kind: str
    dependencies: dict[str, str]
    recipe_hash: str | None
    timings: dict[str, float]
    txid: str
    outside: NotRequired[OutsideJSON]  # changed or installed by pip (mason.store.outside)
    artifact: NotRequired[str]


class RecordJSON(_Header):
    """A record file: SageMath's keys plus mason's (``mason_format`` 1)."""

    files: list[str]
    file_info: dict[str, FileInfoJSON]


@dataclass(frozen=True)
class FileInfo:
    """What a record knows about one claimed path."""

    kind: FileKind
    sha256: str | None
    size: int
    target: str | None = None

    def to_json(self) -> FileInfoJSON:
        out: FileInfoJSON = {"type": self.kind, "sha256": self.sha256, "size": self.size}
        if self.target is not None:
            out["target"] = self.target
        return out

    @cached_property
    def encoded(self) -> str:
        """This entry as JSON text (computed once, while scanning, outside the lock)."""
        if self.kind == "file" and self.target is None and self.sha256 is not None:
            # what json.dumps gives, written out: a hex digest and an int need no escaping
            return f'{{"sha256":"{self.sha256}","size":{self.size},"type":"file"}}'
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: FileInfoJSON) -> FileInfo:
        return cls(data["type"], data["sha256"], data["size"], data.get("target"))


@dataclass(frozen=True)
class EncodedFiles:
    """A record's ``file_info`` body and ``files`` array as compact JSON (ASCII bytes).

    Built once per staged tree while scanning (outside the lock) and reused by the record
    write and the index insert under it.
    """

    file_info: bytes  # '"path":{...},...' (the object without its braces), sorted by path
    files: bytes  # '["path",...]', sorted

    @classmethod
    def of(cls, files: Mapping[str, FileInfo]) -> EncodedFiles:
        """Encode ``{path: info}`` (paths sorted, as in a record file)."""
        esc = json.encoder.encode_basestring_ascii
        paths = sorted(files)
        keys = [esc(p) for p in paths]
        info = ",".join([f"{k}:{files[p].encoded}" for k, p in zip(keys, paths, strict=True)])
        return cls(info.encode("ascii"), f"[{','.join(keys)}]".encode("ascii"))


@dataclass(frozen=True)
class Record:
    """One installed package: its version, its files (with hashes) and how it got there."""

    name: str
    version: str
    files: Mapping[str, FileInfo]
    txid: str
    kind: str = "normal"
    install_date: str = ""
    system_uname: str = ""
    test_result: str = ""
    dependencies: Mapping[str, str] = field(default_factory=dict)
    recipe_hash: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    outside: Outside | None = None  # changed or installed by another installer (pip)
    artifact: str | None = None  # the binary cache's manifest digest, when it came from one

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def installed_at(self) -> float:
        """When it was installed (seconds since the epoch; 0 when the record does not say)."""
        return install_time(self.timings, self.install_date)

    def to_json(self) -> RecordJSON:
        paths = sorted(self.files)
        return {
            "files": paths,
            "file_info": {p: self.files[p].to_json() for p in paths},
            **self._header(),
        }

    def _header(self) -> _Header:
        header: _Header = {
            "mason_format": FORMAT,
            "package_name": self.name,
            "package_version": self.version,
            "install_date": self.install_date,
            "system_uname": self.system_uname,
            "test_result": self.test_result,
            "kind": self.kind,
            "dependencies": dict(sorted(self.dependencies.items())),
            "recipe_hash": self.recipe_hash,
            "timings": dict(sorted(self.timings.items())),
            "txid": self.txid,
        }
        if self.outside is not None:
            header["outside"] = self.outside.to_json()
        if self.artifact is not None:
            header["artifact"] = self.artifact
        return header

    def encode(self, body: EncodedFiles | None = None) -> bytes:
        """The record file's bytes: :meth:`to_json` as compact JSON, built fast.

        Records of 50,000 files are written under the prefix lock, so the file entries come
        as ``body`` when the caller has them (the scan encodes them, outside the lock); it
        must describe exactly :attr:`files`. Without it they are encoded here.
        """
        files = body if body is not None else EncodedFiles.of(self.files)
        head = json.dumps(self._header(), sort_keys=True, separators=(",", ":"))
        return b"".join(
            (
                b'{"file_info":{',
                files.file_info,
                b'},"files":',
                files.files,
                b",",
                head[1:].encode("ascii"),
            )
        )

    @classmethod
    def from_json(cls, data: RecordJSON) -> Record:
        info = data["file_info"]
        return cls(
            name=data["package_name"],
            version=data["package_version"],
            files={p: FileInfo.from_json(info[p]) for p in data["files"]},
            txid=data["txid"],
            kind=data["kind"],
            install_date=data["install_date"],
            system_uname=data["system_uname"],
            test_result=data["test_result"],
            dependencies=data["dependencies"],
            recipe_hash=data["recipe_hash"],
            timings=data["timings"],
            outside=Outside.from_json(out) if (out := data.get("outside")) else None,
            artifact=data.get("artifact"),
        )


class RecordStore:
    """The directory of records; writes are atomic and durable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str, version: str) -> Path:
        return self.directory / f"{name}-{version}"

    def write(self, record: Record, body: EncodedFiles | None = None) -> Path:
        """Write ``record`` atomically (temp file, fsync, rename, fsync directory).

        ``body``: the record's files already encoded (see :meth:`Record.encode`).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(record.name, record.version)
        fsops.write_atomic(path, record.encode(body))
        return path

    def read(self, path: Path) -> Record:
        """Read one record file; a corrupt one is :class:`RecordUnreadable`."""
        data = read_json(path)
        try:
            if data.get("mason_format") != FORMAT:
                raise ValueError(f"unknown mason_format {data.get('mason_format')!r}")
            return Record.from_json(data)  # type: ignore[arg-type]
        except (ValueError, KeyError, TypeError) as e:
            raise RecordUnreadable(path, str(e)) from e

    def _files(self) -> list[str]:
        """The record files, sorted (temporary files of atomic writes left out)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        return [fn for fn in names if not fn.startswith(".")]

    def all(self) -> dict[str, Record]:
        """Every record, by package name (:func:`newest_by_name` of two)."""
        records = (self.read(self.directory / fn) for fn in self._files())
        return newest_by_name((r.name, r.installed_at, r) for r in records)

    def find(self, name: str) -> Record | None:
        """The record of package ``name`` (names have no ``-``, so the file name splits)."""
        found = [fn for fn in self._files() if fn.split("-", 1)[0] == name]
        records = (self.read(self.directory / fn) for fn in found)
        return newest_by_name((r.name, r.installed_at, r) for r in records).get(name)

    def headers(self) -> dict[str, RecordHeader]:
        """What every record says about its package, by name, without reading the files
        strictly (records of other tools with SageMath's keys count too)."""
        headers = (read_header(self.directory / fn) for fn in self._files())
        return newest_by_name((h.name, h.installed_at, h) for h in headers)

    def paths_of(self, name: str) -> list[Path]:
        """The record files of package ``name`` (one, or two in an unfinished upgrade)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        return [self.directory / fn for fn in names if fn.split("-", 1)[0] == name]

    def holds(self, path: Path) -> bool:
        """Whether ``path`` is a record file of this store."""
        return path.parent == self.directory

    def remove_temporaries(self) -> None:
        """Drop half-written temp files a crash left behind."""
        if self.directory.is_dir():
            for fn in os.listdir(self.directory):
                if fn.startswith("."):
                    fsops.unlink(self.directory / fn)


@dataclass(frozen=True)
class RecordHeader:
    """The package a record is of (``package_name``, ``package_version``), its recipe's
    hash and when it was installed."""

    name: str
    version: str
    recipe_hash: str | None
    installed_at: float
    outside: Outside | None = None  # what another installer (pip) did to the package


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in the record file ``path``; else :class:`RecordUnreadable`."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RecordUnreadable(path, str(e)) from e
    if not isinstance(data, dict):
        raise RecordUnreadable(path, "not a JSON object")
    return data


def read_header(path: Path) -> RecordHeader:
    """The :class:`RecordHeader` of the record file ``path`` (its mtime when it says
    nothing about when it was installed)."""
    data = read_json(path)
    name, version = data.get("package_name"), data.get("package_version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise RecordUnreadable(path, "package_name and package_version must be strings")
    digest = data.get("recipe_hash")
    timings = data.get("timings")
    when = install_time(
        data if data.get("installed_at") is not None else timings,
        data.get("install_date"),
        fallback=lambda: path.stat().st_mtime,
    )
    out = data.get("outside")
    try:
        outside = Outside.from_json(cast(OutsideJSON, out)) if isinstance(out, dict) else None
    except KeyError:
        outside = None
    return RecordHeader(name, version, digest if isinstance(digest, str) else None, when, outside)


def install_time(timings: object, install_date: object, fallback: Any = None) -> float:
    """When a package was installed: ``timings["installed_at"]`` (what mason's install
    writes), else ``install_date`` (ISO 8601, UTC if it says no zone), else ``fallback()``
    (0 without one). SageMath writes ``date`` output into ``install_date``: not a time."""
    when = timings.get("installed_at") if isinstance(timings, Mapping) else None
    if isinstance(when, int | float) and not isinstance(when, bool):
        return float(when)
    if isinstance(install_date, str):
        try:
            parsed = datetime.fromisoformat(install_date)
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return float(fallback()) if fallback is not None else 0.0


T = TypeVar("T")


def newest_by_name(items: Iterable[tuple[str, float, T]]) -> dict[str, T]:
    """One item per package name, from ``(name, installed_at, item)``: the newest install;
    of two installed at the same time, the later one given."""
    out: dict[str, tuple[float, T]] = {}
    for name, when, item in items:
        known = out.get(name)
        if known is None or when >= known[0]:
            out[name] = (when, item)
    return {name: item for name, (_, item) in out.items()}
