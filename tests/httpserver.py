"""A real HTTP server on 127.0.0.1 for tests: serves one directory, logs requests.

``/NAME`` serves ``root/NAME`` (and any deeper path under ``root``, such as SageMath's
``spkg/upstream/<package>/<tarball>``), honouring ``Range: bytes=N-`` with ``206``. A
first path segment picks a misbehaviour, like a flaky mirror:

* ``/slow/``: small chunks with pauses, so that concurrent downloads really overlap;
* ``/short/``: announces 1000 more bytes than it sends, then closes (EOF);
* ``/drop/``: sends half of what was asked for, then closes the connection;
  honours ``Range``, so a client that resumes gets the rest;
* ``/drop-norange/``: the same, but ignores ``Range`` (always the whole file from 0);
* ``/stall/``: sends half of what was asked for, then goes silent (until shutdown);
* ``/500/``, ``/503/``: answers that status (503 with ``Retry-After: 0``);
* ``/loop/``: redirects to itself forever;
* ``/redirect/``: 302 to the same file at the top;
* ``/wrong/``: 200 with other bytes (the file reversed).

``/once/<mode>/NAME`` misbehaves only on the first request for that path, then serves
normally. ``requests`` logs each path, ``ranges`` the ``Range`` header of each (or None).
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("slow", "short", "drop", "drop-norange", "stall", "500", "503", "loop", "wrong")


@dataclass
class Server:
    """A running server: ``url`` is its base (no trailing slash), ``requests`` its log."""

    url: str
    root: Path
    requests: list[str] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    stopping: threading.Event = field(default_factory=threading.Event)


def _split(path: str) -> tuple[str, str]:
    """(mode, file path under root) of a request path; ``once`` resolved by the caller."""
    parts = urllib.parse.unquote(path[1:]).split("/")
    if parts[0] == "once" and len(parts) > 2 and parts[1] in MODES:
        return "once/" + parts[1], "/".join(parts[2:])
    if parts[0] in MODES or parts[0] == "redirect":
        return parts[0], "/".join(parts[1:])
    return "", "/".join(parts)


def _handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            server.ranges.append(self.headers.get("Range"))
            server.seen[self.path] += 1
            mode, name = _split(self.path)
            if mode.startswith("once/"):
                mode = mode[5:] if server.seen[self.path] == 1 else ""
            if mode == "redirect":
                return self._redirect("/" + urllib.parse.quote(name))
            if mode == "loop":
                return self._redirect(self.path)
            path = server.root / name
            if ".." in Path(name).parts or not path.is_file():
                self.send_error(404)
                return
            if mode in ("500", "503"):
                self.send_response(int(mode))
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(path.read_bytes(), mode)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, data: bytes, mode: str) -> None:
            start = self._range_start(len(data)) if mode != "drop-norange" else 0
            if mode == "wrong":
                data = data[::-1]
            body = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body) + (1000 if mode == "short" else 0)))
            self.end_headers()
            if mode in ("drop", "drop-norange", "stall"):
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if mode == "stall":
                    server.stopping.wait(30)
                self.close_connection = True
                return
            step = 4096 if mode == "slow" else len(body) or 1
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                if mode == "slow":
                    self.wfile.flush()
                    time.sleep(0.005)

        def _range_start(self, size: int) -> int:
            value = self.headers.get("Range", "")
            if value.startswith("bytes=") and value.endswith("-") and value[6:-1].isdigit():
                start = int(value[6:-1])
                return start if start < size else 0
            return 0

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
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
