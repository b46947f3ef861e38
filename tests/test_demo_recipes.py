"""The bundled demo catalog, built for real: every recipe's scripts into a DESTDIR.

The whole demo is built once per module, in dependency order, into one prefix; each
staged tree is copied into the prefix the way the store would merge it (the store has
its own tests), so later recipes find their dependencies there.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import DEMO_CATALOG
from mason.build import (
    BuildSpec,
    apply_patches,
    check_prefix_untouched,
    prepare_build_dir,
    run_build,
    snapshot_prefix,
    staged_tree,
)
from mason.extract import extract

DEMO = DEMO_CATALOG.parent
ORDER = [
    "libdemo",
    "hello",
    "demo_tool",
    "demo_ns_a",
    "demo_ns_b",
    "demo_docs",
    "demo_py",
    "demo_all",
]
SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
NS_INIT = f"{SITE}/demo_ns/__init__.py"


@dataclass(frozen=True)
class Built:
    """One demo package after its build: the staged tree and the scripts that ran."""

    spec: BuildSpec
    staged: Path
    scripts: list[str]

    def files(self) -> set[str]:
        return {
            p.relative_to(self.staged).as_posix()
            for p in self.staged.rglob("*")
            if not p.is_dir() or p.is_symlink()
        }


def _version(name: str) -> str:
    return (DEMO_CATALOG / name / "package-version.txt").read_text().strip()


def _tarball(name: str) -> Path | None:
    ini = DEMO_CATALOG / name / "checksums.ini"
    if not ini.is_file():
        return None
    fields = dict(line.split("=", 1) for line in ini.read_text().splitlines() if "=" in line)
    upstream = re.sub(r"\.p\d+$", "", _version(name))
    return DEMO / "upstream" / fields["tarball"].replace("VERSION", upstream)


def _merge(staged: Path, prefix: Path) -> None:
    """A stand-in for the store: copy the staged tree into the prefix."""
    shutil.copytree(
        staged, prefix, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("lib64")
    )


def build_demo(name: str, prefix: Path, work: Path) -> Built:
    """Extract, patch and build one demo recipe; check it stayed out of the live prefix."""
    build = work / name / "build"
    build.mkdir(parents=True)
    tarball = _tarball(name)
    if tarball is not None:
        extract(tarball, build / "src.extracted").rename(build / "src")
    spec = BuildSpec(
        name=name,
        version=_version(name),
        recipe_dir=DEMO_CATALOG / name,
        prefix=prefix,
        build_dir=build,
        destdir=work / name / "destdir",
        log_path=work / "logs" / f"{name}.log",
        extra_env={"SAGE_NUM_THREADS": "2"},
    )
    prepare_build_dir(spec)
    if tarball is not None:
        apply_patches(spec.package, spec.recipe_dir, build / "src")
    before = snapshot_prefix(prefix)
    scripts = run_build(spec, check=True)
    check_prefix_untouched(spec.package, before)
    return Built(spec, staged_tree(spec.package, spec.destdir, prefix), list(scripts))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("demo")
    prefix = root / "local"
    # Like mason's default: the prefix is a venv (without pip; sdh_pip_install copes).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True)
    if not (prefix / "lib64").is_symlink():
        (prefix / "lib64").symlink_to("lib")
    built = {}
    for name in ORDER:
        built[name] = build_demo(name, prefix, root / "work")
        _merge(built[name].staged, prefix)
    return built


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, check=True, env=env
    ).stdout


def test_every_recipe_is_well_formed_and_its_tarball_matches() -> None:
    names = sorted(p.name for p in DEMO_CATALOG.iterdir() if p.is_dir())
    assert names == sorted(ORDER)
    for name in names:
        recipe = DEMO_CATALOG / name
        assert re.fullmatch(r"[a-z0-9_]+", name)
        assert (recipe / "type").read_text().strip() == "standard"
        assert (recipe / "SPKG.rst").read_text().startswith(f"{name}: ")
        for fragment in recipe.glob("spkg-*.in"):
            assert not fragment.read_text().startswith("#!"), fragment
        tarball = _tarball(name)
        if tarball is not None:
            sha = (recipe / "checksums.ini").read_text().split("sha256=")[1].split()[0]
            assert hashlib.sha256(tarball.read_bytes()).hexdigest() == sha, name


def test_the_tarballs_are_regenerated_byte_for_byte() -> None:
    result = subprocess.run(
        [sys.executable, DEMO / "make-tarballs.py", "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_libdemo_stages_library_header_pkgconfig_and_data(demo: dict[str, Built]) -> None:
    libdemo = demo["libdemo"]
    assert libdemo.scripts == ["spkg-install"]
    assert libdemo.files() == {
        "lib64",
        "lib/libdemo.so",
        "include/demo.h",
        "lib/pkgconfig/demo.pc",
        "share/demo/libdemo.txt",
    }
    assert os.readlink(libdemo.staged / "lib64") == "lib"
    pc = (libdemo.staged / "lib/pkgconfig/demo.pc").read_text()
    assert f"prefix={libdemo.spec.prefix}\n" in pc
    # The recipe's patch is in the built library.
    assert b"(patched by the recipe)" in (libdemo.staged / "lib/libdemo.so").read_bytes()


def test_hello_links_libdemo_through_the_rpath_and_runs(demo: dict[str, Built]) -> None:
    hello = demo["hello"]
    assert hello.scripts == ["spkg-install", "spkg-check"]
    assert hello.files() == {"lib64", "bin/hello"}
    prefix = hello.spec.prefix
    dynamic = _run("readelf", "-d", hello.staged / "bin/hello")
    assert f"[{prefix / 'lib'}]" in dynamic and "libdemo.so" in dynamic
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    out = _run(prefix / "bin/hello", env=env)
    assert out == "Hello from mason's demo, built with libdemo 1.0 (patched by the recipe)\n"
    assert "spkg-check" in hello.spec.log_path.read_text()


def test_the_staged_program_runs_against_the_staged_library(
    tmp_path: Path, demo: dict[str, Built]
) -> None:
    # Before any merge: a fresh prefix, libdemo only staged; LD_LIBRARY_PATH finds it.
    prefix, work = tmp_path / "local", tmp_path / "work"
    prefix.mkdir()
    libdemo = build_demo("libdemo", prefix, work)
    hello_src = demo["hello"].spec.build_dir / "src" / "hello.c"
    exe = tmp_path / "hello"
    staged = libdemo.staged
    _run("cc", f"-I{staged / 'include'}", hello_src, "-o", exe, f"-L{staged / 'lib'}", "-ldemo")
    out = _run(exe, env=os.environ | {"LD_LIBRARY_PATH": str(staged / "lib")})
    assert "libdemo 1.0 (patched by the recipe)" in out


def test_the_script_package_installs_a_working_command(demo: dict[str, Built]) -> None:
    tool = demo["demo_tool"]
    assert tool.files() == {"lib64", "bin/demo-info", "share/demo/demo_tool.txt"}
    assert os.access(tool.staged / "bin/demo-info", os.X_OK)
    assert "mason's demo catalog" in _run(tool.spec.prefix / "bin/demo-info")


def test_two_packages_share_directories_and_a_namespace_package(
    demo: dict[str, Built],
) -> None:
    a, b = demo["demo_ns_a"], demo["demo_ns_b"]
    assert a.files() == {"lib64", NS_INIT, f"{SITE}/demo_ns/a.py", "share/demo/demo_ns_a.txt"}
    assert b.files() == {"lib64", NS_INIT, f"{SITE}/demo_ns/b.py", "share/demo/demo_ns_b.txt"}
    assert (a.staged / NS_INIT).read_bytes() == (b.staged / NS_INIT).read_bytes()
    assert "extend_path" in (a.staged / NS_INIT).read_text()
    # The venv's own python3 finds both halves in its site-packages.
    out = _run(
        a.spec.prefix / "bin/python3",
        "-c",
        "import demo_ns.a, demo_ns.b; print(demo_ns.a.NAME, demo_ns.b.NAME)",
    )
    assert out == "demo_ns.a demo_ns.b\n"
    shared = {p.name for p in (a.spec.prefix / "share/demo").iterdir()}
    assert shared == {"libdemo.txt", "demo_tool.txt", "demo_ns_a.txt", "demo_ns_b.txt"}


def test_the_order_only_dependency_is_run_at_build_time(demo: dict[str, Built]) -> None:
    docs = demo["demo_docs"]
    assert (DEMO_CATALOG / "demo_docs/dependencies").read_text().startswith("| hello")
    assert docs.files() == {"lib64", "share/doc/demo_docs/hello-output.txt"}
    text = (docs.staged / "share/doc/demo_docs/hello-output.txt").read_text()
    assert text.startswith("Hello from mason's demo")


def test_the_python_package_stores_one_wheel(demo: dict[str, Built]) -> None:
    py = demo["demo_py"]
    wheel = "var/lib/mason/wheels/demo_py-1.0-py3-none-any.whl"
    assert py.files() == {"lib64", wheel}
    with zipfile.ZipFile(py.staged / wheel) as whl:
        assert "demo_py/__init__.py" in whl.namelist()
        assert "demo_py-1.0.dist-info/RECORD" in whl.namelist()


def test_the_meta_package_runs_nothing_and_stages_nothing(demo: dict[str, Built]) -> None:
    meta = demo["demo_all"]
    assert meta.scripts == []
    assert meta.files() == {"lib64"}
    deps = (DEMO_CATALOG / "demo_all/dependencies").read_text().split()
    assert sorted(deps) == sorted(set(ORDER) - {"demo_all", "libdemo"})
