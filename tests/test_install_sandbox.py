"""``mason install`` with the build sandbox (real bubblewrap, real builds).

A corpus of misbehaving recipes: each leaves the live prefix (and venv) byte-identical and
gets a message naming the path. Then: a recipe deleting its own previous version's files
goes on with a note; a recipe ignoring DESTDIR is told so, or with ``no-destdir`` staged
from what the sandbox caught; ``-j3`` stays one budget for four sandboxed ``make -j``;
without bwrap on PATH, ``auto`` falls back with one line and ``require`` exits 2.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from httpserver import serve
from installsupport import install, records, script_recipe, tree
from mason.build.sandbox import Sandbox, probe

SANDBOX = probe(os.environ.get("PATH"))
pytestmark = pytest.mark.skipif(
    not isinstance(SANDBOX, Sandbox), reason=f"no sandbox here: {getattr(SANDBOX, 'reason', '')}"
)
REQUIRE = ("--sandbox", "require")

#: What a well-behaved build installs (``bad`` does it too, besides its stray write).
INTO_DESTDIR = 'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/bad" && echo ok > "$_/ok"\n'
#: What ``bad`` does, and a path its message must name.
CORPUS = {
    "create a file": (
        'echo oops > "$SAGE_LOCAL/share/base/stray.txt"',
        "created share/base/stray.txt",
    ),
    "append to another package's file": (
        'echo more >> "$SAGE_LOCAL/share/base/base.txt"',
        "changed share/base/base.txt (of base)",
    ),
    "delete another package's file": (
        'rm "$SAGE_LOCAL/share/base/base.txt"',
        "deleted share/base/base.txt (of base)",
    ),
    "chmod another package's file": (
        'chmod 600 "$SAGE_LOCAL/share/base/base.txt"',
        "changed share/base/base.txt (of base)",
    ),
    "rm -rf a shared directory": (
        'rm -rf "$SAGE_LOCAL/share"',
        "deleted share/ (files of base, other)",
    ),
    "change a file nobody owns": (
        'echo mine >> "$SAGE_LOCAL/etc/user.conf"',
        "changed etc/user.conf (owned by no package)",
    ),
}  # fmt: skip


def corpus_catalog(catalog: Path, prefix: Path, body: str) -> dict[str, tuple[str, int, str]]:
    """``base`` and ``other`` installed (both in ``share/``), a file of the user's in
    ``etc/``, and ``bad`` running ``body``; returns the prefix's tree."""
    script_recipe(catalog, "base")
    script_recipe(catalog, "other")
    script_recipe(catalog, "bad", deps="base", body=f"{body}\n{INTO_DESTDIR}")
    proc = install(catalog, prefix, "base", "other", *REQUIRE)
    assert proc.returncode == 0, proc.stderr
    (prefix / "etc").mkdir()
    (prefix / "etc/user.conf").write_text("mine\n")
    return tree(prefix)


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_a_stray_write_leaves_the_prefix_identical_and_is_named(tmp_path: Path, case: str) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    body, expected = CORPUS[case]
    before = corpus_catalog(catalog, prefix, body)
    proc = install(catalog, prefix, "bad", *REQUIRE)
    assert proc.returncode == 1
    assert "bad-1.0: the build tried to change the live tree" in proc.stderr
    assert expected in proc.stderr
    assert tree(prefix) == before
    assert set(records(prefix)) == {"base", "other"}


def test_a_write_into_a_venv_outside_the_prefix_is_caught_there(tmp_path: Path) -> None:
    catalog, prefix, venv = tmp_path / "pkgs", tmp_path / "prefix", tmp_path / "venv"
    trees = {"trees.txt": "SAGE_VENV\n"}
    into_venv = 'mkdir -p "$SAGE_DESTDIR$SAGE_INST_LOCAL/share/$PKG_BASE" && echo ok > "$_/ok"\n'
    script_recipe(catalog, "good", body=into_venv, extra=trees)
    stray = 'echo x > "$SAGE_VENV/bin/stray"\n'
    script_recipe(catalog, "bad", body=stray + into_venv, extra=trees)
    assert install(catalog, prefix, "good", "--venv", venv, *REQUIRE).returncode == 0
    before = tree(venv), tree(prefix)
    proc = install(catalog, prefix, "bad", *REQUIRE)
    assert proc.returncode == 1
    assert f"the build tried to change the live tree {venv}" in proc.stderr
    assert "created bin/stray" in proc.stderr
    assert (tree(venv), tree(prefix)) == before


def test_home_is_private_and_the_real_one_read_only(tmp_path: Path) -> None:
    catalog, prefix, home = tmp_path / "pkgs", tmp_path / "prefix", tmp_path / "home"
    home.mkdir()
    body = (
        'echo cache > "$HOME/.cache-file" || exit 1\n'
        f'echo x > "{home}/.stray" || exit 1\n'
    )  # fmt: skip
    script_recipe(catalog, "bad", body=body)
    proc = install(catalog, prefix, "bad", *REQUIRE)
    assert proc.returncode == 1
    assert f"{home}/.stray: Read-only file system" in proc.stderr + proc.stdout
    assert list(home.iterdir()) == []


