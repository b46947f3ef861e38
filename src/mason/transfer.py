"""One download from one place, surviving a flaky mirror (issue 16.4).

:func:`transfer` copies one URL (or local file) into a :class:`Receiver`. A transient
failure — the connection refused or dropped mid-body, fewer bytes than
``Content-Length``, a stall longer than the timeout, HTTP 408/429/500/502/503/504 — is
retried up to ``Policy.attempts`` times with exponential backoff; a retry asks for the
rest with ``Range: bytes=N-`` and appends when the server answers ``206`` from byte N,
or starts over when it answers ``200``. A permanent failure (404, a redirect loop, a
local file missing) is not retried. Either way :class:`TransferFailed` says what went
wrong, in words a user can act on; the caller moves on to the next mirror.

A full disk is never the mirror's fault: the receiver raises :class:`mason.errors.DiskFull`,
which passes through untouched.
"""

from __future__ import annotations

import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from mason import __version__

USER_AGENT = f"mason/{__version__}"

_CHUNK = 1 << 20
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class Policy:
    """How hard to try one place."""

    timeout: float = 30.0
    """Seconds to connect, and the longest a transfer may stall without a byte."""
    attempts: int = 3
    """Tries of one place for a transient failure (1: no retry)."""
    backoff: float = 1.0
    """Seconds before the second try; doubled before each further one."""


class Receiver(Protocol):
    """Where the bytes go: a file and its running checksums."""

    @property
    def size(self) -> int: ...
    def write(self, data: bytes) -> None: ...
    def restart(self) -> None: ...


RetryNotice = Callable[[str, int, float, int], None]
"""Called before a retry with (why, the try about to start, the delay, resume offset)."""


class TransferFailed(Exception):
    """One place did not deliver; ``reason`` says why (with the number of tries)."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def transfer(
    source: str,
    into: Receiver,
    policy: Policy,
    on_retry: RetryNotice | None = None,
    tick: Callable[[int, int | None], None] | None = None,
) -> None:
    """Copy ``source`` into ``into`` (empty at the start), retrying transient failures."""
    if not source.startswith(("http://", "https://")):
        _copy_local(_local_path(source), into, tick)
        return
    for attempt in range(1, policy.attempts + 1):
        try:
            _attempt(source, into, policy, tick)
            return
        except TransferFailed as e:
            if not e.transient or attempt == policy.attempts:
                tries = f" ({attempt} tries)" if attempt > 1 else ""
                raise TransferFailed(e.reason + tries, transient=e.transient) from e
            delay = policy.backoff * 2 ** (attempt - 1)
            if on_retry is not None:
                on_retry(e.reason, attempt + 1, delay, into.size)
            time.sleep(delay)


def _local_path(source: str) -> Path:
    if source.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(source).path))
    return Path(source)


def _copy_local(path: Path, into: Receiver, tick: Callable[[int, int | None], None] | None) -> None:
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        raise TransferFailed("no such file") from None
    except OSError as e:
        raise TransferFailed(f"cannot read: {e.strerror}") from None
    with stream:
        total = os.fstat(stream.fileno()).st_size
        _pump(stream, into, total, tick)


def _attempt(
    url: str, into: Receiver, policy: Policy, tick: Callable[[int, int | None], None] | None
) -> None:
    headers = {"User-Agent": USER_AGENT}
    if into.size:
        headers["Range"] = f"bytes={into.size}-"
    opener = urllib.request.build_opener()  # follows at most 10 redirects, stops a loop
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=policy.timeout)
    except urllib.error.HTTPError as e:
        raise _http_failure(e) from None
    except urllib.error.URLError as e:
        raise _connect_failure(e.reason, policy) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
        raise _connect_failure(e, policy) from None
    with resp:
        total = _resume_point(resp, into)
        try:
            _pump(resp, into, total, tick)
        except http.client.IncompleteRead:
            pass  # reported just below, with the counts
        except TimeoutError:
            raise TransferFailed(
                f"stalled: no data for {policy.timeout:g} s after {into.size} bytes",
                transient=True,
            ) from None
        except (ConnectionError, http.client.HTTPException) as e:
            raise TransferFailed(
                f"connection lost after {into.size} bytes: {_words(e)}", transient=True
            ) from None
    if total is not None and into.size != total:
        raise TransferFailed(
            f"connection closed early: got {into.size} of {total} bytes", transient=True
        )


def _resume_point(resp: http.client.HTTPResponse, into: Receiver) -> int | None:
    """The full size expected, after lining ``into`` up with what the server sends."""
    length = resp.headers.get("Content-Length")
    size = int(length) if length and length.isdigit() else None
    if resp.status == 206 and into.size:
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
        if match and int(match[1]) == into.size:
            return int(match[3]) if match[3] != "*" else None
        into.restart()
        raise TransferFailed(
            "the server sent a range that does not continue the file", transient=True
        )
    if into.size:
        into.restart()  # the server ignored Range: take the whole file again
    return size


def _pump(
    stream: BinaryIO | http.client.HTTPResponse,
    into: Receiver,
    total: int | None,
    tick: Callable[[int, int | None], None] | None,
) -> None:
    while chunk := stream.read(_CHUNK):
        into.write(chunk)
        if tick is not None:
            tick(into.size, total)


def _http_failure(e: urllib.error.HTTPError) -> TransferFailed:
    if 300 <= e.code < 400:
        return TransferFailed(f"redirect loop: HTTP {e.code} redirects lead back or go on forever")
    retry = e.code in _TRANSIENT_STATUS
    return TransferFailed(f"HTTP {e.code} {e.reason}", transient=retry)


def _connect_failure(reason: object, policy: Policy) -> TransferFailed:
    if isinstance(reason, TimeoutError):
        return TransferFailed(f"timed out after {policy.timeout:g} s", transient=True)
    if isinstance(reason, OSError) and reason.strerror:
        return TransferFailed(f"cannot connect: {reason.strerror}", transient=True)
    return TransferFailed(f"cannot connect: {_words(reason)}", transient=True)


def _words(e: object) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
