"""pip run directly on a mason venv (never through mason): the records catch up.

Every command first reconciles the records with the venv's ``*.dist-info``
(:mod:`mason.reconcile`). Afterwards ``verify`` is clean, ``list``/``info`` tell the
truth, ``plan`` and a plain ``install`` leave pip's choice alone and say so, and
``install six`` puts the catalog's version back with exactly one dist-info.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipsupport import SITE, World, six_source, six_template, world

__all__ = ["six_template", "world"]


def listed(w: World) -> dict[str, dict[str, object]]:
    done = w.mason("list", "--installed", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def assert_restored(w: World) -> None:
    """``install six`` brought the catalog's 1.17.0 back, alone, working."""
    assert w.dist_infos() == ["six-1.17.0.dist-info"]
    assert w.python("import six; print(six.__version__)") == "1.17.0"
    check = w.pip("check")
    assert check.returncode == 0, check.stdout + check.stderr
    verify = w.mason("verify")
    assert verify.returncode == 0, verify.stdout
    row = listed(w)["six"]
    assert (row["version"], row["changed_outside_mason"]) == ("1.17.0", None)
    assert "six" not in w.mason("plan", "six").stdout  # up to date again


@pytest.mark.parametrize(
    ("pip_args", "now", "note"),
    [
        (("six==1.16.0",), "1.16.0", "pip replaced 1.17.0 with 1.16.0"),
        pytest.param(
            ("-U", "six"), "1.18.0", "pip replaced 1.17.0 with 1.18.0", marks=pytest.mark.slow
        ),
        pytest.param(
            ("--force-reinstall", "six==1.17.0"),
            "1.17.0",
            "pip reinstalled 1.17.0",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_pip_replacing_a_mason_package(
    world: World, pip_args: tuple[str, ...], now: str, note: str
) -> None:
    if pip_args[0] == "--force-reinstall":  # pip needs 1.17.0 among its links for that
        (world.links / "six-1.17.0-py3-none-any.whl").symlink_to(
            world.prefix / "var/lib/mason/wheels/six-1.17.0-py3-none-any.whl"
        )
    done = world.pip("install", *pip_args)
    assert done.returncode == 0, done.stderr

    verify = world.mason("verify")
    assert verify.returncode == 0, verify.stdout
    assert f"mason: six: {note}" in verify.stderr  # said once, by the command that saw it
    assert world.mason("verify").stderr == ""
    row = listed(world)["six"]
    assert (row["version"], row["changed_outside_mason"]) == (now, note)
    info = world.mason("info", "six").stdout
    assert f"installed version: {now}\nchanged outside mason: {note}\n" in info
    owner = world.mason("owner", f"{SITE}/six.py")
    assert owner.stdout == f"{SITE}/six.py: six\n"

    plan = world.mason("plan")
    assert plan.returncode == 0
    assert plan.stdout.startswith(f"six: left alone ({note}); `install six` puts")
    plain = world.mason("install")
    assert plain.returncode == 0, plain.stderr
    assert f"six: left alone ({note})" in plain.stdout
    assert world.python("import six; print(six.__version__)") == now
    assert world.mason("plan", "six").stdout.startswith(f"1.  six  1.17.0  {note}: the catalog")

    restored = world.mason("install", "six")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert_restored(world)


def test_pip_uninstalling_a_mason_package(world: World) -> None:
    assert world.pip("uninstall", "six").returncode == 0
    verify = world.mason("verify")
    assert verify.returncode == 0, verify.stdout
    assert "mason: six: 1.17.0 removed outside mason" in verify.stderr
    row = listed(world)["six"]
    assert row["version"] == "-"
    kept = world.mason("files", "six").stdout.split()  # the wheel store's copy stays
    assert kept == ["var/lib/mason/wheels/six-1.17.0-py3-none-any.whl"]
    assert "six: left alone (1.17.0 removed outside mason)" in world.mason("plan").stdout
    assert world.mason("install", "six").returncode == 0
    assert_restored(world)


@pytest.mark.slow
def test_uninstall_of_a_package_pip_replaced_removes_what_is_there(world: World) -> None:
    assert world.pip("install", "six==1.16.0").returncode == 0
    done = world.mason("uninstall", "six")
    assert done.returncode == 0, done.stderr
    assert "[six-1.17.0] pip replaced 1.17.0 with 1.16.0: removing what is there now" in done.stdout
    assert "uninstalled: 8 file(s) removed" in done.stdout  # pip's 7 and the stored wheel
    assert world.dist_infos() == [] and not (world.prefix / SITE / "six.py").exists()
    assert world.pip("show", "six").returncode == 1
    assert "six" not in listed(world)
    assert world.mason("verify").returncode == 0


@pytest.mark.parametrize("first", ["newproj", pytest.param("six", marks=pytest.mark.slow)])
def test_pip_installing_a_project_that_needs_a_mason_package(world: World, first: str) -> None:
    """newproj needs six>=1.18: pip upgrades mason's six as a side effect."""
    done = world.pip("install", "newproj")
    assert done.returncode == 0, done.stderr
    rows = listed(world)
    assert rows["newproj"]["kind"] == "external" and rows["newproj"]["origin"] == "pip"
    assert rows["newproj"]["changed_outside_mason"] == "external: installed by pip"
    assert rows["six"]["changed_outside_mason"] == "pip replaced 1.17.0 with 1.18.0"
    assert world.mason("owner", f"{SITE}/newproj.py").stdout == f"{SITE}/newproj.py: newproj\n"
    files = world.mason("files", "newproj").stdout.split()
    assert f"{SITE}/newproj-1.0.dist-info/RECORD" in files and f"{SITE}/newproj.py" in files
    assert world.mason("verify").returncode == 0
    assert world.python("import newproj, six; print(six.__version__)") == "1.18.0"

    gone = world.mason("uninstall", first)
    assert gone.returncode == 0, gone.stderr
    assert first not in listed(world) and world.dist_infos(first) == []
    left = "six" if first == "newproj" else "newproj"
    assert world.dist_infos(left) != [] and left in listed(world)
    assert world.mason("uninstall", left).returncode == 0
    assert set(listed(world)) == {"python_venv"}
    assert not (world.prefix / SITE / "newproj.py").exists()
    assert world.mason("verify").returncode == 0


@pytest.mark.slow
def test_a_project_pip_installed_before_mason_is_left_alone_until_named(world: World) -> None:
    assert world.mason("uninstall", "six").returncode == 0
    assert world.pip("install", "six==1.16.0").returncode == 0
    row = listed(world)["six"]
    assert (row["kind"], row["version"], row["origin"]) == ("external", "1.16.0", "pip")
    plain = world.mason("install")
    assert "six: left alone (external: installed by pip)" in plain.stdout
    assert world.dist_infos() == ["six-1.16.0.dist-info"]
    done = world.mason("install", "six")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_restored(world)


def test_mason_pip_brings_the_records_up_to_date_before_it_returns(world: World) -> None:
    done = world.mason_pip("install", "six==1.16.0", "other")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mason: six: pip replaced 1.17.0 with 1.16.0" in done.stderr
    assert "mason: other: 2.0 installed by pip" not in done.stderr
    assert "mason: other: external: installed by pip" in done.stderr
    record = json.loads((world.prefix / "var/lib/mason/installed/six-1.17.0").read_text())
    assert record["outside"]["now"] == "1.16.0"  # written by mason pip itself
    assert (world.prefix / "var/lib/mason/installed/other-2.0").is_file()
    assert world.mason("verify").stderr == ""  # nothing left to reconcile
    assert world.mason("verify").returncode == 0


@pytest.mark.slow
def test_mason_pip_returns_pips_exit_status(world: World) -> None:
    done = world.mason_pip("install", "nosuchproject")
    assert done.returncode == 1
    assert "nosuchproject" in done.stderr
    assert world.mason_pip("--version").returncode == 0
    assert world.mason("verify").returncode == 0


def test_mason_pip_without_a_venv_is_bad_usage(tmp_path: Path) -> None:
    from installsupport import mason

    done = mason("pip", "--prefix", tmp_path / "local", "list")
    assert done.returncode == 2
    assert "has no venv yet" in done.stderr
    assert not (tmp_path / "local").exists()


def test_an_unchanged_venv_writes_nothing(world: World) -> None:
    listing = world.prefix / "var/lib/mason/venv-dists.json"
    world.mason("verify")
    before = listing.stat().st_mtime_ns
    for command in (("list", "--installed"), ("plan",), ("verify",), ("files", "six")):
        assert world.mason(*command).returncode == 0
    assert listing.stat().st_mtime_ns == before
    assert json.loads(listing.read_text())["dists"].keys() == {f"{SITE}/six-1.17.0.dist-info"}
    assert six_source("1.17.0") == (world.prefix / SITE / "six.py").read_text()
