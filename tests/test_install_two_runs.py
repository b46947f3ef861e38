"""Two ``mason install`` runs on one prefix with overlapping packages (issue 16.7).

``zlib`` takes a while to build; run one installs ``a`` (needs zlib), run two ``b``
(needs zlib), released together. zlib is built once: the run that finds it being built
says so ("being built by pid N, waiting") and uses the result. If the other run is
killed, or its build fails, the waiting run builds zlib itself. ``verify`` is clean
after every round.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from installsupport import mason, records, script_recipe


def catalog(tmp_path: Path) -> tuple[Path, Path]:
    """The catalog and the log each zlib build appends its mason's pid to."""
    cat, built = tmp_path / "pkgs", tmp_path / "zlib-builds"
    fail = tmp_path / "fail-once"
    body = (
        f'echo "$PPID $$" >> {built}\n'
        "sleep 1.5\n"
        f'if [ -e {fail} ]; then rm {fail}; sdh_die "failing once, as asked"; fi\n'
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/lib"\n'
        'echo zlib > "$SAGE_DESTDIR$SAGE_LOCAL/lib/libz.so"\n'
    )
    script_recipe(cat, "zlib", body=body)
    script_recipe(cat, "a", deps="zlib")
    script_recipe(cat, "b", deps="zlib")
    return cat, built


def start(cat: Path, prefix: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mason",
            "install",
            "--catalog",
            str(cat),
            "--prefix",
            str(prefix),
            name,
            "-j2",
            "--sandbox",
            "off",  # the recipe logs each zlib build outside the build, on purpose
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_build(built: Path) -> None:
    deadline = time.monotonic() + 60
    while not (built.exists() and built.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)


def one_round(tmp_path: Path) -> None:
    cat, built = catalog(tmp_path)
    prefix = tmp_path / "prefix"
    first = start(cat, prefix, "a")
    wait_for_build(built)  # the barrier: run two starts while run one builds zlib
    second = start(cat, prefix, "b")
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert len(built.read_text().splitlines()) == 1, "zlib was built once"
    waiting = f"[zlib-1.0] waiting: being built by pid {first.pid} (another mason run), waiting"
    assert waiting in outs[1][0]
    assert "[zlib-1.0] done: built by the other mason run" in outs[1][0]
    assert set(records(prefix)) == {"zlib", "a", "b"}
    assert mason("verify", "--prefix", prefix).returncode == 0


def test_two_runs_build_a_shared_package_once(tmp_path: Path) -> None:
    one_round(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(20))
def test_two_runs_twenty_rounds(tmp_path: Path, round_: int) -> None:
    one_round(tmp_path)


@pytest.mark.parametrize("how", ["killed", pytest.param("failed", marks=pytest.mark.slow)])
def test_the_waiting_run_builds_it_when_the_other_does_not(tmp_path: Path, how: str) -> None:
    cat, built = catalog(tmp_path)
    prefix = tmp_path / "prefix"
    if how == "failed":
        (tmp_path / "fail-once").touch()
    first = start(cat, prefix, "a")
    wait_for_build(built)
    second = start(cat, prefix, "b")
    assert second.stdout is not None
    seen = []
    for line in second.stdout:  # until run two waits for run one's zlib
        seen.append(line)
        if "waiting: being built by pid" in line:
            break
    if how == "killed":
        os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=120)
    rest, err2 = second.communicate(timeout=120)
    out2 = "".join(seen) + rest
    assert first.returncode == (-signal.SIGKILL if how == "killed" else 1)
    assert second.returncode == 0, err2
    assert "[zlib-1.0] waiting: being built by pid" in out2
    assert len(built.read_text().splitlines()) == 2, "built again by the waiting run"
    assert {"zlib", "b"} <= set(records(prefix))
    assert mason("verify", "--prefix", prefix).returncode == 0
