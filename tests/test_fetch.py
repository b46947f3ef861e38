"""mason.fetch against a real HTTP server on 127.0.0.1, local mirrors and real processes."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from httpserver import refused_url, serve
from mason.catalog import Checksums
from mason.fetch import (
    BadFilename,
    ChecksumMismatch,
    FetchEvent,
    FetchFailed,
    MissingChecksum,
    SourceSpec,
    fetch,
    verify,
)


def make_tarball(path: Path, size: int = 2000) -> bytes:
    """A small real .tar.gz with one top directory; returns its bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = random.Random(size).randbytes(size)  # incompressible, so size is real
        info = tarfile.TarInfo("foo-1.0/data.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def spec_for(data: bytes, **kw: str | None) -> SourceSpec:
    fields: dict[str, str | None] = {"sha256": hashlib.sha256(data).hexdigest()}
    fields.update(kw)
    return SourceSpec("foo", "1.0", Checksums("foo-1.0.tar.gz", **fields))  # type: ignore[arg-type]


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, bytes]:
    root = tmp_path / "www"
    root.mkdir()
    return root, make_tarball(root / "foo-1.0.tar.gz")


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_download_and_verify(tmp_path: Path, served: tuple[Path, bytes]) -> None:
    root, data = served
    events: list[FetchEvent] = []
    with serve(root) as server:
        path = fetch(spec_for(data), tmp_path / "upstream", [server.url], on_event=events.append)
    assert path == tmp_path / "upstream" / "foo-1.0.tar.gz"
    assert path.read_bytes() == data
    assert cache_files(tmp_path / "upstream") == ["foo-1.0.tar.gz"]
    kinds = [e.kind for e in events]
    assert kinds[0] == "trying" and kinds[-1] == "fetched"
    assert events[-1].source == f"{server.url}/foo-1.0.tar.gz"
    assert any(e.kind == "progress" and e.done == len(data) == e.total for e in events)


def test_cached_file_is_used_without_network(tmp_path: Path, served: tuple[Path, bytes]) -> None:
    root, data = served
    cache = tmp_path / "upstream"
    cache.mkdir()
    (cache / "foo-1.0.tar.gz").write_bytes(data)
    events: list[FetchEvent] = []
    with serve(root) as server:
        fetch(spec_for(data), cache, [server.url], on_event=events.append)
        assert server.requests == []
    assert [e.kind for e in events] == ["cached"]


def test_checksum_mismatch_after_download(tmp_path: Path, served: tuple[Path, bytes]) -> None:
    root, _ = served
    cache = tmp_path / "upstream"
    with serve(root) as server, pytest.raises(FetchFailed) as info:
        fetch(spec_for(b"other content"), cache, [server.url])
    msg = str(info.value)
    assert "foo: cannot fetch foo-1.0.tar.gz" in msg
    assert f"{server.url}/foo-1.0.tar.gz: sha256 mismatch: expected " in msg
    assert hashlib.sha256(b"other content").hexdigest() in msg
    assert cache_files(cache) == []


def test_404_and_refused_mirrors_fall_back_to_the_next(
    tmp_path: Path, served: tuple[Path, bytes]
) -> None:
    root, data = served
    empty = tmp_path / "empty"
    empty.mkdir()
    events: list[FetchEvent] = []
    with serve(empty) as missing, serve(root) as good:
        mirrors = [refused_url(), missing.url, good.url]
        path = fetch(spec_for(data), tmp_path / "up", mirrors, on_event=events.append)
        assert missing.requests == ["/foo-1.0.tar.gz"]
    assert path.read_bytes() == data
    failures = [(e.source, e.message) for e in events if e.kind == "failed"]
    assert failures[0][1].startswith("cannot connect")
    assert failures[1] == (f"{missing.url}/foo-1.0.tar.gz", "HTTP 404 Not Found")
    assert len(failures) == 2


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_local_directory_mirror(tmp_path: Path, served: tuple[Path, bytes], as_url: bool) -> None:
    root, data = served
    mirror = root.as_uri() if as_url else str(root)
    path = fetch(spec_for(data), tmp_path / "up", [str(tmp_path / "nowhere"), mirror])
    assert path.read_bytes() == data
    assert cache_files(tmp_path / "up") == ["foo-1.0.tar.gz"]


