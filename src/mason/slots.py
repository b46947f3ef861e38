"""What a job's own thread calls to hand its job slot back or to wait for one
(:mod:`mason.scheduler` sets them up for each job it runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable

job_hooks = threading.local()
"""Per job thread: ``acquire``, ``release`` and ``dependencies``, the callables the
scheduler set (or None)."""


class SlotCancelled(BaseException):
    """Raised by :func:`acquire_slot` in a job prepared ahead when the run stopped: the job
    must end at once (cleaning up what it prepared) and let this through."""


def acquire_slot() -> None:
    """Wait, in a job started ahead without a slot, until the scheduler gives it one.

    No-op in a job that already holds its slot (started with one, or asked already) and
    outside a run. Raises :class:`SlotCancelled` when the run stopped instead.
    """
    acquire: Callable[[], None] | None = getattr(job_hooks, "acquire", None)
    if acquire is not None:
        job_hooks.acquire = None
        acquire()


def release_slot() -> None:
    """Give the calling job's slot back before the job ends (once; no-op outside a job).

    Called from a job's own thread when what is left of the job needs no share of the
    budget (no ``make``, no compiler): the scheduler starts the next ready job in its place.
    """
    release: Callable[[], None] | None = getattr(job_hooks, "release", None)
    if release is not None:
        job_hooks.release = None
        release()


def wait_for_dependencies() -> None:
    """Wait, in a job started early (before its dependencies ended: ``start_early`` of
    :func:`mason.scheduler.run`), until they succeeded. No-op in any other job and outside
    a run. Raises :class:`SlotCancelled` when one failed or the run stopped instead."""
    wait: Callable[[], None] | None = getattr(job_hooks, "dependencies", None)
    if wait is not None:
        job_hooks.dependencies = None
        wait()
