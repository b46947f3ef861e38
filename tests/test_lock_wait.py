"""A command waiting for the prefix lock says who holds it (pid and command line, from the
lock file) and keeps waiting; ``--lock-timeout S`` gives up with exit 2."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from installsupport import install, records, script_recipe
from mason.layout import PREFIX_LOCK
from mason.store.locks import Lock

#: Guards the test against hanging if the message never came (not a timing assertion).
HANG_GUARD = 120


def test_a_second_install_says_who_holds_the_lock_and_waits(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "a")
    lock = Lock(prefix / PREFIX_LOCK)
    lock.acquire("exclusive")
    command = [sys.executable, "-m", "mason", "install", "--catalog", str(catalog)]
    with subprocess.Popen(
        [*command, "--prefix", str(prefix), "a"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stderr is not None
        stderr = proc.stderr
        reader = threading.Thread(target=lambda: [lines.put(x) for x in stderr], daemon=True)
        reader.start()
        try:
            line = lines.get(timeout=HANG_GUARD)
            assert f"waiting for the exclusive lock {prefix / PREFIX_LOCK}" in line
            assert f"held by pid {os.getpid()}: " in line
            assert "pytest" in line  # the holder's command line
            assert proc.poll() is None  # still waiting
        finally:
            lock.release()
        assert proc.wait(timeout=HANG_GUARD) == 0
        reader.join(HANG_GUARD)
    assert "a" in records(prefix)


def test_lock_timeout_gives_up_with_exit_2(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "a")
    with Lock(prefix / PREFIX_LOCK).exclusive():
        done = install(catalog, prefix, "a", "--lock-timeout", "1")
    assert done.returncode == 2, done.stderr
    assert "within 1 s" in done.stderr
    assert f"held by pid {os.getpid()}" in done.stderr
    assert records(prefix) == {}
