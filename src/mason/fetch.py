"""Fetching sources: the upstream cache, mirrors, and checksum verification (SPEC 2, 4).

A source is looked for first in the upstream cache (a flat directory of tarballs, by
default ``upstream/`` beside the catalog; the caller passes it). A cached file is
verified before use; a bad one is reported with a ``discarded`` event and fetched again.
Otherwise the mirrors are tried in order (each an ``http(s)://`` base URL, a
``file://`` URL or a local directory, holding the files flat: ``<mirror>/<filename>``),
then the recipe's ``upstream_url``. A 404, a refused connection, a timeout, a short read
or a bad checksum moves on to the next place; when every place failed, one
:class:`FetchFailed` lists each place and why.

Checksum policy (the recipe's ``checksums.ini``):

* every ``sha256`` / ``sha1`` the recipe gives must match (sha256 is preferred; SageMath
  catalogs up to 9.8 only carry sha1);
* with neither, ``md5`` and ``cksum`` (POSIX ``cksum`` CRC) are checked instead and the
  file is accepted with a ``weak`` warning event;
* with no checksum at all the source is refused (:class:`MissingChecksum`): sources
  without a matching checksum are never built.

Downloads go to a hidden temporary file in the cache directory, are hashed while being
written, verified, fsync'd and then renamed onto the final name, so a partial or
unverified file is never visible under that name and any number of processes may fetch
the same file at once. The library never prints: progress and warnings go to
``on_event``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from mason import __version__
from mason.catalog.model import Checksums
from mason.errors import BadInput, MasonError

TIMEOUT_SECONDS = 30.0
"""Connect/read timeout for one HTTP request."""

USER_AGENT = f"mason/{__version__}"

_CHUNK = 1 << 20

FetchEventKind = Literal["cached", "discarded", "trying", "failed", "progress", "fetched", "weak"]
"""``cached``: a verified file was already in the cache; ``discarded``: a bad cached file
(warning); ``trying``: a download from ``source`` starts; ``progress``: bytes arrived;
``failed``: ``source`` did not work (``message`` says why; the next one is tried);
``fetched``: the verified file is in the cache; ``weak``: only md5/cksum vouch for it
(warning)."""


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


@dataclass(frozen=True)
class FetchEvent:
    """Something a caller may show: progress or a warning. Never an error."""

    kind: FetchEventKind
    package: str
    filename: str
    source: str | None = None
    message: str = ""
    """Human-readable and complete on its own (a caller may show just this)."""
    done: int = 0
    total: int | None = None


@dataclass(frozen=True)
class FetchAttempt:
    """One place a source was looked for, and why it did not work."""

    source: str
    reason: str


class ChecksumMismatch(BadInput):
    """A file's content does not match the recipe's checksum."""

    def __init__(self, package: str, file: Path, algorithm: str, expected: str, actual: str):
        self.package = package
        self.file = file
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{package}: {file.name}: {algorithm} mismatch: expected {expected}, got {actual}",
            hint=f"the file is not the one build/pkgs/{package}/checksums.ini describes; "
            "fetch it again or fix the checksum",
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


class BadFilename(BadInput):
    """The tarball name is not a plain file name (it would leave the cache directory)."""

    def __init__(self, package: str, filename: str):
        self.package = package
        self.filename = filename
        super().__init__(
            f"{package}: tarball name {filename!r} in checksums.ini is not a plain file name"
        )


class FetchFailed(MasonError):
    """No place had a good copy of the source; ``attempts`` lists each and why."""

    def __init__(self, package: str, filename: str, attempts: Sequence[FetchAttempt]):
        self.package = package
        self.filename = filename
        self.attempts = tuple(attempts)
        lines = [f"  {a.source}: {a.reason}" for a in self.attempts] or ["  (no mirror configured)"]
        super().__init__(
            f"{package}: cannot fetch {filename}; tried:\n" + "\n".join(lines),
            hint="add a mirror (--mirror URL|DIR) or put the file into the upstream directory",
        )


class _ShortRead(OSError):
    """The source ended before the size it announced."""


class _Hasher(Protocol):
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


def _expected(spec: SourceSpec) -> dict[str, str]:
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


def _hashers(algorithms: Sequence[str]) -> dict[str, _Hasher]:
    return {a: (_Cksum() if a == "cksum" else hashlib.new(a)) for a in algorithms}


def _check(
    spec: SourceSpec, file: Path, expected: dict[str, str], hashers: dict[str, _Hasher]
) -> None:
    for algorithm, want in expected.items():
        got = hashers[algorithm].hexdigest()
        if got != want:
            raise ChecksumMismatch(spec.package, file, algorithm, want, got)


def verify(path: Path, spec: SourceSpec) -> None:
    """Check ``path`` against the checksums of ``spec``.

    Raises :class:`ChecksumMismatch` naming the package, the file and both digests,
    or :class:`MissingChecksum` if the recipe gives none.
    """
    expected = _expected(spec)
    hashers = _hashers(list(expected))
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    _check(spec, path, expected, hashers)


EventSink = Callable[[FetchEvent], None]


def _emit(
    on_event: EventSink | None,
    spec: SourceSpec,
    kind: FetchEventKind,
    source: str | None = None,
    message: str = "",
    done: int = 0,
    total: int | None = None,
) -> None:
    if on_event is not None:
        on_event(FetchEvent(kind, spec.package, spec.filename, source, message, done, total))


def _sources(spec: SourceSpec, mirrors: Sequence[str]) -> list[str]:
    """Every place to try, in order: each mirror's copy, then ``upstream_url``."""
    places = [m.rstrip("/") + "/" + _name_in(m, spec.filename) for m in mirrors]
    if spec.checksums.upstream_url:
        places.append(spec.checksums.upstream_url)
    return places