def test_a_download_from_the_hosts_loopback_fails_at_once(tmp_path: Path) -> None:
    catalog, prefix, www = tmp_path / "pkgs", tmp_path / "prefix", tmp_path / "www"
    www.mkdir()
    (www / "payload").write_text("data\n")
    with serve(www) as server:
        # past the proxy variables: only the network namespace stops this one
        fetch = (
            f"{sys.executable} -c 'import sys, urllib.request as u; "
            "u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=120)' "
            f"{server.url}/payload || exit 1\n"
        )
        script_recipe(catalog, "bad", body=fetch)
        proc = install(catalog, prefix, "bad", *REQUIRE)
        assert server.requests == []
    assert proc.returncode == 1
    assert "Connection refused" in proc.stderr + proc.stdout
    assert "bad" not in records(prefix)


IGNORES_DESTDIR = (
    'mkdir -p "$SAGE_LOCAL/share/nodest"\necho built > "$SAGE_LOCAL/share/nodest/file.txt"\n'
)


def test_a_recipe_ignoring_destdir_is_told_how_to_fix_it(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "base")
    script_recipe(catalog, "nodest", body=IGNORES_DESTDIR)
    assert install(catalog, prefix, "base", *REQUIRE).returncode == 0
    before = tree(prefix)
    proc = install(catalog, prefix, "nodest", *REQUIRE)
    assert proc.returncode == 1
    assert "installed all its files into the live tree" in proc.stderr
    assert "none into DESTDIR" in proc.stderr
    assert "created share/nodest/file.txt" in proc.stderr
    assert "sdh_make_install" in proc.stderr and "no-destdir" in proc.stderr
    assert tree(prefix) == before


def test_no_destdir_stages_what_the_sandbox_caught(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    opt_in = {"no-destdir": "its Makefile has no DESTDIR\n"}
    script_recipe(catalog, "nodest", body=IGNORES_DESTDIR, extra=opt_in)
    proc = install(catalog, prefix, "nodest", *REQUIRE)
    assert proc.returncode == 0, proc.stderr
    assert (prefix / "share/nodest/file.txt").read_text() == "built\n"
    assert "share/nodest/file.txt" in records(prefix)["nodest"]["files"]


def test_deleting_its_own_previous_files_is_prevented_and_noted(tmp_path: Path) -> None:
    """SageMath's gmp: ``rm -f "$SAGE_LOCAL"/include/gmp*.h`` before installing."""
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    header = 'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/include"\necho "$PKG_VER" > "$_/gmp.h"\n'
    script_recipe(catalog, "gmp", body=header)
    assert install(catalog, prefix, "gmp", *REQUIRE).returncode == 0
    script_recipe(
        catalog, "gmp", version="2.0", body=f'rm -f "$SAGE_LOCAL"/include/gmp*.h\n{header}'
    )
    proc = install(catalog, prefix, "gmp", *REQUIRE)
    assert proc.returncode == 0, proc.stderr
    assert "tried to delete 1 file(s) of its installed version" in proc.stdout + proc.stderr
    assert "include/gmp.h" in proc.stdout + proc.stderr
    assert (prefix / "include/gmp.h").read_text() == "2.0\n"


def test_make_jobs_of_sandboxed_builds_share_the_budget(tmp_path: Path) -> None:
    from test_install_jobserver import NAMES, installed_spans, make_packages
    from test_jobserver import max_running

    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    make_packages(catalog)
    proc = install(catalog, prefix, *NAMES, "-j3", *REQUIRE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    peak = max_running(installed_spans(prefix, tmp_path / "intervals"))
    assert 1 < peak <= 3, f"{peak} make jobs ran at once under -j3"


def path_without_bwrap(tmp_path: Path) -> str:
    """A PATH holding every program of the current one but ``bwrap``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            target = bin_dir / name
            if name != "bwrap" and not target.exists() and shutil.which(name, path=directory):
                target.symlink_to(Path(directory) / name)
    return str(bin_dir)


def test_without_bwrap_auto_falls_back_with_one_line_and_require_exits_2(tmp_path: Path) -> None:
    from installsupport import mason

    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "good")
    env = {"PATH": path_without_bwrap(tmp_path)}
    args = ("install", "--catalog", catalog, "--prefix", prefix, "good")
    required = mason(*args, "--sandbox", "require", env=env)
    assert required.returncode == 2
    assert "bwrap" in required.stderr
    assert not prefix.exists() or "good" not in records(prefix)
    proc = mason(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    notices = [line for line in proc.stderr.splitlines() if "not sandboxed" in line]
    assert len(notices) == 1
    assert "bubblewrap (bwrap) is not on PATH" in notices[0]
    assert "good" in records(prefix)


def test_a_run_of_wheels_only_neither_needs_nor_mentions_the_sandbox(tmp_path: Path) -> None:
    """A plan that runs no build script (a wheel package) is not sandboxed under ``auto``:
    without bwrap no notice, and the run does not wait for the sandbox's trial run; once a
    script package is planned, the one line is back, and ``require`` still insists."""
    from installsupport import mason
    from pypackages import wheel_recipe
    from wheelfactory import make_wheel

    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    wheel = make_wheel(tmp_path / "dist", "tiny", "1.0", {"tiny/__init__.py": "X = 1\n"})
    wheel_recipe(catalog, "tiny", wheel)
    script_recipe(catalog, "good")
    env = {"PATH": path_without_bwrap(tmp_path)}
    args = ("install", "--catalog", catalog, "--prefix", prefix)
    proc = mason(*args, "tiny", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "not sandboxed" not in proc.stderr
    assert "tiny" in records(prefix)
    required = mason(*args, "good", "--sandbox", "require", env=env)
    assert required.returncode == 2
    assert "bwrap" in required.stderr
    proc = mason(*args, "good", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "not sandboxed" in line]) == 1
