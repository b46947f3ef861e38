"""The scheduler with real make builds under one jobserver budget."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from mason.errors import BadInput
from mason.jobserver import Jobserver, JobserverStyle
from mason.scheduler import (
    BadJobGraph,
    Job,
    Outcome,
    SchedulerEvent,
    critical_paths,
    run,
)
from test_jobserver import (
    client_command,
    installed_make_44,
    intervals,
    max_running,
    run_client,
    write_client,
    write_makefile,
)

JOBS_PER_PACKAGE = 20
SLEEP = 0.05


def job(name: str, *deps: str, weight: float = 1.0) -> Job:
    return Job(name, frozenset(deps), weight)


def graph(*jobs: Job) -> dict[str, Job]:
    return {j.name: j for j in jobs}


def make_work(root: Path, js: Jobserver, make: str = "make") -> Callable[[str], None]:
    """``work``: build the package ``root/<name>`` with make, as a recipe would."""

    def work(name: str) -> None:
        stderr = run_client([make, "-s", "--no-print-directory"], js, cwd=root / name)
        if "jobserver" in stderr:
            raise RuntimeError(f"{name}: make did not join the jobserver: {stderr}")

    return work


def shell_work(scripts: Mapping[str, str], log: list[str] | None = None) -> Callable[[str], None]:
    """``work``: run ``scripts[name]`` in bash (``true`` by default); raise if it fails."""

    def work(name: str) -> None:
        if log is not None:
            log.append(name)
        subprocess.run(["bash", "-c", scripts.get(name, "true")], check=True)

    return work


def four_packages(tmp_path: Path) -> tuple[Path, dict[str, Job]]:
    log = tmp_path / "intervals"
    names = ["alpha", "beta", "gamma", "delta"]
    for name in names:
        write_makefile(tmp_path / name, name, log, JOBS_PER_PACKAGE, SLEEP)
    return log, graph(*(job(name) for name in names))


def check_packages_share_the_budget(
    tmp_path: Path, budget: int, style: JobserverStyle, make: str = "make"
) -> None:
    log, jobs = four_packages(tmp_path)
    with Jobserver(budget, style) as js:
        outcome = run(jobs, make_work(tmp_path, js, make), jobserver=js, keep_going=False)
        assert js.held == 0
    assert outcome.ok, outcome
    spans = intervals(log)
    assert len(spans) == 4 * JOBS_PER_PACKAGE
    assert max_running(spans) == budget, "never above the budget, and the budget is used"


@pytest.mark.parametrize("budget", [3, 1])
def test_make_jobs_of_all_packages_share_the_budget(tmp_path: Path, budget: int) -> None:
    check_packages_share_the_budget(tmp_path, budget, "pipe")


@pytest.mark.skipif(installed_make_44() is None, reason="no make >= 4.4 (set MASON_TEST_MAKE44)")
def test_make_44_jobs_of_all_packages_share_the_budget_through_the_fifo(tmp_path: Path) -> None:
    make = installed_make_44()
    assert make is not None
    check_packages_share_the_budget(tmp_path, 3, "fifo", make)


@pytest.mark.parametrize("style", ["pipe", "fifo"])
def test_both_jobserver_forms_hold_the_budget_across_packages(
    tmp_path: Path, style: JobserverStyle
) -> None:
    log, client = tmp_path / "intervals", write_client(tmp_path)
    jobs = graph(*(job(f"p{i}") for i in range(4)))
    with Jobserver(3, style) as js:

        def work(name: str) -> None:
            run_client(client_command(client, log, name, JOBS_PER_PACKAGE, SLEEP), js)

        outcome = run(jobs, work, jobserver=js, keep_going=False)
    assert outcome.ok, outcome
    spans = intervals(log)
    assert len(spans) == 4 * JOBS_PER_PACKAGE
    assert max_running(spans) == 3


def test_longest_critical_path_starts_first(tmp_path: Path) -> None:
    jobs = graph(
        job("x", weight=1),
        job("x2", "x", weight=10),
        job("y", weight=5),
        job("z", weight=2),
        job("z2", "z", weight=2),
    )
    assert critical_paths(jobs) == {"x": 11, "x2": 10, "y": 5, "z": 4, "z2": 2}
    started: list[str] = []
    with Jobserver(1, "pipe") as js:
        outcome = run(jobs, shell_work({}, started), jobserver=js, keep_going=False)
    assert outcome.ok
    assert started == ["x", "x2", "y", "z", "z2"]
    assert outcome.done == ("x", "x2", "y", "z", "z2"), "budget 1 is strictly serial"


def test_keep_going_runs_everything_not_depending_on_a_failure() -> None:
    jobs = graph(
        job("a", weight=5),
        job("b", "a"),
        job("c", "b"),
        job("d"),
        job("e", "a"),
        job("f", "d"),
    )
    events: list[SchedulerEvent] = []
    with Jobserver(2, "pipe") as js:
        outcome = run(
            jobs, shell_work({"a": "exit 3"}), jobserver=js, keep_going=True, on_event=events.append
        )
    assert sorted(outcome.done) == ["d", "f"]
    assert list(outcome.failed) == ["a"]
    assert isinstance(outcome.failed["a"], subprocess.CalledProcessError)
    assert outcome.skipped == {"b": "a", "c": "a", "e": "a"}
    assert outcome.not_started == ()
    assert not outcome.ok
    skips = {e.job: e.blocked_by for e in events if e.kind == "skipped"}
    assert skips == {"b": "a", "c": "a", "e": "a"}


def test_without_keep_going_the_first_failure_stops_new_starts() -> None:
    # Budget 2: a (longest path) and b start together; a fails at once, b is let finish,
    # c is never started, d (a's dependent) is skipped.
    jobs = graph(job("a", weight=3), job("b", weight=2), job("c"), job("d", "a"))
    with Jobserver(2, "pipe") as js:
        outcome = run(
            jobs, shell_work({"a": "exit 1", "b": "sleep 0.3"}), jobserver=js, keep_going=False
        )
    assert outcome.done == ("b",)
    assert list(outcome.failed) == ["a"]
    assert outcome.skipped == {"d": "a"}
    assert outcome.not_started == ("c",)


def test_events_come_in_order_with_timestamps() -> None:
    events: list[SchedulerEvent] = []
    jobs = graph(job("a"), job("b", "a"))
    with Jobserver(2, "pipe") as js:
        run(jobs, shell_work({}), jobserver=js, keep_going=False, on_event=events.append)
    assert [(e.kind, e.job or e.slots) for e in events] == [
        ("started", "a"),
        ("slots", 1),
        ("finished", "a"),
        ("started", "b"),  # in a's slot: the count did not change, so nothing told
        ("finished", "b"),
        ("slots", 0),
    ]
    times = [e.time for e in events]
    assert times == sorted(times) and abs(times[0] - time.time()) < 60


def test_a_make_killed_mid_build_does_not_shrink_the_next_run(tmp_path: Path) -> None:
    log, jobs = four_packages(tmp_path)
    started = tmp_path / "victim.log"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "Makefile").write_text(
        "all: t1 t2 t3 t4\n.PHONY: all t1 t2 t3 t4\n"
        f"t1 t2 t3 t4:\n\t@echo $@ >> {started}; sleep 30\n"
    )
    with Jobserver(3, "pipe") as js:

        def kill_make_once_busy(name: str) -> None:
            env = {**os.environ, "MAKEFLAGS": js.makeflags()}
            make = subprocess.Popen(
                ["make", "-s", "-C", str(victim)],
                env=env,
                pass_fds=js.pass_fds(),
                start_new_session=True,
            )
            deadline = time.monotonic() + 60
            while not (started.exists() and len(started.read_text().split()) >= 3):
                # make runs 3 jobs: it holds both tokens of the pool
                assert time.monotonic() < deadline, "make never ran 3 jobs"
                time.sleep(0.01)
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
            raise RuntimeError("make was killed")

        crashed = run(graph(job("victim")), kill_make_once_busy, jobserver=js, keep_going=False)
        assert list(crashed.failed) == ["victim"]
        assert crashed.lost_tokens == 2
        outcome = run(jobs, make_work(tmp_path, js), jobserver=js, keep_going=False)
    assert outcome.ok and outcome.lost_tokens == 0
    assert max_running(intervals(log)) == 3, "the full budget is back"


def test_bad_graph_reports_every_problem_at_once() -> None:
    jobs = {
        "a": job("a", "ghost"),
        "b": job("not-b"),
        "c": job("c", weight=-1),
    }
    with Jobserver(1, "pipe") as js, pytest.raises(BadJobGraph) as info:
        run(jobs, shell_work({}), jobserver=js, keep_going=False)
    assert isinstance(info.value, BadInput)
    assert len(info.value.problems) == 3
    message = str(info.value)
    assert "'ghost'" in message and "'not-b'" in message and "c: weight" in message


def test_cycle_is_bad_input() -> None:
    jobs = graph(job("a", "b"), job("b", "a"), job("c"))
    with Jobserver(1, "pipe") as js, pytest.raises(BadJobGraph, match=r"cycle: .*a.*b"):
        run(jobs, shell_work({}), jobserver=js, keep_going=False)


INTERRUPTED = r"""
import json, signal, subprocess, sys
from mason.jobserver import Jobserver
from mason.scheduler import Job, run

