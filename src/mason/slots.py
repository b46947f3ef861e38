"""A job's own thread: what it calls to hand its job slot back or to wait for one, and
:func:`run_job`, which sets them up for each job :mod:`mason.scheduler` runs and tells the
scheduler what the job did."""

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


class Marker:
    """What a job tells the scheduler besides its end: it gave its slot back
    (:data:`RELEASED`), it asks for one (:data:`WANTED`), it ended without ever getting
    one because the run stopped (:data:`CANCELLED`)."""


RELEASED, WANTED, CANCELLED = Marker(), Marker(), Marker()

#: What a job's thread tells the scheduler: a :class:`Marker`, then its end (``None``:
#: it succeeded; else what it raised, or :data:`CANCELLED`).
Told = BaseException | Marker | None


def run_job(
    work: Callable[[], None],
    tell: Callable[[Told], None],
    grant: threading.Event | None,
    deps_ended: threading.Event | None,
    cancelled: Callable[[], bool],
) -> None:
    """Run ``work`` on this thread with its hooks set, then ``tell`` how it ended.

    ``grant``: the job started without a slot, and gets one when this is set (after
    :data:`WANTED`). ``deps_ended``: the job started early, before its dependencies ended.
    ``cancelled``: whether the run stopped before giving the job what it waits for.
    """

    def acquire() -> None:
        assert grant is not None
        tell(WANTED)
        grant.wait()
        if cancelled():
            raise SlotCancelled()
        job_hooks.release = lambda: tell(RELEASED)

    def dependencies() -> None:
        assert deps_ended is not None
        deps_ended.wait()
        if cancelled():
            raise SlotCancelled()

    job_hooks.dependencies = dependencies if deps_ended is not None else None
    job_hooks.acquire = acquire if grant is not None else None
    job_hooks.release = None if grant is not None else lambda: tell(RELEASED)
    ended: Told = None
    try:
        work()
    except SlotCancelled:
        ended = CANCELLED
    except BaseException as e:  # a failure of any kind is the job's failure
        ended = e
    finally:
        job_hooks.acquire = job_hooks.release = job_hooks.dependencies = None
    tell(ended)
