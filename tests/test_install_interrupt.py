"""Ctrl-C and SIGTERM during ``mason install -j4`` (issue 16.3), at random moments.

A catalog of quick packages (their merges happen while the others build) and long builds
(a shell and a ``sleep`` each, their pids written down). ``mason install -j4`` gets
SIGINT or SIGTERM (sometimes twice) at a random moment once the builds run. Then: the
exit status is 130 or 143; every build's processes are gone; no merge was cut short (no
journal entry left, before any other command runs); ``verify`` is clean; the packages the
output calls installed are exactly those with records; and the same command, run again,
finishes the job with no ``recover``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from installsupport import mason, records, script_recipe

QUICK = ("q1", "q2", "q3")
LONG = ("l1", "l2", "l3", "l4", "l5")


def catalog(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The catalog, the directory the builds write their pids to, the flag that makes
    the long builds long."""
    cat, pids, flag = tmp_path / "pkgs", tmp_path / "pids", tmp_path / "slow"
    pids.mkdir()
    flag.touch()
    long_body = (
        f'if [ -e {flag} ]; then sleep 60 & echo "$$ $!" > {pids}/$PKG_BASE; wait; fi\n'
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE"\n'
        'echo "$PKG_BASE" > "$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE/done"\n'
    )
    script_recipe(cat, "q1")
    script_recipe(cat, "q3")
    for name in LONG:
        script_recipe(cat, name, body=long_body, deps="q1" if name != "l5" else None)
    script_recipe(cat, "q2", deps="l1")
    return cat, pids, flag


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes (its parent, mason, has exited)
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def interrupt_once(tmp_path: Path, rng: random.Random, signum: int, twice: bool) -> str:
    cat, pids, flag = catalog(tmp_path)
    prefix = tmp_path / "prefix"
    # --sandbox off: the recipes write their pids outside the build, on purpose
    args = ["install", "--catalog", str(cat), "--prefix", str(prefix), "--all", "-j4"]
    args += ["--sandbox", "off"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mason", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # once a long build runs, at a random moment
            if "] building" in line and "[l" in line:
                break
        time.sleep(rng.uniform(0, 1.0))
        proc.send_signal(signum)
        if twice:
            time.sleep(rng.uniform(0, 0.3))
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert f"mason: interrupted by {name}; no merge was cut short" in err
    started = [int(p) for f in pids.iterdir() for p in f.read_text().split()]
    assert started, "the long builds wrote their pids"
    deadline = time.monotonic() + 5
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in started if alive(p)], "a build's processes survived"
    assert os.listdir(prefix / "var/lib/mason/journal") == [], "a merge was cut short"
    [installed] = [line for line in err.splitlines() if line.startswith("  installed: ")]
    listed = set(installed.removeprefix("  installed: ").split(", ")) - {"none"}
    assert listed == set(records(prefix)), (listed, err)
    verify = mason("verify", "--prefix", prefix)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    flag.unlink()  # the same command again, with quick builds: it finishes the job
    again = mason(*args)
    assert again.returncode == 0, again.stderr
    assert set(records(prefix)) == {*QUICK, *LONG}
    assert mason("verify", "--prefix", prefix).returncode == 0
    return err


def test_ctrl_c_during_install_j4(tmp_path: Path) -> None:
    interrupt_once(tmp_path, random.Random(1), signal.SIGINT, twice=False)


def test_sigterm_twice_during_install_j4(tmp_path: Path) -> None:
    interrupt_once(tmp_path, random.Random(2), signal.SIGTERM, twice=True)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(20))
def test_interrupt_at_a_random_moment(tmp_path: Path, round_: int) -> None:
    rng = random.Random(round_)
    signum = rng.choice([signal.SIGINT, signal.SIGTERM])
    interrupt_once(tmp_path, rng, signum, twice=rng.random() < 0.4)