def test_upstream_url_is_tried_after_the_mirrors(
    tmp_path: Path, served: tuple[Path, bytes]
) -> None:
    root, data = served
    with serve(root) as server:
        spec = spec_for(data, upstream_url=f"{server.url}/foo-1.0.tar.gz")
        assert fetch(spec, tmp_path / "up", []).read_bytes() == data


def test_bad_cached_file_is_discarded_and_fetched_again(
    tmp_path: Path, served: tuple[Path, bytes]
) -> None:
    root, data = served
    cache = tmp_path / "upstream"
    cache.mkdir()
    (cache / "foo-1.0.tar.gz").write_bytes(data[:100])
    events: list[FetchEvent] = []
    with serve(root) as server:
        path = fetch(spec_for(data), cache, [server.url], on_event=events.append)
    assert path.read_bytes() == data
    discarded = [e for e in events if e.kind == "discarded"]
    assert len(discarded) == 1
    assert discarded[0].source == str(cache / "foo-1.0.tar.gz")
    assert discarded[0].message.startswith(f"cached {cache / 'foo-1.0.tar.gz'} is bad (sha256 ")
    assert discarded[0].message.endswith("); fetching it again")
    assert cache_files(cache) == ["foo-1.0.tar.gz"]


def test_bad_cached_file_is_removed_when_nothing_else_works(tmp_path: Path) -> None:
    cache = tmp_path / "upstream"
    cache.mkdir()
    (cache / "foo-1.0.tar.gz").write_bytes(b"junk")
    with pytest.raises(FetchFailed):
        fetch(spec_for(b"the real thing"), cache, [])
    assert cache_files(cache) == []


