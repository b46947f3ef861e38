"""The sdh_* helpers against SageMath 9.8's: every name exists; store is not install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mason.build import BuildSpec, ScriptFailed, prepare_build_dir, run_build, sdh_path
from mason.build.wheels import BadWheelStore, build_wheels
from mason.python import Venv
from wheelfactory import make_wheel

# Every function SageMath 9.8 defines in build/bin/sage-dist-helpers (read at the
# sagemath/sage commit tagged 9.8.rc0, 2023-01-29; the file is unchanged since
# 2022-09-23 and so the same in 9.8), but its private _sdh_cols and _sdh_hr.
SAGEMATH_9_8_HELPERS = (
    "sdh_die",
    "sdh_check_vars",
    "sdh_guard",
    "sdh_configure",
    "sdh_make",
    "sdh_make_check",
    "sdh_make_install",
    "sdh_setup_bdist_wheel",
    "sdh_prefix_args",
    "sdh_pip_install",
    "sdh_pip_editable_install",
    "sdh_store_wheel",
    "sdh_store_and_pip_install_wheel",
    "sdh_pip_uninstall",
    "sdh_cmake",
    "sdh_install",
    "sdh_preload_lib",
)


def test_every_sagemath_helper_is_defined() -> None:
    listed = subprocess.run(
        ["bash", "-c", f". {sdh_path()} && declare -F"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    defined = {line.split()[-1] for line in listed.splitlines()}
    assert sorted(set(SAGEMATH_9_8_HELPERS) - defined) == []


def spec_for(tmp_path: Path, fragment: str, prefix: Path | None = None) -> BuildSpec:
    recipe_dir = tmp_path / "root/build/pkgs/pkg"
    recipe_dir.mkdir(parents=True)
    (recipe_dir / "spkg-install.in").write_text(fragment)
    build = tmp_path / "work/build"
    build.mkdir(parents=True)
    if prefix is None:
        prefix = tmp_path / "local"
        prefix.mkdir()
    return BuildSpec(
        name="pkg",
        version="1.0",
        recipe_dir=recipe_dir,
        prefix=prefix,
        build_dir=build,
        destdir=tmp_path / "work/dest",
        log_path=tmp_path / "pkg.log",
    )


def run(spec: BuildSpec) -> None:
    prepare_build_dir(spec)
    run_build(spec)


def with_wheel(spec: BuildSpec, name: str = "demo") -> Path:
    return make_wheel(spec.build_dir / "dist", name, "1.0", {f"{name}/__init__.py": ""})


def test_sdh_store_wheel_stores_and_installs_nothing(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, 'sdh_store_wheel . && echo "stored $wheel" > out.txt\n')
    wheel = with_wheel(spec)
    run(spec)
    stored = spec.staged_wheel_store / wheel.name
    assert stored.is_file() and not wheel.exists()
    assert (spec.build_dir / "out.txt").read_text() == f"stored {stored}\n"
    assert build_wheels(spec).stored_only == (stored,)
    assert not spec.install_list.exists()


def test_store_and_pip_install_lists_the_wheel_once_with_harmless_options(
    tmp_path: Path,
) -> None:
    fragment = (
        "sdh_store_and_pip_install_wheel --ignore-installed --no-deps .\n"
        "mkdir -p dist && mv stored.whl dist/ && sdh_store_and_pip_install_wheel .\n"
    )
    spec = spec_for(tmp_path, fragment)
    wheel = with_wheel(spec)
    other = make_wheel(tmp_path / "other", "other", "2.0", {"other.py": ""})
    other.rename(spec.build_dir / "stored.whl")  # its name in the store: stored.whl
    run(spec)
    found = build_wheels(spec)
    assert [w.name for w in found.to_install] == [wheel.name, "stored.whl"]
    assert found.stored_only == ()


def test_a_listed_wheel_that_is_not_stored_is_bad_input(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, 'sdh_store_wheel . && echo gone.whl >> "$MASON_WHEELS_TO_INSTALL"\n')
    with_wheel(spec)
    run(spec)
    with pytest.raises(BadWheelStore) as info:
        build_wheels(spec)
    assert info.value.problems == (
        "gone.whl: listed in mason-wheels-to-install.txt but not stored",
    )
    assert "pkg-1.0" in str(info.value)


def test_a_file_that_is_no_wheel_in_the_store_is_bad_input(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, 'mkdir -p "$SAGE_DESTDIR$SAGE_SPKG_WHEELS/sub"\n')
    run(spec)
    with pytest.raises(BadWheelStore) as info:
        build_wheels(spec)
    assert info.value.problems == ("sub: not a wheel file",)


def test_sdh_setup_bdist_wheel_runs_setup_py_bdist_wheel_into_dist(tmp_path: Path) -> None:
    setup = (
        "import sys, pathlib\n"
        "pathlib.Path('dist').joinpath('x-1-py3-none-any.whl').write_text(' '.join(sys.argv[1:]))\n"
    )
    spec = spec_for(tmp_path, "touch dist/old.whl; sdh_setup_bdist_wheel --universal\n")
    (spec.build_dir / "setup.py").write_text(setup)
    (spec.build_dir / "dist").mkdir()
    run(spec)
    assert sorted(p.name for p in (spec.build_dir / "dist").iterdir()) == ["x-1-py3-none-any.whl"]
    argv = (spec.build_dir / "dist/x-1-py3-none-any.whl").read_text().split()
    assert argv[:3] == ["--no-user-cfg", "bdist_wheel", "--bdist-dir"]
    assert argv[3].startswith(f"{spec.build_dir}/bdist.") and argv[4:] == ["--universal"]
    assert build_wheels(spec).stored == ()


def test_sdh_guard_prefix_args_and_preload_lib(tmp_path: Path) -> None:
    fragment = (
        "sdh_guard\n"
        "eval printf \"'<%s>'\" $(sdh_prefix_args --opt 'a b' c) > args.txt\n"
        'unset LD_PRELOAD; sdh_preload_lib bash libc.so; echo "$LD_PRELOAD" > preload.txt\n'
        'sdh_preload_lib bash libnothere; echo "$LD_PRELOAD" >> preload.txt\n'
        "(unset SAGE_SHARE; sdh_guard) 2> guard.txt && echo NOT REACHED\ntrue\n"
    )
    spec = spec_for(tmp_path, fragment)
    run(spec)
    assert (spec.build_dir / "args.txt").read_text() == "<--opt><a b><--opt><c>"
    libc, again = (spec.build_dir / "preload.txt").read_text().splitlines()
    assert Path(libc).name.startswith("libc.so") and again == libc
    assert "SAGE_SHARE" in (spec.build_dir / "guard.txt").read_text()


def test_an_editable_install_into_the_build_directory_is_refused(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "mkdir proj && sdh_pip_editable_install proj\necho NOT REACHED\n")
    with pytest.raises(ScriptFailed):
        run(spec)
    text = spec.log_path.read_text()
    assert "would point into the build directory, which mason removes" in text
    assert "pkg-1.0" in text and "NOT REACHED" not in text


# An in-tree PEP 660 backend: the editable wheel holds one .pth naming the project.
_EDITABLE_BACKEND = """
import base64, hashlib, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _row(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    info = "edit-1.0.dist-info"
    files = {
        "edit.pth": f"{ROOT}\\n".encode(),
        f"{info}/METADATA": b"Metadata-Version: 2.1\\nName: edit\\nVersion: 1.0\\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    rows = [_row(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\\n".join(rows) + "\\n").encode()
    name = "edit-1.0-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)
    return name
"""


def test_an_editable_install_of_a_project_outside_the_build_is_staged(
    tmp_path: Path, venv: Venv
) -> None:
    project = tmp_path / "project"
    (project / "_build").mkdir(parents=True)
    (project / "_build/backend.py").write_text(_EDITABLE_BACKEND)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_build"]\n'
        '[project]\nname = "edit"\nversion = "1.0"\n'
    )
    spec = spec_for(tmp_path, f"sdh_pip_editable_install {project}\n", prefix=venv.root)
    run(spec)
    staged_site = spec.destdir / venv.site_packages.relative_to("/")
    assert (staged_site / "edit.pth").read_text() == f"{project}\n"
    assert (staged_site / "edit-1.0.dist-info/direct_url.json").is_file()
