"""A job that gives its slot back (``release_slot``) lets the next job start at once."""

from __future__ import annotations

import threading

from mason.jobserver import Jobserver
from mason.scheduler import Job, release_slot, run


def test_a_released_slot_starts_the_next_job_while_the_first_finishes() -> None:
    # -j1: without the release, "second" could only start once "first" ended, and "first"
    # waits for "second" to have started: the run would fail "first" after 30 s.
    second_started = threading.Event()
    finished: list[str] = []

    def work(name: str) -> None:
        if name == "first":
            release_slot()
            release_slot()  # a second call is a no-op
            if not second_started.wait(30):
                raise RuntimeError("the released slot did not go to the next job")
        else:
            second_started.set()
        finished.append(name)

    jobs = {"first": Job("first", weight=2.0), "second": Job("second")}
    with Jobserver(1, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False)
        assert js.held == 0
    assert outcome.ok, outcome
    assert sorted(outcome.done) == ["first", "second"]


def test_a_job_that_released_its_slot_still_blocks_its_dependents() -> None:
    order: list[str] = []

    def work(name: str) -> None:
        if name == "base":
            release_slot()
        order.append(name)

    jobs = {"base": Job("base"), "top": Job("top", deps=frozenset({"base"}))}
    with Jobserver(2, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False)
    assert outcome.done == ("base", "top")
    assert order == ["base", "top"]


def test_release_slot_outside_a_run_does_nothing() -> None:
    release_slot()
