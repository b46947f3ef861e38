"""Flaky mirrors (issue 16.4) against a real HTTP server on 127.0.0.1 that misbehaves.

Each case: what the user is told (the URL and what went wrong), that the next mirror is
tried, and that the upstream cache never holds a partial or unverified file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path

import pytest

from httpserver import serve
from mason.catalog import Checksums
from mason.fetch import FetchEvent, FetchFailed, SourceSpec, fetch
from mason.transfer import Policy
from test_fetch import FAST, cache_files, make_tarball, spec_for

NAME = "foo-1.0.tar.gz"


@pytest.fixture
def www(tmp_path: Path) -> tuple[Path, bytes]:
    root = tmp_path / "www"
    root.mkdir()
    return root, make_tarball(root / NAME, size=200_000)


def fetch_from(
    tmp_path: Path, data: bytes, mirrors: list[str], policy: Policy = FAST
) -> tuple[Path, list[FetchEvent]]:
    events: list[FetchEvent] = []
    path = fetch(spec_for(data), tmp_path / "up", mirrors, on_event=events.append, policy=policy)
    assert path.read_bytes() == data
    assert cache_files(tmp_path / "up") == [NAME], "only the verified file, no .part left"
    return path, events


def failures(events: list[FetchEvent]) -> list[tuple[str | None, str]]:
    return [(e.source, e.message) for e in events if e.kind == "failed"]


def test_a_dropped_connection_resumes_with_range(tmp_path: Path, www: tuple[Path, bytes]) -> None:
    root, data = www
    with serve(root) as server:
        _, events = fetch_from(tmp_path, data, [f"{server.url}/once/drop"])
        assert server.ranges == [None, f"bytes={len(data) // 2}-"]
    [retry] = [e for e in events if e.kind == "retrying"]
    assert retry.source == f"{server.url}/once/drop/{NAME}"
    half = len(data) // 2
    assert retry.message == (
        f"connection closed early: got {half} of {len(data)} bytes; "
        f"try 2 of 3 in 0.01 s, resuming at byte {half}"
    )
    assert failures(events) == []


def test_a_server_that_ignores_range_is_read_again_from_the_start(
    tmp_path: Path, www: tuple[Path, bytes]
) -> None:
    root, data = www
    with serve(root) as server:
        _, events = fetch_from(tmp_path, data, [f"{server.url}/drop-norange", server.url])
        bad = f"{server.url}/drop-norange/{NAME}"
        assert server.requests[:3] == [f"/drop-norange/{NAME}"] * 3
    [(source, why), _] = failures(events)
    assert source == bad
    assert why == f"connection closed early: got {len(data) // 2} of {len(data)} bytes (3 tries)"


def test_fewer_bytes_than_content_length_is_retried_then_given_up(
    tmp_path: Path, www: tuple[Path, bytes]
) -> None:
    root, data = www
    with serve(root) as server:
        spec = spec_for(data)
        with pytest.raises(FetchFailed) as info:
            fetch(spec, tmp_path / "up", [f"{server.url}/short"], policy=FAST)
    flat = info.value.attempts[0]
    assert flat.source == f"{server.url}/short/{NAME}"
    assert (
        flat.reason
        == f"connection closed early: got {len(data)} of {len(data) + 1000} bytes (3 tries)"
    )
    assert cache_files(tmp_path / "up") == []


def test_a_stall_is_bounded_by_the_timeout(tmp_path: Path, www: tuple[Path, bytes]) -> None:
    root, data = www
    policy = Policy(timeout=0.3, attempts=2, backoff=0.01)
    with serve(root) as server:
        _, events = fetch_from(tmp_path, data, [f"{server.url}/stall", server.url], policy)
        _, resumed = fetch_from(tmp_path / "again", data, [f"{server.url}/once/stall"], policy)
    (source, why) = failures(events)[0]
    assert source == f"{server.url}/stall/{NAME}"
    assert why.startswith("stalled: no data for 0.3 s after ") and why.endswith(" (2 tries)")
    assert [e.kind for e in resumed if e.kind in ("retrying", "failed")] == ["retrying"]


def test_503_once_is_retried_and_500_moves_on(tmp_path: Path, www: tuple[Path, bytes]) -> None:
    root, data = www
    with serve(root) as server:
        _, events = fetch_from(tmp_path, data, [f"{server.url}/once/503"])
        assert [e.kind for e in events if e.kind in ("retrying", "failed")] == ["retrying"]
        _, events = fetch_from(tmp_path / "b", data, [f"{server.url}/500", server.url])
    assert failures(events)[0] == (
        f"{server.url}/500/{NAME}",
        "HTTP 500 Internal Server Error (3 tries)",
    )


def test_a_redirect_loop_is_not_followed_forever(tmp_path: Path, www: tuple[Path, bytes]) -> None:
    root, data = www
    with serve(root) as server:
        _, events = fetch_from(tmp_path, data, [f"{server.url}/loop", server.url])
        looped = [r for r in server.requests if r.startswith("/loop/")]
    (source, why) = failures(events)[0]
    assert source == f"{server.url}/loop/{NAME}"
    assert why.startswith("redirect loop: HTTP 302")
    assert len(looped) <= 11, "bounded, and not retried"


def test_wrong_bytes_never_reach_the_cache(tmp_path: Path, www: tuple[Path, bytes]) -> None:
    root, data = www
    with serve(root) as server:
        _, events = fetch_from(tmp_path, data, [f"{server.url}/wrong", server.url])
    (source, why) = failures(events)[0]
    assert source == f"{server.url}/wrong/{NAME}"
    wrong = hashlib.sha256(data[::-1]).hexdigest()
    assert why == (
        f"sha256 mismatch: expected {hashlib.sha256(data).hexdigest()}, got {wrong} "
        "(the mirror serves other bytes than checksums.ini describes)"
    )


@pytest.mark.parametrize("kind", ["http", "dir"])
def test_sagemath_mirror_layout(tmp_path: Path, kind: str) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "spkg/upstream/foo").mkdir(parents=True)
    data = make_tarball(mirror / "spkg/upstream/foo" / NAME)
    if kind == "dir":
        fetch_from(tmp_path, data, [str(mirror)])
        return
    with serve(mirror) as server:
        fetch_from(tmp_path, data, [server.url])
        assert server.requests == [f"/{NAME}", f"/spkg/upstream/foo/{NAME}"]


def test_parts_of_dead_fetches_are_swept_live_ones_kept(tmp_path: Path) -> None:
    cache = tmp_path / "up"
    cache.mkdir()
    dead, live, young = (cache / f".{NAME}.{tag}.part" for tag in ("dead", "live", "young"))
    for part in (dead, live, young):
        part.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(dead, (old, old))
    os.utime(live, (old, old))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = make_tarball(mirror / NAME)
    with live.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a fetch that is still running holds it
        fetch(spec_for(data), cache, [str(mirror)])
    assert cache_files(cache) == sorted([f".{NAME}.live.part", f".{NAME}.young.part", NAME])


def test_every_mirror_flaky_fails_with_each_url_and_cause(
    tmp_path: Path, www: tuple[Path, bytes]
) -> None:
    root, data = www
    with serve(root) as server:
        mirrors = [f"{server.url}/{mode}" for mode in ("drop-norange", "503", "wrong")]
        spec = SourceSpec("foo", "1.0", Checksums(NAME, sha256=hashlib.sha256(data).hexdigest()))
        with pytest.raises(FetchFailed) as info:
            fetch(spec, tmp_path / "up", mirrors, policy=FAST)
    text = str(info.value)
    assert f"{server.url}/drop-norange/{NAME}: connection closed early: got " in text
    assert f"{server.url}/503/{NAME}: HTTP 503 Service Unavailable (3 tries)" in text
    assert f"{server.url}/wrong/{NAME}: sha256 mismatch" in text
    assert cache_files(tmp_path / "up") == []
