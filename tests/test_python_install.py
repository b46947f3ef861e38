"""Python packages through the real ``mason install``: what pip and the user see afterwards.

Each kind (``wheel``, ``pip`` from ``--find-links`` and from a PEP 503 index on 127.0.0.1,
``sdh_pip_install``) is installed into a fresh prefix; then ``pip list``/``show``/``check``/
``uninstall`` (pip of the running Python, ``--python <prefix>/bin/python``), imports with
the prefix's interpreter and ``mason verify`` are checked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from installsupport import install, mason, stable_records, tree
from pypackages import (
    backend_sources,
    pip,
    pip_recipe,
    run_python,
    sdist_recipe,
    serve_simple_index,
    wheel_recipe,
    write_simple_index,
)
from recipefactory import write_recipe
from wheelfactory import make_wheel, other_python

WHEEL_STORE = "var/lib/mason/wheels"
SITE = f"lib/python3.{sys.version_info.minor}/site-packages"


def verify(catalog: Path, prefix: Path) -> tuple[int, str]:
    done = mason("verify", "--catalog", catalog, "--prefix", prefix)
    return done.returncode, done.stdout + done.stderr


def three_kinds(tmp_path: Path) -> tuple[Path, Path]:
    """A catalog with a wheel, a pip (find-links) and an sdh_pip_install package."""
    catalog, links = tmp_path / "pkgs", tmp_path / "links"
    wheel = make_wheel(
        tmp_path / "w",
        "wheelmod",
        "2.0",
        {"wheelmod/__init__.py": "def main():\n    print('wheelmod says hi')\n"},
        entry_points={"console_scripts": {"wheelmod-hi": "wheelmod:main"}},
    )
    wheel_recipe(catalog, "pywheel", wheel)
    make_wheel(
        links,
        "findmod",
        "3.1",
        {"findmod.py": "import wheelmod\nX = 31\n"},
        requires=("wheelmod>=2",),
    )
    pip_recipe(catalog, "pyfind", "findmod==3.1", deps="pywheel")
    sources = backend_sources("sdistmod", "1.5", {"sdistmod/__init__.py": "Y = 15\n"})
    sdist_recipe(catalog, "pysdist", sources, version="1.5")
    return catalog, links


def test_wheel_pip_and_sdh_pip_install_packages_work_with_pip(tmp_path: Path) -> None:
    catalog, links = three_kinds(tmp_path)
    prefix = tmp_path / "local"
    done = install(catalog, prefix, "--all", "-j4", "--find-links", links)
    assert done.returncode == 0, done.stdout + done.stderr

    listed = pip(prefix, "list", "--format=freeze")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == {"wheelmod==2.0", "findmod==3.1", "sdistmod==1.5"}
    for dist, version in (("wheelmod", "2.0"), ("findmod", "3.1"), ("sdistmod", "1.5")):
        shown = pip(prefix, "show", "-f", dist)
        assert shown.returncode == 0, shown.stderr
        assert f"Version: {version}" in shown.stdout
        assert f"Location: {prefix / SITE}" in shown.stdout
        assert "__pycache__" in shown.stdout  # byte-code is in RECORD, as pip writes it
    assert "Requires: wheelmod" in pip(prefix, "show", "findmod").stdout
    check = pip(prefix, "check")
    assert check.returncode == 0, check.stdout + check.stderr

    imported = run_python(prefix, "import findmod, sdistmod; print(findmod.X, sdistmod.Y)")
    assert imported.stdout.split() == ["31", "15"], imported.stderr
    assert (prefix / SITE / "sdistmod/__pycache__").is_dir()
    script = prefix / "bin/wheelmod-hi"
    assert script.read_text().startswith(f"#!{prefix}/bin/python")
    hello = run_python(
        prefix, f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    assert hello.stdout == "wheelmod says hi\n", hello.stderr
    assert (prefix / "var/lib/mason/wheels/sdistmod-1.5-py3-none-any.whl").is_file()
    status, out = verify(catalog, prefix)
    assert status == 0, out


def test_pip_uninstall_removes_a_distribution_and_mason_sees_it(tmp_path: Path) -> None:
    catalog, links = three_kinds(tmp_path)
    prefix = tmp_path / "local"
    assert install(catalog, prefix, "--all", "-j2", "--find-links", links).returncode == 0
    assert verify(catalog, prefix)[0] == 0

    gone = pip(prefix, "uninstall", "-y", "sdistmod")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "Successfully uninstalled sdistmod-1.5" in gone.stdout
    assert "sdistmod" not in pip(prefix, "list").stdout
    assert not (prefix / SITE / "sdistmod").exists()
    assert run_python(prefix, "import sdistmod").returncode == 1
    assert run_python(prefix, "import findmod").returncode == 0
    # pip worked behind mason's back: the next command brings the record up to date
    done = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert done.returncode == 0, done.stdout
    assert done.stderr == "mason: pysdist: 1.5 removed outside mason\n"
    files = mason("files", "--catalog", catalog, "--prefix", prefix, "pysdist").stdout.split()
    assert [f for f in files if "sdistmod" in f] == [f"{WHEEL_STORE}/sdistmod-1.5-py3-none-any.whl"]


def test_pip_package_from_a_local_pep503_index(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    wheels = [
        make_wheel(tmp_path / "w", "Index_Mod", "1.0", {"index_mod.py": "V = 'one'\n"}),
        make_wheel(tmp_path / "w", "Index_Mod", "1.1", {"index_mod.py": "V = 'newer'\n"}),
    ]
    write_simple_index(tmp_path / "index", wheels)
    pip_recipe(catalog, "index_mod", "index-mod")
    with serve_simple_index(tmp_path / "index") as url:
        done = install(catalog, prefix, "index_mod", "--index-url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert pip(prefix, "list", "--format=freeze").stdout.split() == ["Index_Mod==1.1"]
    assert run_python(prefix, "import index_mod; print(index_mod.V)").stdout == "newer\n"
    assert pip(prefix, "check").returncode == 0
    assert verify(catalog, prefix)[0] == 0


def test_pip_package_requirements_with_an_include_comments_and_markers(tmp_path: Path) -> None:
    catalog, links, prefix = tmp_path / "pkgs", tmp_path / "links", tmp_path / "local"
    make_wheel(links, "incmod", "1.0", {"incmod.py": "V = 1\n"})
    make_wheel(links, "incmod", "2.0", {"incmod.py": "V = 2\n"})
    make_wheel(links, "never", "1.0", {"never.py": ""})
    requirements = "-r pins.txt  # shared pins\nnever ; python_version < '3'\n"
    pins = "incmod ==1.0  # not the newest\n"
    write_recipe(
        catalog,
        "incpkg",
        version="1.0",
        files={"requirements.txt": requirements, "pins.txt": pins},
    )
    done = install(catalog, prefix, "incpkg", "--find-links", links)
    assert done.returncode == 0, done.stdout + done.stderr
    assert pip(prefix, "list", "--format=freeze").stdout.split() == ["incmod==1.0"]


def c_package(catalog: Path) -> None:
    """A script package that installs ``<site>/foo/__init__.py``, as a C library might."""
    body = (
        f'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/{SITE}/foo"\n'
        f'echo "FROM = \'C\'" > "$SAGE_DESTDIR$SAGE_LOCAL/{SITE}/foo/__init__.py"\n'
    )
    write_recipe(catalog, "cfoo", files={"spkg-install.in": body})


@pytest.mark.parametrize("first", ["cfoo", "pyfoo"])
def test_wheel_and_c_package_claiming_one_file_collide(tmp_path: Path, first: str) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    c_package(catalog)
    wheel_recipe(catalog, "pyfoo", make_wheel(tmp_path, "foo", "1.0", {"foo/__init__.py": "X=1\n"}))
    other = make_wheel(tmp_path, "bar", "1.0", {"bar.py": "\n"})
    wheel_recipe(catalog, "pybar", other)  # so the venv exists before the collision
    second = "pyfoo" if first == "cfoo" else "cfoo"
    assert install(catalog, prefix, first, "pybar").returncode == 0
    before = tree(prefix)

    done = install(catalog, prefix, second)
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stdout + done.stderr
    assert f"{SITE}/foo/__init__.py: already owned by {first}" in message
    assert second in message
    assert without_wheel_store(tree(prefix)) == without_wheel_store(before)
    assert verify(catalog, prefix)[0] == 0
    expected = "C" if first == "cfoo" else None
    if expected:
        assert run_python(prefix, "import foo; print(foo.FROM)").stdout == "C\n"
    else:
        assert run_python(prefix, "import foo; print(foo.X)").stdout == "1\n"


def without_wheel_store(entries: dict[str, tuple[str, int, str]]) -> dict[str, object]:
    return {p: e for p, e in entries.items() if not p.startswith(WHEEL_STORE + "/")}


def test_a_failed_merge_keeps_no_wheel_in_the_store(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    c_package(catalog)
    wheel_recipe(catalog, "pyfoo", make_wheel(tmp_path, "foo", "1.0", {"foo/__init__.py": "X=1\n"}))
    assert install(catalog, prefix, "cfoo").returncode == 0
    assert install(catalog, prefix, "pyfoo").returncode == 1
    assert not (prefix / WHEEL_STORE / "foo-1.0-py3-none-any.whl").exists()


def test_python_option_chooses_the_venv_interpreter(tmp_path: Path) -> None:
    other = other_python()
    if other is None:
        pytest.skip("no Python of another minor version on this machine")
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    wheel_recipe(catalog, "pyw", make_wheel(tmp_path, "wmod", "1.0", {"wmod.py": "W = 1\n"}))
    sources = backend_sources("smod", "1.0", {"smod/__init__.py": "S = 2\n"})
    sdist_recipe(catalog, "pys", sources)
    done = install(catalog, prefix, "--all", "-j2", "--python", other)
    assert done.returncode == 0, done.stdout + done.stderr

    version = run_python(prefix, "import sys; print(*sys.version_info[:2], sep='.')").stdout
    want = run_python_exe(other)
    assert version.strip() == want != f"3.{sys.version_info.minor}"
    site = prefix / f"lib/python{want}/site-packages"
    tag = "cpython-" + want.replace(".", "")
    assert (site / f"__pycache__/wmod.{tag}.pyc").is_file()
    assert (site / f"smod/__pycache__/__init__.{tag}.pyc").is_file()
    assert run_python(prefix, "import wmod, smod; print(wmod.W + smod.S)").stdout == "3\n"
    assert set(pip(prefix, "list", "--format=freeze").stdout.split()) == {"wmod==1.0", "smod==1.0"}
    assert verify(catalog, prefix)[0] == 0


def run_python_exe(python: str) -> str:
    import subprocess

    code = "import sys; print(*sys.version_info[:2], sep='.')"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def test_j1_and_j4_give_the_same_python_files(tmp_path: Path) -> None:
    """-j1 compiles in mason's process, -j4 in the CompilePool: the same bytes (SPEC 5.7)."""
    catalog = tmp_path / "pkgs"
    for n in range(6):
        modules = {
            f"mod{n}/m{i}.py": f"'''doc'''\nV = {i}\ndef f(x):\n    return x * {i}\n"
            for i in range(30)
        }
        modules[f"mod{n}/__init__.py"] = "from pkgutil import extend_path\n"
        wheel_recipe(catalog, f"py{n}", make_wheel(tmp_path / "w", f"mod{n}", "1.0", modules))
    live = tmp_path / "local"
    seen = []
    for jobs in ("-j1", "-j4"):
        done = install(catalog, live, "--all", jobs)
        assert done.returncode == 0, done.stdout + done.stderr
        files = {p: e for p, e in tree(live).items() if not p.startswith("var/lib/mason/")}
        seen.append((files, stable_records(live)))
        live.rename(tmp_path / f"local{jobs}")
    (tree1, records1), (tree4, records4) = seen
    assert tree1 == tree4
    assert records1 == records4
    assert sum(p.endswith(".pyc") for p in tree1) == 6 * 31
