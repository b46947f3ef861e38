"""A job that gives its slot back (``release_slot``) lets the next job start at once; a
job prepared ahead (``prepare_ahead``) runs before it has a slot and waits for one
(``acquire_slot``)."""

from __future__ import annotations

import itertools
import threading
import time

from mason.jobserver import Jobserver
from mason.scheduler import (
    Job,
    SchedulerEvent,
    SlotCancelled,
    acquire_slot,
    release_slot,
    run,
)


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


def test_a_job_prepared_ahead_runs_before_its_slot_and_waits_for_it() -> None:
    # -j1: "second" is ready but the only slot is taken; prepared ahead, it runs its
    # preparation while "first" holds the slot (which waits for that), then asks for the
    # slot and gets it only once "first" gave it back.
    prepared = threading.Event()
    order: list[str] = []

    def work(name: str) -> None:
        if name == "first":
            if not prepared.wait(30):
                raise RuntimeError("the second job was not prepared ahead")
            order.append("first ends")
        else:
            prepared.set()
            acquire_slot()
            order.append("second has the slot")
            acquire_slot()  # a second call is a no-op

    jobs = {"first": Job("first", weight=2.0), "second": Job("second")}
    with Jobserver(1, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False, prepare_ahead=1)
        assert js.held == 0
    assert outcome.ok, outcome
    assert order == ["first ends", "second has the slot"]


def test_without_prepare_ahead_a_job_starts_with_its_slot() -> None:
    started: list[str] = []

    def work(name: str) -> None:
        acquire_slot()  # no-op: the job holds its slot from the start
        started.append(name)

    jobs = {"a": Job("a"), "b": Job("b"), "c": Job("c")}
    with Jobserver(2, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False)
    assert outcome.ok and sorted(started) == ["a", "b", "c"]


def test_a_stopped_run_cancels_the_jobs_waiting_for_a_slot() -> None:
    # "first" fails (no -k) once "second", prepared ahead, is about to ask for the slot:
    # "second" never gets one, its acquire_slot raises SlotCancelled, and it counts as
    # not started (its cleanup ran).
    asking = threading.Event()
    cleaned: list[str] = []

    def work(name: str) -> None:
        if name == "first":
            if not asking.wait(30):
                raise RuntimeError("the second job was not prepared ahead")
            raise ValueError("first fails")
        asking.set()
        try:
            acquire_slot()
        except SlotCancelled:
            cleaned.append(name)
            raise
        raise AssertionError("a stopped run gave a slot")

    jobs = {"first": Job("first", weight=2.0), "second": Job("second")}
    with Jobserver(1, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False, prepare_ahead=1)
        assert js.held == 0
    assert set(outcome.failed) == {"first"}
    assert outcome.not_started == ("second",)
    assert cleaned == ["second"]


def test_a_released_slot_is_kept_for_a_more_critical_dependent() -> None:
    # -j1: "dep" gives its slot back, but "crit" (waiting for "dep" alone) is more
    # critical than "filler", the only other job that could take it: the slot stays
    # "dep"'s until it ends, and "crit" starts before "filler".
    started: list[str] = []

    def work(name: str) -> None:
        started.append(name)
        if name == "dep":
            release_slot()

    jobs = {
        "dep": Job("dep", weight=1.0),
        "crit": Job("crit", deps=frozenset({"dep"}), weight=10.0),
        "filler": Job("filler", weight=0.5),
    }
    with Jobserver(1, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False)
    assert outcome.ok
    assert started == ["dep", "crit", "filler"]


def test_slots_events_count_the_jobs_holding_a_slot_never_above_the_budget() -> None:
    # -j2, two jobs prepared ahead, each giving its slot back for a "merge": up to 4 jobs
    # are between started and finished at once, but the slots told never exceed 2.
    told: list[int] = []
    alive, most_alive = 0, 0
    lock = threading.Lock()

    def work(name: str) -> None:
        nonlocal alive, most_alive
        with lock:
            alive += 1
            most_alive = max(most_alive, alive)
        time.sleep(0.02)  # prepared ahead, maybe without a slot
        acquire_slot()
        time.sleep(0.02)  # the build
        release_slot()
        time.sleep(0.04)  # the merge
        with lock:
            alive -= 1

    def seen(event: SchedulerEvent) -> None:
        if event.kind == "slots":
            assert event.job == ""
            told.append(event.slots)

    jobs = {f"j{i}": Job(f"j{i}") for i in range(12)}
    with Jobserver(2, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=False, on_event=seen, prepare_ahead=2)
    assert outcome.ok, outcome
    assert max(told) == 2 and told[-1] == 0, told
    assert all(a != b for a, b in itertools.pairwise(told))  # told on changes only
    assert most_alive > 2  # the count of started packages would have gone above -j