def test_redirects_are_followed_and_names_quoted(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    name = "odd name+1.0.tar.gz"
    data = make_tarball(root / name)
    spec = SourceSpec("foo", "1.0", Checksums(name, sha256=hashlib.sha256(data).hexdigest()))
    with serve(root) as server:
        path = fetch(spec, tmp_path / "up", [f"{server.url}/redirect"])
        assert server.requests == ["/redirect/odd%20name%2B1.0.tar.gz", "/odd%20name%2B1.0.tar.gz"]
    assert path == tmp_path / "up" / name
    assert path.read_bytes() == data


def test_a_download_cut_short_moves_on(tmp_path: Path, served: tuple[Path, bytes]) -> None:
    root, data = served
    with serve(root) as server:
        events: list[FetchEvent] = []
        mirrors = [f"{server.url}/short", server.url]
        path = fetch(spec_for(data), tmp_path / "up", mirrors, on_event=events.append)
    assert path.read_bytes() == data
    [failed] = [e for e in events if e.kind == "failed"]
    assert failed.source == f"{server.url}/short/foo-1.0.tar.gz"
    assert failed.message.startswith("connection closed early: got ")
    assert cache_files(tmp_path / "up") == ["foo-1.0.tar.gz"]


def test_every_failure_is_listed_in_one_error(tmp_path: Path, served: tuple[Path, bytes]) -> None:
    root, _ = served
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = refused_url()
    with serve(empty) as missing, serve(root) as wrong:
        spec = spec_for(b"x", upstream_url=f"{missing.url}/upstream/foo-1.0.tar.gz")
        with pytest.raises(FetchFailed) as info:
            fetch(spec, tmp_path / "up", [refused, missing.url, wrong.url, str(empty)])
    err = info.value
    assert [a.source for a in err.attempts] == [
        f"{refused}/foo-1.0.tar.gz",
        f"{missing.url}/foo-1.0.tar.gz",
        f"{wrong.url}/foo-1.0.tar.gz",
        f"{empty}/foo-1.0.tar.gz",
        f"{missing.url}/upstream/foo-1.0.tar.gz",
    ]
    reasons = [a.reason for a in err.attempts]
    assert reasons[0].startswith("cannot connect")
    assert reasons[1] == reasons[4] == "HTTP 404 Not Found"
    assert reasons[2].startswith("sha256 mismatch")
    assert reasons[3] == "no such file"
    for a in err.attempts:
        assert f"  {a.source}: {a.reason}" in str(err)
    assert err.exit_code == 1
    assert cache_files(tmp_path / "up") == []


CHILD = """
import json, sys, time
from pathlib import Path
from mason.catalog import Checksums
from mason.fetch import SourceSpec, fetch
sums, cache, mirror, go, ready = json.loads(sys.argv[1])
spec = SourceSpec("foo", "1.0", Checksums(**sums))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.001)
print(fetch(spec, Path(cache), [mirror]))
"""


def test_concurrent_fetches_of_the_same_file(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    data = make_tarball(root / "foo-1.0.tar.gz", size=300_000)
    spec = spec_for(data)
    cache = tmp_path / "upstream"
    go = tmp_path / "go"
    with serve(root) as server:
        base = [spec.checksums.__dict__, str(cache), f"{server.url}/slow", str(go)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, json.dumps([*base, str(tmp_path / f"ready{i}")])],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        while len(list(tmp_path.glob("ready*"))) < 3:  # a barrier: all three start together
            time.sleep(0.001)
        go.touch()
        seen_partial = False
        while any(p.poll() is None for p in procs):
            target = cache / "foo-1.0.tar.gz"
            if target.exists() and target.read_bytes() != data:
                seen_partial = True
            time.sleep(0.001)
        outputs = [p.communicate()[0].strip() for p in procs]
        assert len(server.requests) == 3
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert outputs == [str(cache / "foo-1.0.tar.gz")] * 3
    assert not seen_partial
    assert cache_files(cache) == ["foo-1.0.tar.gz"]
    assert (cache / "foo-1.0.tar.gz").read_bytes() == data


def test_verify_policy(tmp_path: Path) -> None:
    f = tmp_path / "foo-1.0.tar.gz"
    f.write_bytes(b"hello")
    sha1 = hashlib.sha1(b"hello").hexdigest()
    sha256 = hashlib.sha256(b"hello").hexdigest()
    verify(f, spec_for(b"hello", sha1=sha1))
    verify(f, spec_for(b"hello", sha256=None, sha1=sha1.upper()))
    with pytest.raises(ChecksumMismatch) as info:
        verify(f, spec_for(b"hello", sha256="0" * 64, sha1=sha1))
    assert info.value.algorithm == "sha256" and info.value.actual == sha256
    assert str(info.value).startswith("foo: foo-1.0.tar.gz: sha256 mismatch")
    with pytest.raises(ChecksumMismatch):
        verify(f, spec_for(b"hello", sha1="0" * 40))
    with pytest.raises(MissingChecksum, match=re.escape("foo: checksums.ini gives no sha256")):
        verify(f, spec_for(b"hello", sha256=None))


def test_weak_checksums_md5_and_posix_cksum(tmp_path: Path) -> None:
    data = make_tarball(tmp_path / "foo-1.0.tar.gz", size=70_000)
    out = subprocess.run(
        ["cksum", str(tmp_path / "foo-1.0.tar.gz")], capture_output=True, text=True
    )
    crc = out.stdout.split()[0]
    md5 = hashlib.md5(data).hexdigest()
    events: list[FetchEvent] = []
    spec = spec_for(data, sha256=None, md5=md5, cksum=crc)
    path = fetch(spec, tmp_path / "up", [str(tmp_path)], on_event=events.append)
    assert path.read_bytes() == data
    assert [e.kind for e in events if e.kind in ("fetched", "weak")] == ["fetched", "weak"]
    with pytest.raises(ChecksumMismatch) as info:
        verify(path, spec_for(data, sha256=None, md5=md5, cksum=str(int(crc) ^ 1)))
    assert info.value.algorithm == "cksum" and info.value.actual == crc


def test_tarball_name_must_be_a_plain_file_name(tmp_path: Path) -> None:
    spec = SourceSpec("foo", "1.0", Checksums("../foo.tar.gz", sha256="0" * 64))
    with pytest.raises(BadFilename, match=re.escape("foo: tarball name '../foo.tar.gz'")):
        fetch(spec, tmp_path / "up", [str(tmp_path)])
    assert not (tmp_path / "up").exists()
