"""A copied (``cp -a``) or moved prefix works on its own and never touches the original.

The venv location is stored relative to the prefix (``.``: the prefix is the venv), so
every command on the copy, ``mason pip`` included, reads and writes the copy only: the
original tree is byte-for-byte and mtime-for-mtime the same afterwards. A venv outside
the prefix that is gone, or was re-made with another interpreter, is a clear error naming
both paths, and nothing is written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from installsupport import install, mason
from pipsupport import SITE, World, six_template, snapshot, world

__all__ = ["six_template", "world"]


def every_command(w: World) -> None:
    """The commands a user runs, each of which must work on ``w``'s prefix alone."""
    for command in (
        ("list", "--installed"),
        ("info", "six"),
        ("plan",),
        ("verify",),
        ("files", "six"),
        ("owner", f"{SITE}/six.py"),
        ("graph",),
        ("install", "--force", "six"),
        ("recover",),
    ):
        done = w.mason(*command)
        assert done.returncode == 0, (command, done.stdout + done.stderr)
    assert w.mason_pip("install", "six==1.16.0").returncode == 0
    assert w.python("import six; print(six.__version__)") == "1.16.0"
    assert w.mason("install", "six").returncode == 0
    assert w.python("import six; print(six.__version__)") == "1.17.0"
    assert w.mason("uninstall", "six").returncode == 0
    assert w.mason("install", "six").returncode == 0
    assert w.dist_infos() == ["six-1.17.0.dist-info"]
    verify = w.mason("verify")
    assert verify.returncode == 0, verify.stdout


def test_a_copied_prefix_never_touches_the_original(world: World) -> None:
    copy = World(world.catalog, world.links, world.prefix.with_name("local2"))
    subprocess.run(["cp", "-a", str(world.prefix), str(copy.prefix)], check=True)
    before = snapshot(world.prefix)
    every_command(copy)
    assert snapshot(world.prefix) == before
    location = json.loads((copy.prefix / "var/lib/mason/venv-location.json").read_text())
    assert location == {"format": 2, "venv": "."}


def test_a_moved_prefix_works(world: World) -> None:
    moved = World(world.catalog, world.links, world.prefix.with_name("elsewhere"))
    world.prefix.rename(moved.prefix)
    assert moved.mason_pip("install", "six==1.16.0").returncode == 0
    assert moved.mason("install", "--force", "six").returncode == 0
    assert moved.dist_infos() == ["six-1.17.0.dist-info"]
    verify = moved.mason("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert not world.prefix.exists()


def test_an_outside_venv_gone_or_remade_is_refused(tmp_path: Path, world: World) -> None:
    prefix, venv = tmp_path / "p", tmp_path / "venv"
    done = install(world.catalog, prefix, "six", "--venv", venv)
    assert done.returncode == 0, done.stdout + done.stderr
    location = json.loads((prefix / "var/lib/mason/venv-location.json").read_text())
    assert location["venv"] == str(venv) and location["home"]

    cfg = venv / "pyvenv.cfg"
    text = cfg.read_text()
    cfg.write_text(text.replace(f"home = {location['home']}", "home = /opt/another/bin"))
    before = snapshot(prefix)
    done = mason("list", "--installed", "--prefix", prefix)
    assert done.returncode == 2
    assert f"the prefix {prefix} has its venv at {venv}" in done.stderr
    assert "another home (/opt/another/bin" in done.stderr
    assert snapshot(prefix) == before

    shutil.rmtree(venv)
    for command in (("verify",), ("install", "--catalog", str(world.catalog), "six")):
        done = mason(*command, "--prefix", prefix)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{prefix}" in done.stderr and f"{venv / 'pyvenv.cfg'} does not exist" in done.stderr
    assert snapshot(prefix) == before and not venv.exists()
