"""``start_early``: the slot a job gives back goes at once to its critical dependent, whose
work prepares while the job finishes and waits in ``wait_for_dependencies`` until it
ended; a failure of the job cancels the dependent (skipped), and the budget holds."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mason.jobserver import Jobserver
from mason.scheduler import Job, Outcome, SlotCancelled, release_slot, run, wait_for_dependencies


def _jobs() -> dict[str, Job]:
    # "top" waits for "base" alone and is the most critical: it inherits base's slot
    return {"base": Job("base", weight=1.0), "top": Job("top", deps=frozenset({"base"}))}


def run_early(
    jobs: dict[str, Job], work: Callable[[str], None], budget: int, keep_going: bool = False
) -> Outcome:
    """``run`` with ``start_early`` on a pipe jobserver of ``budget`` slots, every slot
    given back at the end."""
    with Jobserver(budget, "pipe") as js:
        outcome = run(jobs, work, jobserver=js, keep_going=keep_going, start_early=True)
        assert js.held == 0
    return outcome


def test_the_dependent_prepares_while_its_dependency_finishes() -> None:
    prepared = threading.Event()
    order: list[str] = []

    def work(name: str) -> None:
        if name == "base":
            release_slot()
            if not prepared.wait(30):  # -j1: only the handed-on slot lets "top" start
                raise RuntimeError("the dependent was not started early")
            order.append("base ends")
        else:
            prepared.set()
            order.append("top prepared")
            wait_for_dependencies()
            order.append("top builds")
            wait_for_dependencies()  # a second call is a no-op

    outcome = run_early(_jobs(), work, 1)
    assert outcome.ok, outcome
    assert outcome.done == ("base", "top")
    assert order == ["top prepared", "base ends", "top builds"]


def test_the_last_dependency_to_end_its_scripts_hands_its_slot_on() -> None:
    # -j1: "a" releases first ("top" still waits for "b", not started: "b" gets the slot),
    # then "b" does while "a" is still merging: "top" inherits b's slot and prepares
    prepared = threading.Event()
    order: list[str] = []

    def work(name: str) -> None:
        if name == "a":
            release_slot()
            if not prepared.wait(30):
                raise RuntimeError("the dependent was not started early")
            order.append("a ends")
        elif name == "b":
            release_slot()
        else:
            prepared.set()
            wait_for_dependencies()
            order.append("top builds")

    jobs = {
        "a": Job("a", weight=3.0),
        "b": Job("b", weight=2.0),
        "top": Job("top", deps=frozenset({"a", "b"})),
    }
    outcome = run_early(jobs, work, 1)
    assert outcome.ok, outcome
    assert order == ["a ends", "top builds"]


def test_a_failed_dependency_cancels_the_dependent_started_early() -> None:
    prepared = threading.Event()
    seen: list[str] = []

    def work(name: str) -> None:
        if name == "base":
            release_slot()
            prepared.wait(30)
            raise RuntimeError("the merge failed")
        prepared.set()
        try:
            wait_for_dependencies()
        except SlotCancelled:
            seen.append("cancelled")
            raise
        seen.append("built")

    outcome = run_early(_jobs(), work, 2, keep_going=True)
    assert list(outcome.failed) == ["base"]
    assert outcome.skipped == {"top": "base"}
    assert outcome.not_started == ()
    assert seen == ["cancelled"]


def test_never_more_jobs_at_work_than_the_budget() -> None:
    # a chain of critical jobs beside short ones, -j2: each job of the chain hands its slot
    # to the next one; counted between getting to work and releasing, never above 2
    at_work: list[str] = []
    most = [0]
    lock = threading.Lock()
    jobs = {f"c{i}": Job(f"c{i}", frozenset({f"c{i - 1}"} if i else ()), 5.0) for i in range(6)}
    jobs.update({f"s{i}": Job(f"s{i}", weight=0.1) for i in range(10)})

    def work(name: str) -> None:
        wait_for_dependencies()
        with lock:
            at_work.append(name)
            most[0] = max(most[0], len(at_work))
        with lock:
            at_work.remove(name)
        release_slot()

    outcome = run_early(jobs, work, 2)
    assert outcome.ok, outcome
    assert most[0] <= 2
    done = list(outcome.done)
    assert [n for n in done if n.startswith("c")] == [f"c{i}" for i in range(6)]


def test_without_start_early_the_dependent_starts_after_its_dependency() -> None:
    order: list[str] = []

    def work(name: str) -> None:
        if name == "base":
            release_slot()
        order.append(f"{name} starts")
        wait_for_dependencies()  # no-op

    with Jobserver(1, "pipe") as js:
        outcome = run(_jobs(), work, jobserver=js, keep_going=False)
    assert outcome.ok and order == ["base starts", "top starts"]
