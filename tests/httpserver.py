"""A real HTTP server on 127.0.0.1 for tests: serves one directory, logs requests.

Paths under ``/slow/`` serve the same files in small chunks with pauses, so that
concurrent downloads really overlap; paths under ``/short/`` announce more bytes than
they send and close the connection, like a mirror dropping out mid-download; paths
under ``/redirect/`` answer 302 to the same file at the top.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Server:
    """A running server: ``url`` is its base (no trailing slash), ``requests`` its log."""

    url: str
    root: Path
    requests: list[str] = field(default_factory=list)


def _handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            mode, _, name = urllib.parse.unquote(self.path[1:]).rpartition("/")
            slow, short = mode == "slow", mode == "short"
            if mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "/" + urllib.parse.quote(name))
                self.end_headers()
                return
            path = server.root / name
            if mode not in ("", "slow", "short") or not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) + (1000 if short else 0)))
            self.end_headers()
            step = 4096 if slow else len(data) or 1
            for i in range(0, len(data), step):
                self.wfile.write(data[i : i + step])
                if slow:
                    self.wfile.flush()
                    time.sleep(0.005)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(root: Path) -> Iterator[Server]:
    """Serve ``root`` on an ephemeral port of 127.0.0.1 for the duration of the block."""
    server = Server(url="", root=root)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
