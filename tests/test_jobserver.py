"""The jobserver with real clients: GNU make 4.3 (pipe form), a Python client speaking
both forms, GNU make >= 4.4 (fifo form) when one is available."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from mason.errors import BadInput
from mason.jobserver import (
    Jobserver,
    JobserverError,
    JobserverStyle,
    detect_make_style,
    make_version,
)

# A jobserver client written from the GNU make manual ("POSIX Jobserver"): it runs
# NJOBS jobs, the first with its implicit slot, each further concurrent one with a token
# read from the pool and written back (the same byte) when the job ends. Each job appends
# "START END NAME" (CLOCK_MONOTONIC, system-wide) to LOG.
CLIENT = r"""
import os, queue, re, select, sys, threading, time

log, name, njobs, sleep = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
auth = re.search(r"--jobserver-auth=(\S+)", os.environ["MAKEFLAGS"]).group(1)
if auth.startswith("fifo:"):
    rfd = wfd = os.open(auth[len("fifo:"):], os.O_RDWR)
else:
    rfd, wfd = (int(fd) for fd in auth.split(","))
todo = queue.Queue()
for i in range(njobs):
    todo.put(i)

def worker(token):
    while True:
        try:
            i = todo.get_nowait()
        except queue.Empty:
            break
        start = time.monotonic_ns()
        time.sleep(sleep)
        end = time.monotonic_ns()
        with open(log, "a") as f:
            f.write(f"{start} {end} {name}-{i}\n")
    if token is not None:
        os.write(wfd, token)

threads = [threading.Thread(target=worker, args=(None,))]
threads[0].start()
while not todo.empty():
    if select.select([rfd], [], [], 0.01)[0]:
        token = os.read(rfd, 1)
        threads.append(threading.Thread(target=worker, args=(token,)))
        threads[-1].start()
for t in threads:
    t.join()