def _is_url(place: str) -> bool:
    return place.startswith(("http://", "https://", "file://"))


def _name_in(mirror: str, filename: str) -> str:
    """The file name as it appears after the mirror: %-quoted in a URL."""
    return urllib.parse.quote(filename) if _is_url(mirror) else filename


def _open_source(source: str) -> tuple[BinaryIO, int | None]:
    """Open a URL or a local path for reading; returns the stream and its size if known."""
    if _is_url(source):
        import urllib.request  # here, not at the top: with ssl it costs ~15 ms of start-up

        request = urllib.request.Request(source, headers={"User-Agent": USER_AGENT})
        resp = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
        length = resp.headers.get("Content-Length")
        return resp, int(length) if length and length.isdigit() else None
    path = Path(source)
    return path.open("rb"), path.stat().st_size


def _download(
    spec: SourceSpec, source: str, cache: Path, expected: dict[str, str], on_event: EventSink | None
) -> None:
    """Copy ``source`` into a temp file in ``cache``, verify it, rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{spec.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        hashers = _hashers(list(expected))
        stream, total = _open_source(source)
        with stream, os.fdopen(fd, "wb") as out:
            done = _copy(
                stream, out, hashers, lambda n: _progress(on_event, spec, source, n, total)
            )
            if total is not None and done != total:
                raise _ShortRead(f"got {done} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        _check(spec, cache / spec.filename, expected, hashers)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache / spec.filename)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy(
    src: BinaryIO, dst: BinaryIO, hashers: dict[str, _Hasher], tick: Callable[[int], None]
) -> int:
    done = 0
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        for h in hashers.values():
            h.update(chunk)
        done += len(chunk)
        tick(done)
    return done


def _progress(
    on_event: EventSink | None, spec: SourceSpec, source: str, done: int, total: int | None
) -> None:
    _emit(on_event, spec, "progress", source=source, done=done, total=total)


def _why(error: Exception) -> str:
    import http.client
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect: {error.reason}"
    if isinstance(error, ChecksumMismatch):
        return f"{error.algorithm} mismatch: expected {error.expected}, got {error.actual}"
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, TimeoutError):
        return f"timed out after {TIMEOUT_SECONDS:g} s"
    if isinstance(error, http.client.IncompleteRead) or type(error) is _ShortRead:
        return f"connection closed early: {error}"
    return f"{type(error).__name__}: {error}"


def _use_cached(spec: SourceSpec, target: Path, on_event: EventSink | None) -> bool:
    """True if a good copy is cached; a bad one is reported as discarded."""
    try:
        verify(target, spec)
    except FileNotFoundError:
        return False
    except (ChecksumMismatch, OSError) as e:
        why = f"cached {target} is bad ({_why(e)}); fetching it again"
        _emit(on_event, spec, "discarded", source=str(target), message=why)
        return False
    _emit(on_event, spec, "cached", source=str(target))
    return True


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _discard(target: Path, bad: os.stat_result | None) -> None:
    """Remove the bad cached file, unless another process has replaced it meanwhile."""
    now = _stat(target)
    if bad is not None and now is not None and (now.st_dev, now.st_ino) == (bad.st_dev, bad.st_ino):
        target.unlink(missing_ok=True)


def fetch(
    spec: SourceSpec,
    cache: Path,
    mirrors: Sequence[str],
    *,
    on_event: EventSink | None = None,
) -> Path:
    """Return the path of a verified copy of ``spec`` in ``cache``, fetching it if needed.

    ``mirrors`` are ``http(s)://`` or ``file://`` base URLs or local directories, tried
    in order, then ``spec.upstream_url``. Raises :class:`FetchFailed` listing every
    place tried, :class:`MissingChecksum` or :class:`BadFilename`.
    """
    if "/" in spec.filename or spec.filename.startswith(".") or not spec.filename:
        raise BadFilename(spec.package, spec.filename)
    expected = _expected(spec)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / spec.filename
    bad = _stat(target)
    if _use_cached(spec, target, on_event):
        _warn_weak(spec, on_event)
        return target
    import http.client  # only when something is downloaded (it imports ssl)

    attempts: list[FetchAttempt] = []
    for source in _sources(spec, mirrors):
        _emit(on_event, spec, "trying", source=source)
        try:
            _download(spec, source, cache, expected, on_event)
        except (OSError, http.client.HTTPException, ChecksumMismatch, ValueError) as e:
            attempts.append(FetchAttempt(source, _why(e)))
            _emit(on_event, spec, "failed", source=source, message=_why(e))
            continue
        _emit(on_event, spec, "fetched", source=source)
        _warn_weak(spec, on_event)
        return target
    _discard(target, bad)
    raise FetchFailed(spec.package, spec.filename, attempts)


def _warn_weak(spec: SourceSpec, on_event: EventSink | None) -> None:
    if is_weak(spec):
        why = f"{spec.filename}: only md5/cksum checked; add sha256 to checksums.ini"
        _emit(on_event, spec, "weak", message=why)