# As on a terminal: a background job of a non-interactive shell inherits SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)

def on_event(event):
    if event.kind != "slots":
        print(event.kind, event.job, flush=True)

def work(name):
    quiet = subprocess.DEVNULL  # an orphaned sleep must not hold the test's pipes open
    subprocess.run(["sleep", sys.argv[1]], check=True, stdout=quiet, stderr=quiet)

jobs = {n: Job(n, weight=w) for n, w in [("a", 3), ("b", 2), ("c", 1)]}
with Jobserver(1, "pipe") as js:
    outcome = run(jobs, work, jobserver=js, keep_going=True, on_event=on_event)
print(json.dumps({"done": outcome.done, "not_started": outcome.not_started,
                  "interrupted": outcome.interrupted}))
"""


@contextlib.contextmanager
def interruptible(sleep: float) -> Iterator[subprocess.Popen[str]]:
    """A scheduler process whose first job sleeps ``sleep`` s, yielded once that started;
    its whole process group is killed afterwards."""
    with subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, str(sleep)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "started a\n"
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def test_ctrl_c_stops_new_starts_and_lets_the_running_job_finish() -> None:
    with interruptible(0.5) as proc:
        proc.send_signal(signal.SIGINT)  # only the scheduler's process, not the running build
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "finished a"
    assert json.loads(lines[-1]) == {
        "done": ["a"],
        "not_started": ["b", "c"],
        "interrupted": True,
    }


def test_second_ctrl_c_stops_waiting() -> None:
    with interruptible(30) as proc:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)  # let the first one be handled; if not, the second alone still raises
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGINT  # how Python ends on a KeyboardInterrupt
    assert "KeyboardInterrupt" in err
    assert "finished" not in out


def test_outcome_ok_only_when_everything_succeeded() -> None:
    assert Outcome(done=("a",), failed={}, skipped={}, not_started=()).ok
    assert not Outcome(done=(), failed={}, skipped={}, not_started=("a",)).ok


def random_graph(rng: random.Random, size: int) -> dict[str, Job]:
    """A random DAG: each job depends on a few earlier ones."""
    names = [f"j{i:03d}" for i in range(size)]
    jobs = []
    for i, name in enumerate(names):
        earlier = rng.sample(names[:i], k=min(i, rng.randint(0, 3)))
        jobs.append(Job(name, frozenset(earlier), weight=rng.choice([0.5, 1, 3])))
    return graph(*jobs)


def check_random_run(seed: int, size: int) -> None:
    rng = random.Random(seed)
    jobs = random_graph(rng, size)
    failing = {name for name in jobs if rng.random() < 0.1}
    budget, keep_going = rng.randint(1, 4), rng.random() < 0.5
    lock = threading.Lock()
    running, peak = [0], [0]

    def work(name: str) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(rng.choice([0, 0.001, 0.005]))
        with lock:
            running[0] -= 1
        if name in failing:
            raise RuntimeError(name)

    events: list[SchedulerEvent] = []
    with Jobserver(budget, "pipe") as js:
        out = run(jobs, work, jobserver=js, keep_going=keep_going, on_event=events.append)
        assert js.held == 0 and js.restore() == 0, "every token is back in the pool"
    assert peak[0] <= budget
    sets = [set(out.done), set(out.failed), set(out.skipped), set(out.not_started)]
    assert sum(map(len, sets)) == len(jobs) and set().union(*sets) == set(jobs)
    assert set(out.failed) <= failing and not set(out.done) & failing
    finished: set[str] = set()
    for event in events:
        if event.kind == "started":
            assert jobs[event.job].deps <= finished, event
        elif event.kind == "finished":
            finished.add(event.job)
    for name, blocker in out.skipped.items():
        assert blocker in out.failed and blocker in ancestors(jobs, name)
    if keep_going:
        assert out.not_started == ()
        blocked = {n for n in jobs if ancestors(jobs, n) & set(out.failed)}
        assert set(out.skipped) == blocked


def ancestors(jobs: Mapping[str, Job], name: str) -> set[str]:
    found: set[str] = set()
    todo = list(jobs[name].deps)
    while todo:
        dep = todo.pop()
        if dep not in found:
            found.add(dep)
            todo.extend(jobs[dep].deps)
    return found


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_keep_every_rule(seed: int) -> None:
    check_random_run(seed, 40)


@pytest.mark.slow
def test_random_graphs_keep_every_rule_stress() -> None:
    for seed in range(8, 308):
        try:
            check_random_run(seed, 150)
        except AssertionError as e:
            raise AssertionError(f"seed {seed}: {e}") from e
