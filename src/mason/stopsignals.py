"""The signals that stop a scheduler run (:func:`mason.scheduler.run`): Ctrl-C, and with
an ``on_stop`` callback SIGTERM too, caught on the main thread for the run's length."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

Handler = signal.Handlers | Callable[[int, FrameType | None], object] | int | None


class StopSignals:
    """Turns SIGINT (and SIGTERM with ``on_stop``) into ``stop()`` then ``wake()``, both
    called on the main thread; ``signals`` lists those received, in order."""

    def __init__(
        self,
        on_stop: Callable[[int, int], None] | None,
        stop: Callable[[], None],
        wake: Callable[[], None],
    ) -> None:
        self.on_stop, self.stop, self.wake = on_stop, stop, wake
        self.signals: list[int] = []
        self._catching = False
        self._saved_term: Handler = None

    def catch(self) -> None:
        """Install the handlers (where this is the main thread)."""
        self._catching = self._catch_sigint()
        self._saved_term = self._catch_sigterm()

    def restore(self, interrupted: bool) -> None:
        """Put the handlers back; a run stopped by a signal, with ``on_stop``: further
        signals keep going to ``on_stop``, so that the caller can report what was done
        and exit in order."""
        late = self.on_stop is not None and interrupted
        if self._catching:
            signal.signal(signal.SIGINT, self._late if late else signal.default_int_handler)
        if self._saved_term is not None:
            signal.signal(signal.SIGTERM, self._late if late else self._saved_term)

    def _catch_sigint(self) -> bool:
        """Turn the first Ctrl-C into "stop starting" instead of a KeyboardInterrupt.

        A KeyboardInterrupt could land between two updates of the state (a job marked
        running whose thread never started) and hang the run; a flag cannot. Only done
        where Python's default handler is in place, which is only the main thread's.
        """
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, self._on_signal)
        return True

    def _catch_sigterm(self) -> Handler:
        """With ``on_stop``, SIGTERM stops the run like Ctrl-C; returns the old handler."""
        if self.on_stop is None or threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(signal.SIGTERM, self._on_signal)

    def _late(self, signum: int, frame: FrameType | None) -> None:
        """A signal after a stopped run returned: passed on, never an exception."""
        self.signals.append(signum)
        if self.on_stop is not None:
            self.on_stop(signum, len(self.signals))

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()
        self.signals.append(signum)
        if self.on_stop is None:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one interrupts
        else:
            self.on_stop(signum, len(self.signals))
        self.wake()
