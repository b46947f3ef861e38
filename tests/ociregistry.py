"""A real OCI registry on 127.0.0.1 for tests: Debian's ``docker-registry`` (distribution).

``scripts/setup-dev`` unpacks it into ``.dev/tools/usr/bin/docker-registry`` (never as a
service). :func:`running_registry` starts it on a free loopback port with a temporary
``config.yml`` and storage directory (filesystem driver), waits for ``/v2/``, and stops
it by its pid. With ``token=True`` the registry wants a Bearer token (its ``silly`` auth:
any token is accepted, but the client must fetch one from the realm first), and a small
token server on loopback answers the realm, logging who asked.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REGISTRY = REPO / ".dev" / "tools" / "usr" / "bin" / "docker-registry"


def registry_binary() -> Path:
    """The registry, or a skip saying how to get it."""
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip(f"no {REGISTRY}: run scripts/setup-dev (it unpacks Debian's docker-registry)")
    return REGISTRY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Quiet(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(
    handler: type[http.server.BaseHTTPRequestHandler], host: str = "127.0.0.1"
) -> Iterator[str]:
    """A threaded HTTP server of ``handler`` on a free port of ``host``; yields its
    ``host:port`` and stops it on exit."""
    httpd = http.server.ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class TokenServer:
    url: str
    requests: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


@contextmanager
def token_server() -> Iterator[TokenServer]:
    """A Bearer token realm on loopback: any GET gets a token."""
    server_state = TokenServer("")

    class Handler(Quiet):
        def do_GET(self) -> None:
            server_state.requests.append(self.path)
            server_state.authorizations.append(self.headers.get("Authorization"))
            body = json.dumps({"token": "mason-test-token", "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler) as netloc:
        server_state.url = f"http://{netloc}/token"
        yield server_state


@dataclass
class RunningRegistry:
    port: int
    storage: Path
    pid: int
    repository: str = "mason/cache"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, repository: str | None = None) -> str:
        return f"oci://{self.netloc}/{repository or self.repository}"

    def blob_file(self, digest: str) -> Path:
        """Where the filesystem driver keeps blob ``digest`` (to tamper with it)."""
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def with_repository(registry: RunningRegistry, request: pytest.FixtureRequest) -> RunningRegistry:
    """``registry`` (shared by a module's tests) with a repository of this test's own."""
    repository = "t/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return RunningRegistry(registry.port, registry.storage, registry.pid, repository)


def _config(port: int, storage: Path, realm: str | None) -> str:
    auth = ""
    if realm is not None:
        auth = f"auth:\n  silly:\n    realm: {realm}\n    service: mason-test\n"
    return (
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"{auth}http:\n  addr: 127.0.0.1:{port}\n"
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v2/")
            status = conn.getresponse().status
            conn.close()
            if status in (200, 401):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("docker-registry did not answer /v2/ within 10 s")


@contextmanager
def running_registry(tmp: Path, *, realm: str | None = None) -> Iterator[RunningRegistry]:
    """A registry in ``tmp`` (its config, storage and log), stopped by pid on exit."""
    binary = registry_binary()
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = tmp / "storage"
    config = tmp / "config.yml"
    config.write_text(_config(port, storage, realm))
    log = tmp / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(binary), "serve", str(config)], stdout=out, stderr=out)
    try:
        _wait_ready(port, proc, log)
        yield RunningRegistry(port, storage, proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def skopeo_inspect(registry: RunningRegistry, repository: str, tag: str) -> dict[str, object]:
    """``skopeo inspect`` of what is at ``repository:tag`` (skip without skopeo)."""
    exe = shutil.which("skopeo")
    if exe is None:
        pytest.skip("skopeo is not installed (Debian: skopeo)")
    ref = f"docker://{registry.netloc}/{repository}:{tag}"
    done = subprocess.run(
        [exe, "inspect", "--tls-verify=false", ref], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@dataclass
class Redirector:
    """A server on 127.0.0.1 that wants Basic auth and then answers every GET with a
    redirect to the same path on a server on 127.0.0.2 (another host: the Authorization
    header must not follow), which forwards it to the registry and logs what it got."""

    netloc: str
    repository: str
    seen_by_other_host: list[str | None] = field(default_factory=list)

    def url(self) -> str:
        return f"oci://{self.netloc}/{self.repository}"


@contextmanager
def redirector(registry: RunningRegistry) -> Iterator[Redirector]:
    state = Redirector("", registry.repository)

    class Other(Quiet):
        def do_GET(self) -> None:
            state.seen_by_other_host.append(self.headers.get("Authorization"))
            conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=30)
            conn.request("GET", self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            self.send_response(resp.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Front(Quiet):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") is None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
            else:
                self.send_response(307)
                self.send_header("Location", f"http://{other_netloc}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Other, "127.0.0.2") as other_netloc, serving(Front) as front_netloc:
        state.netloc = front_netloc
        yield state


@dataclass
class FlakyProxy:
    """A loopback proxy in front of a registry: the first requests fail as told
    (``"503"``: a Service Unavailable answer; ``"drop"``: the connection closed with no
    answer), the rest are forwarded."""

    netloc: str
    failures: list[str]
    repository: str
    seen: list[str] = field(default_factory=list)

    def url(self) -> str:
        return f"oci://{self.netloc}/{self.repository}"


@contextmanager
def flaky_proxy(registry: RunningRegistry, failures: list[str]) -> Iterator[FlakyProxy]:
    state = FlakyProxy("", list(failures), registry.repository)
    lock = threading.Lock()

    class Handler(Quiet):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            state.seen.append(f"{self.command} {self.path}")
            with lock:
                failure = state.failures.pop(0) if state.failures else None
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if failure == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if failure == "503":
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=30)
            headers = {k: v for k, v in self.headers.items()}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    with serving(Handler) as netloc:
        state.netloc = netloc
        yield state
