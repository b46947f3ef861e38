"""``mason log -f``: a running build's log, followed until the build ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO
from recipefactory import write_recipe

WAITS = """echo "step one"
while [ ! -e "{flag}" ]; do sleep 0.05; done
echo "step two"
mkdir -p "$DESTDIR$PREFIX/share"; echo x > "$DESTDIR$PREFIX/share/slow"
"""


def mason(*argv: str, **kw: object) -> subprocess.Popen[str]:
    # a mason that hangs is stopped with SIGABRT: its threads' stacks go to the test's stderr
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mason", *argv], env=env, text=True, stdout=subprocess.PIPE, **kw
    )  # type: ignore[call-overload]


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_log_follow_ends_with_the_build(tmp_path: Path) -> None:
    flag = tmp_path / "go-on"
    write_recipe(tmp_path / "pkgs", "slow", files={"spkg-install.in": WAITS.format(flag=flag)})
    prefix = tmp_path / "p"
    install = mason("install", "--catalog", str(tmp_path / "pkgs"), "--prefix", str(prefix), "slow")
    log = prefix / "var/log/mason/slow-1.0.log"
    wait_for(lambda: log.is_file() and "step one" in log.read_text(), "the build's first line")
    follow = mason("log", "-f", "slow", "--prefix", str(prefix))
    try:
        flag.touch()
        out, _ = follow.communicate(timeout=120)  # returns on its own once the build ends
        assert follow.returncode == 0
        assert out.index("step one") < out.index("step two")
        assert "spkg-install exited with status 0" in out
    finally:
        flag.touch()
        for proc in (follow, install):
            try:  # the build ends on its own once the flag is there: a loaded machine is slow
                proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGABRT)
                proc.communicate()
    assert install.returncode == 0
