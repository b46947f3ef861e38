"""Ctrl-C (or kill -9) during a sandboxed ``mason install -j2``: nothing is left.

The scripts run in the sandbox server's namespaces with host pids; each long build logs
its shell's and its ``sleep``'s pid (it cannot write outside its build). After SIGINT,
mason exits 130, and neither those processes nor the sandbox server that
started with the run outlive it; after SIGKILL of mason neither do they.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from installsupport import script_recipe
from mason.build.sandbox import Sandbox, probe

SANDBOX = probe(os.environ.get("PATH"))
pytestmark = pytest.mark.skipif(
    not isinstance(SANDBOX, Sandbox), reason=f"no sandbox here: {getattr(SANDBOX, 'reason', '')}"
)
LONG = 'sleep 60 & echo "mason-test-pids $$ $!"; wait\n'


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _processes() -> dict[int, tuple[int, int, bytes]]:
    """Every process on the machine: pid -> (parent, session, command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry)] = (int(fields[1]), int(fields[3]), cmdline)
    return found


def sandbox_sessions(mason: int) -> set[int]:
    """The sessions of the sandbox servers started by the process ``mason`` (bwrap starts
    in a session of its own, which its server and shepherds keep)."""
    table = _processes()
    descends = {mason}
    changed = True
    while changed:
        grown = {p for p, (parent, _, _) in table.items() if parent in descends} | descends
        changed, descends = grown != descends, grown
    return {table[p][1] for p in descends if b"sandboxd.py" in table[p][2]}


def sandbox_processes(sessions: set[int]) -> set[int]:
    """The sandbox servers (alive) still in one of ``sessions``."""
    return {
        p for p, (_, sid, cmd) in _processes().items() if sid in sessions and b"sandboxd.py" in cmd
    }


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill -9"])
def test_a_signal_stops_sandboxed_builds_and_leaves_no_process(tmp_path: Path, signum: int) -> None:
    """SIGINT: mason stops the builds' process groups; SIGKILL: mason's ends of the
    sandbox's sockets close, and the server's threads kill their scripts' groups."""
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    for name in ("l1", "l2"):
        script_recipe(catalog, name, body=LONG)
    args = ["install", "--catalog", str(catalog), "--prefix", str(prefix), "--all", "-j2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mason", *args, "--sandbox", "require"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    logs = [prefix / f"var/log/mason/{name}-1.0.log" for name in ("l1", "l2")]
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(pids) < 4 and time.monotonic() < deadline:  # both builds sleep
            time.sleep(0.05)
            text = "".join(log.read_text() for log in logs if log.exists())
            pids = [int(p) for p in re.findall(r"mason-test-pids (\d+) (\d+)", text) for p in p]
        assert len(pids) == 4, "both builds started"
        sessions = sandbox_sessions(proc.pid)
        assert sessions, "the sandbox server was found"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == (130 if signum == signal.SIGINT else -signum), err
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)] + sorted(sandbox_processes(sessions))
        if not left:
            break
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "a build's processes survived"
    assert not [p for p in sandbox_processes(sessions) if alive(p)], "a sandbox process survived"
