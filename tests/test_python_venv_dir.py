"""``mason install --venv DIR``: a venv apart from the prefix, inside it or outside it.

Real venvs, real wheels, a real C package built with make/gcc. What a user checks: where
the files are, that the venv's python imports the wheel and pip lists it, that ``mason
owner``/``files``/``list``/``verify``/``uninstall`` see the venv's packages, and that the
prefix keeps its venv (another ``--venv`` is refused, nothing changed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from installsupport import install, mason, records, script_recipe, tarball_recipe
from mason.errors import BadInput
from mason.trees import VenvMismatch, VenvPlace, locate_venv, remember_venv, remembered_venv
from pypackages import backend_sources, pip, sdist_recipe, wheel_recipe
from recipefactory import write_recipe
from wheelfactory import make_wheel

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"

C_SOURCES = {
    "hello.c": '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n',
    "Makefile": (
        "chello: hello.c\n\t$(CC) -o chello hello.c\n"
        "install: chello\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n"
        "\tcp chello $(DESTDIR)$(PREFIX)/bin/chello\n"
    ),
}
# the C package also notes what its build saw: SAGE_VENV, SAGE_INST_LOCAL, python3
C_SCRIPT = (
    "cd src && sdh_make && sdh_make_install\n"
    'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/chello"\n'
    'printf "%s\\n" "$SAGE_VENV" "$SAGE_INST_LOCAL" "$(command -v python3)" '
    '> "$SAGE_DESTDIR$SAGE_LOCAL/share/chello/env"\n'
)


def venv_catalog(tmp_path: Path) -> Path:
    """A ``wheel`` package (module + console script) and a C package."""
    catalog = tmp_path / "pkgs"
    wheel = make_wheel(
        tmp_path / "w",
        "wheelmod",
        "2.0",
        {"wheelmod/__init__.py": "X = 2\ndef main():\n    print('wheelmod says hi')\n"},
        entry_points={"console_scripts": {"wheelmod-hi": "wheelmod:main"}},
    )
    wheel_recipe(catalog, "pywheel", wheel)
    tarball_recipe(catalog, "chello", C_SOURCES, script=C_SCRIPT)  # a normal package: it
    # makes the venv before its build too
    return catalog


def snapshot(*roots: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``roots`` with its kind, size and mtime."""
    found: dict[str, tuple[bool, int, int]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            found[str(path)] = (path.is_dir(), st.st_size, st.st_mtime_ns)
    return found


def check_installed(catalog: Path, prefix: Path, venv: Path) -> None:
    """The wheel in the venv, the C program in the prefix, both seen by mason and pip."""
    assert (venv / "pyvenv.cfg").is_file()
    assert not (prefix / "pyvenv.cfg").exists()
    assert (venv / SITE / "wheelmod/__init__.py").is_file()
    assert (venv / "bin/wheelmod-hi").read_text().startswith(f"#!{venv}/bin/python")
    hello = subprocess.run([prefix / "bin/chello"], capture_output=True, text=True, check=True)
    assert hello.stdout == "hello from C\n"
    seen = (prefix / "share/chello/env").read_text().splitlines()
    assert seen == [str(venv), str(prefix), str(venv / "bin/python3")]

    imported = subprocess.run(
        [venv / "bin/python", "-I", "-c", "import wheelmod; print(wheelmod.X)"],
        capture_output=True,
        text=True,
    )
    assert imported.stdout == "2\n", imported.stderr
    listed = pip(venv, "list", "--format=freeze")
    assert listed.stdout.split() == ["wheelmod==2.0"], listed.stderr

    module = venv / SITE / "wheelmod/__init__.py"
    owner = mason("owner", "--prefix", prefix, module, "bin/chello")
    assert owner.returncode == 0, owner.stdout + owner.stderr
    assert owner.stdout.splitlines() == [f"{module}: pywheel", "bin/chello: chello"]
    verified = mason("verify", "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    planned = mason("plan", "--catalog", catalog, "--prefix", prefix, "pywheel", "chello")
    assert planned.stdout.startswith("nothing to do: 2 package(s) up to date"), planned.stdout


def uninstall_the_wheel(prefix: Path, venv: Path) -> None:
    gone = mason("uninstall", "--prefix", prefix, "pywheel")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "[pywheel-2.0] uninstalled" in gone.stdout
    assert not (venv / SITE / "wheelmod").exists()
    assert not (venv / "bin/wheelmod-hi").exists()
    assert not list((venv / SITE).glob("wheelmod*"))
    assert "wheelmod" not in pip(venv, "list", "--format=freeze").stdout
    assert (venv / "bin/python").is_file()  # the venv itself stays


def check_another_venv_is_refused(catalog: Path, prefix: Path, venv: Path) -> None:
    elsewhere = prefix.parent / "elsewhere"
    before = snapshot(prefix, venv)
    refused = install(catalog, prefix, "--all", "--venv", elsewhere)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"already has its venv at {venv}" in refused.stderr
    assert snapshot(prefix, venv) == before
    assert not elsewhere.exists()


def test_a_venv_inside_the_prefix_is_in_the_prefix_store(tmp_path: Path) -> None:
    catalog = venv_catalog(tmp_path)
    prefix = tmp_path / "local"
    venv = prefix / "var/lib/venv"
    done = install(catalog, prefix, "--all", "-j2", "--venv", venv)
    assert done.returncode == 0, done.stdout + done.stderr

    check_installed(catalog, prefix, venv)
    assert set(records(prefix)) == {"python_venv", "pywheel", "chello"}
    assert not (venv / "var").exists()  # one store, one bookkeeping: the prefix's
    files = mason("files", "--prefix", prefix, "python_venv").stdout.splitlines()
    assert "var/lib/venv/pyvenv.cfg" in files
    assert "var/lib/venv/bin/python" in files

    uninstall_the_wheel(prefix, venv)
    check_another_venv_is_refused(catalog, prefix, venv)
    default = install(catalog, prefix, "--all")  # no --venv: the prefix's venv
    assert default.returncode == 0, default.stdout + default.stderr
    assert (venv / SITE / "wheelmod/__init__.py").is_file()
    assert not (prefix / "pyvenv.cfg").exists()


def test_a_venv_outside_the_prefix_is_a_store_of_its_own(tmp_path: Path) -> None:
    catalog = venv_catalog(tmp_path)
    # a sdh_pip_install package of the venv's tree (SAGE_INST_LOCAL is the venv)
    sources = backend_sources("sdistmod", "1.5", {"sdistmod/__init__.py": "Y = 15\n"})
    recipe = sdist_recipe(catalog, "pysdist", sources, version="1.5")
    (recipe / "trees.txt").write_text("SAGE_VENV\n")
    prefix, venv = tmp_path / "local", tmp_path / "venv"
    done = install(catalog, prefix, "pywheel", "chello", "-j2", "--venv", venv)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"installed 2, failed 0, skipped 0 (prefix {prefix}, venv {venv})" in done.stdout

    check_installed(catalog, prefix, venv)
    assert set(records(venv)) == {"python_venv", "pywheel"}
    assert set(records(prefix)) == {"chello"}
    listed = mason("list", "--installed", "--prefix", prefix).stdout.split()
    assert listed[::2] == ["chello", "python_venv", "pywheel"]
    files = mason("files", "--prefix", prefix, "pywheel").stdout.splitlines()
    assert str(venv / SITE / "wheelmod/__init__.py") in files
    assert all(f.startswith(f"{venv}/") for f in files)

    # later commands find the venv without --venv
    sdist = install(catalog, prefix, "pysdist")
    assert sdist.returncode == 0, sdist.stdout + sdist.stderr
    assert (venv / SITE / "sdistmod/__init__.py").is_file()
    assert "pysdist" in records(venv)
    # the wheel store lives with the venv, its wheels claimed in the venv's store
    assert (venv / "var/lib/mason/wheels/sdistmod-1.5-py3-none-any.whl").is_file()
    assert not (prefix / "var/lib/mason/wheels").exists()

    uninstall_the_wheel(prefix, venv)
    assert set(records(venv)) == {"python_venv", "pysdist"}
    check_another_venv_is_refused(catalog, prefix, venv)
    verified = mason("verify", "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_prefix_package_writing_into_an_outside_venv_fails(tmp_path: Path) -> None:
    catalog = tmp_path / "pkgs"
    body = 'mkdir -p "$SAGE_DESTDIR$SAGE_VENV/share"\necho x > "$SAGE_DESTDIR$SAGE_VENV/share/x"\n'
    script_recipe(catalog, "stray", body=body)
    prefix, venv = tmp_path / "local", tmp_path / "venv"
    done = install(catalog, prefix, "stray", "--venv", venv)
    assert done.returncode == 1
    assert f"stray-1.0: installs outside its tree (the prefix {prefix})" in done.stderr
    assert "trees.txt saying SAGE_VENV" in done.stderr
    assert "stray" not in records(prefix)
    assert not (venv / "share").exists()


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("local/var/lib/mason/venv", "lies in mason's own directories"),
        (".", "holds the prefix"),
    ],
)
def test_a_bad_venv_directory_is_refused(tmp_path: Path, where: str, why: str) -> None:
    catalog = tmp_path / "pkgs"
    write_recipe(catalog, "empty", files={"spkg-install.in": "true\n"})
    prefix = tmp_path / "local"
    done = install(catalog, prefix, "empty", "--venv", tmp_path / where)
    assert done.returncode == 2
    assert why in done.stderr
    assert not prefix.exists()


def test_mason_venv_in_the_environment_chooses_the_venv(tmp_path: Path) -> None:
    catalog = venv_catalog(tmp_path)
    prefix, venv = tmp_path / "local", tmp_path / "venv"
    env = {**os.environ, "MASON_VENV": str(venv)}
    done = mason("install", "--catalog", catalog, "--prefix", prefix, "pywheel", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (venv / SITE / "wheelmod/__init__.py").is_file()
    # the prefix remembers it: no MASON_VENV needed any more
    module = venv / SITE / "wheelmod/__init__.py"
    assert mason("owner", "--prefix", prefix, module).stdout == f"{module}: pywheel\n"


def test_a_package_whose_tree_changes_moves_to_the_other_store(tmp_path: Path) -> None:
    catalog = tmp_path / "pkgs"
    body = (
        'mkdir -p "$SAGE_DESTDIR$SAGE_INST_LOCAL/share"\n'
        'echo x > "$SAGE_DESTDIR$SAGE_INST_LOCAL/share/x"\n'
    )
    script_recipe(catalog, "mover", body=body, extra={"trees.txt": "SAGE_VENV\n"})
    prefix, venv = tmp_path / "local", tmp_path / "venv"
    assert install(catalog, prefix, "mover", "--venv", venv).returncode == 0
    assert (venv / "share/x").is_file() and "mover" in records(venv)

    script_recipe(catalog, "mover", version="2.0", body=body, extra={"trees.txt": "SAGE_LOCAL\n"})
    done = install(catalog, prefix, "mover")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (prefix / "share/x").is_file() and records(prefix)["mover"]["package_version"] == "2.0"
    assert not (venv / "share/x").exists() and "mover" not in records(venv)
    assert mason("verify", "--prefix", prefix).returncode == 0


def test_the_prefix_remembers_the_first_venv_only(tmp_path: Path) -> None:
    prefix = tmp_path / "local"
    assert locate_venv(prefix) == VenvPlace(prefix, prefix)  # nothing remembered: the prefix
    first = locate_venv(prefix, tmp_path / "a")
    assert remembered_venv(prefix) is None  # locating writes nothing
    remember_venv(first)
    remember_venv(first)  # again: the same place, nothing to do
    assert locate_venv(prefix) == first and first.separate
    with pytest.raises(VenvMismatch) as refused:
        remember_venv(VenvPlace(prefix, tmp_path / "b"))  # a racing second writer
    assert refused.value.remembered == tmp_path / "a"
    assert remembered_venv(prefix) == tmp_path / "a"
    assert not VenvPlace(prefix, prefix / "var/lib/venv").separate

    (prefix / "var/lib/mason/venv-location.json").write_text('{"venv": "relative"}')
    with pytest.raises(BadInput, match=r"venv-location\.json"):
        locate_venv(prefix)


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_a_build_writing_into_an_outside_venv_is_caught(tmp_path: Path, sandbox: str) -> None:
    """The stray-write check watches the venv's own store too, not only the prefix; the
    sandbox (``auto``, where bubblewrap works) keeps an overlay over it too."""
    from mason.build.sandbox import Sandbox, probe

    sandboxed = sandbox == "auto" and isinstance(probe(os.environ.get("PATH")), Sandbox)
    catalog = tmp_path / "pkgs"
    wheel = make_wheel(tmp_path / "w", "wheelmod", "1.0", {"wheelmod/__init__.py": "X = 1\n"})
    wheel_recipe(catalog, "pywheel", wheel)
    body = (
        'echo sneaky > "$SAGE_VENV/sneaky.txt"\n'  # straight into the live venv
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share"\n'
        'echo ok > "$SAGE_DESTDIR$SAGE_LOCAL/share/ok.txt"\n'
    )
    script_recipe(catalog, "sneaky", deps="pywheel", body=body)
    prefix, venv = tmp_path / "local", tmp_path / "venv"
    done = install(catalog, prefix, "sneaky", "--venv", venv, "--sandbox", sandbox)
    assert done.returncode == 1, done.stdout + done.stderr
    if sandboxed:
        assert f"sneaky-1.0: the build tried to change the live tree {venv}" in done.stderr
        assert "created sneaky.txt" in done.stderr
        assert not (venv / "sneaky.txt").exists()
    else:
        assert f"sneaky-1.0: the build wrote into the live prefix {venv}" in done.stderr
        assert "sneaky.txt" in done.stderr
    assert "sneaky" not in records(prefix)
    assert "pywheel" in records(venv)
