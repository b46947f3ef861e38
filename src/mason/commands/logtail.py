"""Following the build logs of the running packages, for ``install -v`` and the live view.

An event sink in front of the display: a package's ``started`` event begins following its
log (``<prefix>/var/log/mason/<name>-<version>.log``), its end reads what is left and stops.
One thread polls the followed logs and hands each complete new line to ``on_line``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from mason.events import Event, EventSink

if TYPE_CHECKING:
    from mason.commands.display import Display

POLL_SECONDS = 0.2
LineSink = Callable[[str, str], None]


def following(logs: Path, view: Display) -> AbstractContextManager[EventSink]:
    """A :class:`LogTail` of ``logs`` in front of ``view``, or ``view`` itself when it
    shows no log line (lines on a pipe without ``-v``): no thread, no log read."""
    if view.shows_lines:
        return LogTail(logs, view, view.line)
    return nullcontext(view)


class LogTail:
    """Forwards events to ``forward`` and the running packages' new log lines to ``on_line``."""

    def __init__(self, logs: Path, forward: EventSink, on_line: LineSink) -> None:
        self._logs = logs
        self._forward = forward
        self._on_line = on_line
        self._lock = threading.Lock()
        self._offsets: dict[str, int] = {}
        self._partial: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="mason-logtail", daemon=True)

    def __enter__(self) -> LogTail:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def __call__(self, event: Event) -> None:
        label = event.label
        self._read(label)  # what the build printed so far comes before its next event
        if event.package and event.phase == "started":
            with self._lock:
                self._offsets[label] = 0
                self._partial[label] = b""
        elif event.package and event.phase in ("done", "failed", "skipped"):
            with self._lock:
                self._offsets.pop(label, None)
                self._partial.pop(label, None)
        self._forward(event)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            with self._lock:
                labels = list(self._offsets)
            for label in labels:
                self._read(label)

    def _read(self, label: str) -> None:
        with self._lock:
            if label not in self._offsets:
                return
            offset = self._offsets[label]
            try:
                with (self._logs / f"{label}.log").open("rb") as f:
                    if os.fstat(f.fileno()).st_size < offset:
                        offset, self._partial[label] = 0, b""  # emptied: the build began
                    f.seek(offset)
                    data = f.read()
            except OSError:
                return
            self._offsets[label] = offset + len(data)
            *lines, rest = (self._partial[label] + data).split(b"\n")
            self._partial[label] = rest
        for line in lines:
            self._on_line(label, line.decode(errors="replace").rstrip("\r"))
