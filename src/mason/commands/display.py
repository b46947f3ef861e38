"""Showing progress: one line per event, or a live display on a terminal."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, TextIO

from mason.events import Event

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


class LineDisplay:
    """``[name-version] what happened`` per event, for logs and pipes."""

    def __init__(self, stream: TextIO, verbose: bool = False) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._verbose = verbose
        self.shows_lines = verbose  # without -v the builds' lines go nowhere

    def line(self, label: str, text: str) -> None:
        """A new line of a running build's log: shown with ``-v``, as ``[label] text``."""
        if self._verbose:
            with self._lock:
                print(f"[{label}] {text}", file=self._stream, flush=True)

    def __call__(self, event: Event) -> None:
        if event.phase == "slots":  # for the run's report, not for the reader
            return
        if event.phase == "planned":
            line = event.message
        else:
            text = f"{event.phase}: {event.message}" if event.message else event.phase
            line = f"[{event.label}] {text}"
        with self._lock:
            print(line, file=self._stream, flush=True)


class LiveDisplay:
    """A rich live view: running packages with their phase and time, done/total."""

    def __init__(self, console: Console, verbose: bool = False) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._verbose = verbose
        self._last: dict[str, str] = {}
        self._running: dict[str, tuple[str, float]] = {}
        self._total = 0
        self._done = 0
        self._failed = 0
        self._skipped = 0  # counted apart from failures, as the final summary counts them
        self._start = time.time()

    def __call__(self, event: Event) -> None:
        with self._lock:
            shown = self._apply(event)
        if shown is not None:
            # Printed outside the lock: rich's Live takes its own lock to print, and its
            # refresh thread takes that lock first, then this one (in render).
            self._console.print(shown, highlight=False)

    def _apply(self, event: Event) -> str | None:
        """Take ``event`` into the view; what to print above it, if anything."""
        label = event.label
        if event.phase == "planned":
            self._total = int(event.message.split()[0]) if event.message[:1].isdigit() else 0
            return event.message
        if event.phase in ("done", "failed", "skipped"):
            self._running.pop(label, None)
            self._last.pop(label, None)
            self._done += 1
            self._failed += event.phase == "failed"
            self._skipped += event.phase == "skipped"
            style = {"done": "green", "failed": "bold red", "skipped": "yellow"}[event.phase]
            tail = f": {event.message}" if event.message else ""
            return f"[{style}]{event.phase:>7}[/] {label}{tail}"
        if event.phase == "warning":
            return f"[yellow]warning[/] {label}: {event.message}"
        if event.phase != "slots":
            since = self._running.get(label, ("", event.time))[1]
            self._running[label] = (event.phase, since)
        return None

    def line(self, label: str, text: str) -> None:
        """A new line of a running build's log: kept as its last line, printed with ``-v``."""
        with self._lock:
            if text.strip():
                self._last[label] = text.strip()
        if self._verbose:
            self._console.print(f"[{label}] {text}", highlight=False, markup=False)

    def render(self) -> RenderableType:
        from rich.table import Table

        with self._lock:
            running = sorted(self._running.items(), key=lambda kv: kv[1][1])
        now = time.time()
        table = Table.grid(padding=(0, 2))
        elapsed = now - self._start
        table.add_row(
            f"[bold]{self._done}/{self._total}[/] done" if self._total else "planning",
            f"{len(self._running)} running",
            ", ".join(
                f"{n} {what}"
                for n, what in ((self._failed, "failed"), (self._skipped, "skipped"))
                if n
            ),
            f"{elapsed:5.0f}s",
        )
        for label, (phase, since) in running:
            last = self._last.get(label, "")
            table.add_row(f"  {label}", phase, last[-60:], f"{now - since:5.0f}s")
        return table


class Display(Protocol):
    """An event sink that also shows running builds' log lines (``shows_lines``: whether
    it shows any, so that the logs need to be followed)."""

    shows_lines: bool

    def __call__(self, event: Event) -> None: ...

    def line(self, label: str, text: str) -> None: ...


@contextmanager
def display(stream: TextIO = sys.stdout, *, verbose: bool = False) -> Iterator[Display]:
    """Yield a display suited to ``stream``: live on a terminal, lines otherwise; with
    ``verbose``, every line of the running builds' output too, prefixed by package."""
    if not stream.isatty():
        yield LineDisplay(stream, verbose)
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stream)
    view = LiveDisplay(console, verbose)
    with Live(
        console=console, refresh_per_second=4, transient=True, get_renderable=view.render
    ) as live:

        class Sink:
            shows_lines = True  # the last line of each running build, or all with -v

            def __call__(self, event: Event) -> None:
                view(event)
                live.refresh()  # else the view shown until the next tick is stale (0/0 done)

            def line(self, label: str, text: str) -> None:
                view.line(label, text)

        yield Sink()