"""


def write_client(tmp_path: Path) -> Path:
    path = tmp_path / "client.py"
    path.write_text(CLIENT)
    return path


def client_command(client: Path, log: Path, name: str, njobs: int, sleep: float) -> list[str]:
    return [sys.executable, str(client), str(log), name, str(njobs), str(sleep)]


def write_makefile(directory: Path, name: str, log: Path, njobs: int, sleep: float) -> Path:
    """A package whose Makefile has ``njobs`` independent jobs logging their interval."""
    directory.mkdir(parents=True, exist_ok=True)
    targets = " ".join(f"{name}-{i}" for i in range(njobs))
    recipe = f'@s=$$(date +%s%N); sleep {sleep}; e=$$(date +%s%N); echo "$$s $$e $@" >> {log}'
    (directory / "Makefile").write_text(
        f"all: {targets}\n.PHONY: all {targets}\n{targets}:\n\t{recipe}\n"
    )
    return directory


def run_client(command: Sequence[str], js: Jobserver, cwd: Path | None = None) -> str:
    """Run a jobserver client with ``js``'s MAKEFLAGS; return its stderr, raise on failure."""
    env = {**os.environ, "MAKEFLAGS": js.makeflags()}
    proc = subprocess.run(
        command, env=env, pass_fds=js.pass_fds(), cwd=cwd, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed ({proc.returncode}): {proc.stderr}")
    return proc.stderr


def intervals(log: Path) -> list[tuple[int, int]]:
    lines = log.read_text().splitlines()
    return [(int(s), int(e)) for s, e, _ in (line.split() for line in lines)]


def max_running(spans: Iterable[tuple[int, int]]) -> int:
    """The most intervals open at one instant (an end and a start at the same instant don't
    overlap)."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


def test_pipe_form_makeflags_name_inherited_descriptors() -> None:
    with Jobserver(4, "pipe") as js:
        r, w = js.pass_fds()
        assert js.makeflags().split() == [
            "-j4",
            f"--jobserver-fds={r},{w}",
            f"--jobserver-auth={r},{w}",
        ]
        assert os.get_blocking(r) and os.get_blocking(w), "make wants blocking descriptors"


def test_fifo_form_makeflags_name_a_fifo() -> None:
    with Jobserver(2, "fifo") as js:
        flags = js.makeflags().split()
        assert flags[0] == "-j2"
        path = Path(flags[1].removeprefix("--jobserver-auth=fifo:"))
        assert stat.S_ISFIFO(path.stat().st_mode)
        assert js.pass_fds() == ()
    assert not path.exists(), "closing the jobserver removes its FIFO"


@pytest.mark.parametrize("style", ["pipe", "fifo"])
def test_pool_holds_slots_minus_one_tokens(style: JobserverStyle) -> None:
    with Jobserver(3, style) as js:
        assert [js.acquire(timeout=0) for _ in range(3)] == [True, True, False]
        js.release()
        assert js.acquire(timeout=0.01)
        js.release()
        js.release()
        assert js.held == 0
        assert js.restore() == 0


def test_budget_of_one_has_an_empty_pool() -> None:
    with Jobserver(1, "pipe") as js:
        assert not js.acquire(timeout=0.01)


def test_release_without_acquire_is_an_error() -> None:
    with Jobserver(2, "pipe") as js, pytest.raises(JobserverError, match="without"):
        js.release()


@pytest.mark.parametrize("slots", [0, -3])
def test_budget_below_one_is_bad_input(slots: int) -> None:
    with pytest.raises(BadInput, match="at least 1"):
        Jobserver(slots)


def test_detect_make_style_of_installed_make() -> None:
    version = make_version("make")
    assert version is not None, "GNU make is needed to build anything"
    assert detect_make_style("make") == ("fifo" if version >= (4, 4) else "pipe")


def test_detect_make_style_reads_the_version(tmp_path: Path) -> None:
    fake = tmp_path / "gmake-4.4"
    fake.write_text("#!/bin/sh\necho 'GNU Make 4.4.1'\necho 'Built for x86_64-pc-linux-gnu'\n")
    fake.chmod(0o755)
    assert detect_make_style(str(fake)) == "fifo"
    assert detect_make_style(str(tmp_path / "no-such-make")) == "pipe"


@pytest.mark.parametrize("style", ["pipe", "fifo"])
def test_python_client_uses_exactly_the_budget(tmp_path: Path, style: JobserverStyle) -> None:
    log = tmp_path / "log"
    with Jobserver(3, style) as js:
        run_client(client_command(write_client(tmp_path), log, "c", 12, 0.05), js)
        assert js.restore() == 0, "the client gave every token back"
    spans = intervals(log)
    assert len(spans) == 12
    assert max_running(spans) == 3


def check_make_uses_exactly_the_budget(make: str, style: JobserverStyle, tmp_path: Path) -> None:
    log = tmp_path / "log"
    pkg = write_makefile(tmp_path / "pkg", "p", log, 12, 0.05)
    with Jobserver(3, style) as js:
        stderr = run_client([make, "-s", "--no-print-directory"], js, cwd=pkg)
        assert js.restore() == 0, "make gave every token back"
    assert "jobserver" not in stderr, stderr
    assert max_running(intervals(log)) == 3


def test_make_pipe_form_uses_exactly_the_budget(tmp_path: Path) -> None:
    check_make_uses_exactly_the_budget("make", "pipe", tmp_path)


def installed_make_44() -> str | None:
    """A GNU make >= 4.4: ``$MASON_TEST_MAKE44``, or ``make``/``gmake`` on PATH."""
    for candidate in (os.environ.get("MASON_TEST_MAKE44"), "make", "gmake"):
        path = shutil.which(candidate) if candidate else None
        version = make_version(path) if path else None
        if path and version is not None and version >= (4, 4):
            return path
    return None


@pytest.mark.skipif(installed_make_44() is None, reason="no make >= 4.4 (set MASON_TEST_MAKE44)")
@pytest.mark.parametrize("style", ["fifo", "pipe"])
def test_make_44_uses_exactly_the_budget(tmp_path: Path, style: JobserverStyle) -> None:
    make = installed_make_44()
    assert make is not None
    check_make_uses_exactly_the_budget(make, style, tmp_path)


MAKE_44_SOURCE = "make-dfsg=4.4.1-2"  # Debian trixie


def build_make_44(work: Path) -> Path:
    """Build GNU make 4.4.1 from Debian's source package into ``work``; return the binary.

    apt-get runs with its own sources list and state under ``work``, so the machine's apt
    configuration is untouched. About 25 s (a 10 MB index, a 1 MB tarball, a compile).
    """
    binary = work / "make-4.4.1" / "make"
    if binary.exists():
        return binary
    apt = work / "apt"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text("deb-src http://deb.debian.org/debian trixie main\n")
    options = [
        f"-oDir::Etc::SourceList={apt / 'sources.list'}",
        "-oDir::Etc::SourceParts=/nonexistent",
        f"-oDir::State::Lists={apt / 'lists'}",
        f"-oDir::Cache={apt / 'cache'}",
    ]
    for step in (["update"], ["source", "--download-only", MAKE_44_SOURCE]):
        if subprocess.run(["apt-get", *options, *step], cwd=work, capture_output=True).returncode:
            pytest.skip(f"apt-get {step[0]} failed: Debian unreachable?")
    src = binary.parent
    subprocess.run(["tar", "xf", "make-dfsg_4.4.1.orig.tar.xz"], cwd=work, check=True)
    # The DFSG tarball has no doc/; the program itself does not need it.
    (src / "doc").mkdir(exist_ok=True)
    (src / "doc" / "Makefile.in").write_text("all install clean distclean:\n\t@:\n")
    (src / "doc" / "make.1").touch()
    configure = ["./configure", "--disable-nls", "--without-guile"]
    subprocess.run(configure, cwd=src, check=True, capture_output=True)
    for target in (["-C", "lib"], ["make"]):
        subprocess.run(["make", "-j2", *target], cwd=src, check=True, capture_output=True)
    return binary


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("style", ["fifo", "pipe"])
def test_make_44_from_debian_source_uses_exactly_the_budget(
    request: pytest.FixtureRequest, tmp_path: Path, style: JobserverStyle
) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get: set MASON_TEST_MAKE44 to a GNU make >= 4.4 instead")
    work = tmp_path_factory_dir(request, "make-4.4.1")
    make = build_make_44(work)
    assert make_version(str(make)) == (4, 4)
    check_make_uses_exactly_the_budget(str(make), style, tmp_path)


def tmp_path_factory_dir(request: pytest.FixtureRequest, name: str) -> Path:
    """A directory shared by the tests of one session (builds once for both forms)."""
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    path = factory.getbasetemp() / name
    path.mkdir(exist_ok=True)
    return path


def test_restore_refills_tokens_a_killed_client_held(tmp_path: Path) -> None:
    hog = "import os, sys, time\nr = int(sys.argv[1])\nos.read(r, 2)\nprint('ok', flush=True)\n"
    hog += "time.sleep(60)\n"
    with Jobserver(3, "pipe") as js:
        r, _ = js.pass_fds()
        proc = subprocess.Popen(
            [sys.executable, "-c", hog, str(r)], pass_fds=js.pass_fds(), stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert not js.acquire(timeout=0), "the killed client took both tokens"
        assert js.restore() == 2
        assert [js.acquire(timeout=0) for _ in range(3)] == [True, True, False]
