"""The demo catalog through the real ``mason install``: -j4 and -j1 give the same prefix."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import DEMO_CATALOG, REPO
from installsupport import install, stable_records, tree

#: Bookkeeping that differs between two installs for reasons other than their content:
#: the SQLite ownership index (its pages; `mason owner` answers the same, checked below).
BOOKKEEPING = ("var/lib/mason/owners.sqlite", "var/lib/mason/installed")


def normalized_records(prefix: Path) -> dict[str, dict[str, Any]]:
    """The records with each file hash checked against the file, then made prefix-free."""
    out = stable_records(prefix)
    for name, data in out.items():
        for rel, info in data["file_info"].items():
            if info.get("sha256") is None:
                continue
            raw = (prefix / rel).read_bytes()
            assert hashlib.sha256(raw).hexdigest() == info["sha256"], (name, rel)
            info["sha256"] = hashlib.sha256(raw.replace(os.fsencode(prefix), b"<P>")).hexdigest()
    return out


def content_tree(prefix: Path) -> dict[str, tuple[str, int, str]]:
    return {
        path: entry
        for path, entry in tree(prefix).items()
        if not any(path == b or path.startswith(b + "/") for b in BOOKKEEPING)
    }


def test_demo_j4_and_j1_give_identical_prefixes(tmp_path: Path) -> None:
    # Both installs use the same prefix path (the first is moved aside): binaries embed
    # the prefix (rpath, and so the ELF build-id), pyvenv.cfg names it.
    live, p4 = tmp_path / "local", tmp_path / "first-j4"
    r4 = install(DEMO_CATALOG, live, "--all", "-j4")
    assert r4.returncode == 0, r4.stderr
    t4, rec4 = content_tree(live), normalized_records(live)
    verify = install_cmd(live, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    owners4 = install_cmd(live, "owner", "bin/hello", "lib/libdemo.so", "include/demo.h").stdout
    live.rename(p4)
    r1 = install(DEMO_CATALOG, live, "--all", "-j1")
    assert r1.returncode == 0, r1.stderr
    t1, rec1 = content_tree(live), normalized_records(live)

    assert sorted(t4) == sorted(t1)
    assert {p: (e, t1[p]) for p, e in t4.items() if t1[p] != e} == {}
    assert rec4 == rec1
    assert {"hello", "libdemo", "demo_py", "demo_all", "python_venv"} <= set(rec1)
    assert rec1["hello"]["dependencies"] == {"libdemo": "1.0.p0"}

    out = subprocess.run([live / "bin/hello"], capture_output=True, text=True, check=True)
    assert "libdemo" in out.stdout
    verify = install_cmd(live, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for prefix in (p4, live):
        work = prefix / "var/tmp/mason"
        assert not work.exists() or not any(work.iterdir()), "build dirs removed on success"
    owners1 = install_cmd(live, "owner", "bin/hello", "lib/libdemo.so", "include/demo.h").stdout
    assert owners4 == owners1
    assert "hello" in owners1 and "libdemo" in owners1


def install_cmd(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from installsupport import mason

    return mason(args[0], "--catalog", DEMO_CATALOG, "--prefix", prefix, *args[1:])


def test_second_install_has_nothing_to_do(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    assert install(DEMO_CATALOG, prefix, "hello", "-j2").returncode == 0
    again = install(DEMO_CATALOG, prefix, "hello", "-j2")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


def test_readme_quick_start(tmp_path: Path) -> None:
    """``python3 -m pip install . && mason install --catalog examples/demo/pkgs -j2 &&
    local/bin/hello``, from a scratch copy of the repository, in a fresh venv."""
    command = next(
        line.strip()
        for line in (REPO / "README.md").read_text().splitlines()
        if "pip install ." in line and "mason install" in line
    )
    scratch = tmp_path / "repo"
    shutil.copytree(
        REPO,
        scratch,
        ignore=lambda d, names: [
            n
            for n in names
            if n.startswith(".")
            or n.endswith(".egg-info")
            or n == "__pycache__"
            or (Path(d) == REPO and n in ("local", "build", "dist"))
        ],
    )
    venv = tmp_path / "venv"
    # --system-site-packages: mason's dependencies are found installed; pip gets setuptools
    # for the build from its configured index, as it would for a user.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        ["bash", "-c", command], cwd=scratch, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Hello from mason's demo" in proc.stdout
    assert (scratch / "local/var/lib/mason/installed/hello-1.0").is_file()
    assert (
        str(venv)
        in subprocess.run(
            ["bash", "-c", "command -v mason"], env=env, capture_output=True, text=True
        ).stdout
    )
