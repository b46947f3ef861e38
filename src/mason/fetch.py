"""Fetching sources: the upstream cache, mirrors, and checksum verification (SPEC 2, 4).

A source is looked for first in the upstream cache (a flat directory of tarballs, by
default ``upstream/`` beside the catalog; the caller passes it). A cached file is
verified before use. A cached file that does not match the recipe is never deleted (it
may be the only copy, e.g. the new tarball of a version bump): it is moved aside to
``<name>.mismatch-<sha256 prefix>`` beside it, a ``discarded`` event names both, and the
source is fetched again; if that fails too, :class:`FetchFailed` says where the file was
kept, its expected and actual sha256, and how to fix the recipe.

Otherwise each mirror is tried in order (an ``http(s)://`` base URL, a ``file://`` URL
or a local directory), in both layouts: flat, ``<mirror>/<filename>``, then SageMath's
``<mirror>/spkg/upstream/<package>/<filename>``; then the recipe's ``upstream_url``. One
place is tried with :func:`mason.transfer.transfer` (retries with backoff, resuming with
``Range``, a bounded timeout); when it fails, or serves bytes that do not match, the next
place is tried; when every place failed, one :class:`FetchFailed` lists each and why.

Downloads go to a hidden temporary file ``.<name>.<random>.part`` in the cache directory,
held under ``flock`` while being written, hashed while written, verified, fsync'd and
renamed onto the final name: a partial or unverified file is never visible under that
name, and any number of processes may fetch the same file at once. Temporary files of a
process that died (SIGKILL, power cut) are removed by the next fetch of the same file. A
full disk raises :class:`mason.errors.DiskFull` at once (no mirror can help). The
library never prints: progress and warnings go to ``on_event``.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mason.checksums import (
    ChecksumMismatch,
    MissingChecksum,
    SourceSpec,
    check,
    expected,
    hashers,
    is_weak,
    verify,
)
from mason.errors import BadInput, MasonError, disk_full_is_typed

if TYPE_CHECKING:
    from mason.transfer import Policy

__all__ = [
    "BadFilename",
    "ChecksumMismatch",
    "FetchAttempt",
    "FetchEvent",
    "FetchFailed",
    "MissingChecksum",
    "SetAside",
    "SourceSpec",
    "fetch",
    "is_weak",
    "verify",
]

STALE_PART_SECONDS = 10.0
"""A ``.part`` file nobody holds a lock on and untouched this long belongs to a dead fetch."""

FetchEventKind = Literal[
    "cached", "discarded", "trying", "retrying", "failed", "progress", "fetched", "weak"
]
"""``cached``: a verified file was already in the cache; ``discarded``: a cached file did
not match and was moved aside (warning); ``trying``: a download from ``source`` starts;
``retrying``: it failed transiently and is tried again (``message`` says why and when);
``progress``: bytes arrived; ``failed``: ``source`` did not work (``message`` says why;
the next one is tried); ``fetched``: the verified file is in the cache; ``weak``: only
md5/cksum vouch for it (warning)."""


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


@dataclass(frozen=True)
class SetAside:
    """A cached file that did not match the recipe, and where it was kept."""

    file: Path
    kept_as: Path
    algorithm: str
    expected: str
    actual: str
    sha256: str

    def describe(self) -> str:
        sha = "" if self.algorithm == "sha256" else f" (its sha256 is {self.sha256})"
        return (
            f"{self.file} does not match checksums.ini: {self.algorithm} expected "
            f"{self.expected}, actual {self.actual}{sha}; kept as {self.kept_as}"
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

    def __init__(
        self,
        package: str,
        filename: str,
        attempts: Sequence[FetchAttempt],
        set_aside: SetAside | None = None,
    ):
        self.package = package
        self.filename = filename
        self.attempts = tuple(attempts)
        self.set_aside = set_aside
        lines = [f"  {a.source}: {a.reason}" for a in self.attempts] or ["  (no mirror configured)"]
        if set_aside is not None:
            lines.append(f"  {set_aside.describe()}")
        hint = "add a mirror (--mirror URL|DIR) or put the file into the upstream directory"
        if set_aside is not None:
            hint = (
                f"if {set_aside.kept_as.name} is the tarball you want (a new version), put it "
                f"back and record its checksum: mv {set_aside.kept_as} {set_aside.file} && "
                f"mason fix-checksum {package}; otherwise {hint}"
            )
        super().__init__(
            f"{package}: cannot fetch {filename}; tried:\n" + "\n".join(lines), hint=hint
        )


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
    """Every place to try, in order: each mirror in both layouts, then ``upstream_url``."""
    places = []
    for mirror in mirrors:
        base = mirror.rstrip("/")
        places.append(f"{base}/{_name_in(mirror, spec.filename)}")
        places.append(f"{base}/spkg/upstream/{spec.package}/{_name_in(mirror, spec.filename)}")
    if spec.upstream_url:
        places.append(spec.upstream_url)
    return places


def _name_in(mirror: str, filename: str) -> str:
    """The file name as it appears after the mirror: %-quoted in a URL."""
    is_url = mirror.startswith(("http://", "https://", "file://"))
    return urllib.parse.quote(filename) if is_url else filename


class _Part:
    """The hidden temporary file one download is written to, locked while in use."""

    def __init__(self, spec: SourceSpec, cache: Path, wanted: dict[str, str]) -> None:
        self.spec = spec
        self.wanted = wanted
        self.total: int | None = None
        with disk_full_is_typed(cache, f"downloading {spec.filename}", None):
            fd, name = tempfile.mkstemp(dir=cache, prefix=f".{spec.filename}.", suffix=".part")
        self.path = Path(name)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.file = os.fdopen(fd, "r+b")
        self.running = hashers(list(wanted))
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        with disk_full_is_typed(self.path, f"downloading {self.spec.filename}", self.total):
            self.file.write(data)
        for h in self.running.values():
            h.update(data)
        self._size += len(data)

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.running = hashers(list(self.wanted))
        self._size = 0

    def commit(self, target: Path) -> None:
        """Verify, make durable and rename onto ``target`` (raises ChecksumMismatch)."""
        with disk_full_is_typed(self.path, f"downloading {self.spec.filename}", self.total):
            self.file.flush()
            os.fsync(self.file.fileno())
        check(self.spec, target, self.wanted, self.running)
        os.chmod(self.path, 0o644)
        os.replace(self.path, target)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.file.close()


def _sweep_dead_parts(cache: Path, filename: str) -> None:
    """Remove ``.part`` files of ``filename`` left by fetches that died."""
    prefix = f".{filename}."
    for entry in os.scandir(cache):
        if not (entry.name.startswith(prefix) and entry.name.endswith(".part")):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_PART_SECONDS:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: a live fetch; skipped
            os.unlink(entry.path)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)


def _download(
    spec: SourceSpec,
    source: str,
    cache: Path,
    wanted: dict[str, str],
    policy: Policy,
    on_event: EventSink | None,
) -> None:
    """Copy ``source`` into a temp file in ``cache``, verify it, rename it into place."""
    from mason.transfer import transfer

    part = _Part(spec, cache, wanted)

    def tick(done: int, total: int | None) -> None:
        part.total = total
        _emit(on_event, spec, "progress", source=source, done=done, total=total)

    def retrying(why: str, attempt: int, delay: float, offset: int) -> None:
        resume = f", resuming at byte {offset}" if offset else ""
        message = f"{why}; try {attempt} of {policy.attempts} in {delay:g} s{resume}"
        _emit(on_event, spec, "retrying", source=source, message=message)

    try:
        transfer(source, part, policy, on_retry=retrying, tick=tick)
        part.commit(cache / spec.filename)
    finally:
        part.discard()


def _look_in_cache(
    spec: SourceSpec, target: Path, on_event: EventSink | None
) -> Literal["good"] | SetAside | None:
    """``good``, or None when nothing is cached, or the bad file moved aside (never deleted)."""
    before = _stat(target)
    if before is None:
        return None
    try:
        verify(target, spec)
    except ChecksumMismatch as e:
        kept = target.with_name(f"{target.name}.mismatch-{e.sha256[:12]}")
        now = _stat(target)
        if now is None or (now.st_ino, now.st_mtime_ns) != (before.st_ino, before.st_mtime_ns):
            return None  # another process replaced it meanwhile: look again next time
        os.rename(target, kept)
        aside = SetAside(target, kept, e.algorithm, e.expected, e.actual, e.sha256)
        message = f"{aside.describe()}; fetching it again"
        _emit(on_event, spec, "discarded", source=str(target), message=message)
        return aside
    except FileNotFoundError:
        return None
    return "good"


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def fetch(
    spec: SourceSpec,
    cache: Path,
    mirrors: Sequence[str],
    *,
    on_event: EventSink | None = None,
    policy: Policy | None = None,
) -> Path:
    """Return the path of a verified copy of ``spec`` in ``cache``, fetching it if needed.

    ``mirrors`` are ``http(s)://`` or ``file://`` base URLs or local directories, tried
    in order, then ``spec.upstream_url``. ``policy`` bounds the tries of one place.
    Raises :class:`FetchFailed` listing every place tried, :class:`MissingChecksum`,
    :class:`BadFilename` or :class:`mason.errors.DiskFull`.
    """
    if "/" in spec.filename or spec.filename.startswith(".") or not spec.filename:
        raise BadFilename(spec.package, spec.filename)
    wanted = expected(spec)
    with disk_full_is_typed(cache, f"creating {cache}", None):
        cache.mkdir(parents=True, exist_ok=True)
    target = cache / spec.filename
    aside = _look_in_cache(spec, target, on_event)
    if aside == "good":
        _emit(on_event, spec, "cached", source=str(target))
        _warn_weak(spec, on_event)
        return target
    _sweep_dead_parts(cache, spec.filename)
    from mason.transfer import Policy, TransferFailed

    attempts: list[FetchAttempt] = []
    for source in _sources(spec, mirrors):
        _emit(on_event, spec, "trying", source=source)
        try:
            _download(spec, source, cache, wanted, policy or Policy(), on_event)
        except (TransferFailed, ChecksumMismatch) as e:
            reason = _why(e)
            attempts.append(FetchAttempt(source, reason))
            _emit(on_event, spec, "failed", source=source, message=reason)
            continue
        _emit(on_event, spec, "fetched", source=source)
        _warn_weak(spec, on_event)
        return target
    raise FetchFailed(spec.package, spec.filename, attempts, aside)


def _why(error: Exception) -> str:
    if isinstance(error, ChecksumMismatch):
        return (
            f"{error.algorithm} mismatch: expected {error.expected}, got {error.actual} "
            "(the mirror serves other bytes than checksums.ini describes)"
        )
    return str(error)


def _warn_weak(spec: SourceSpec, on_event: EventSink | None) -> None:
    if is_weak(spec):
        why = f"{spec.filename}: only md5/cksum checked; add sha256 to checksums.ini"
        _emit(on_event, spec, "weak", message=why)
