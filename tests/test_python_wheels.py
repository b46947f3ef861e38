"""stage_wheel: real wheels staged, moved into a real venv, checked with pip and python."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mason.errors import BadInput
from mason.python.errors import BadWheel, StagingWriteFailed, VenvError
from mason.python.venv import Venv, ensure_venv
from mason.python.wheels import StagedWheel, stage_wheel
from wheelfactory import make_wheel, record_hash

NAMESPACE_INIT = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"


def merge(staged: StagedWheel) -> None:
    """Stand-in for the store's merge: copy the staged tree into the venv."""
    shutil.copytree(staged.staged_root, staged.tree_root, symlinks=True, dirs_exist_ok=True)


def pip(venv: Venv, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--python", str(venv.python), *args]
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


def run_py(venv: Venv, code: str) -> str:
    done = subprocess.run([venv.python, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def demo_wheel(directory: Path) -> Path:
    return make_wheel(
        directory,
        "demo-pkg",
        "1.0",
        {
            "demo/__init__.py": "VALUE = 42\n",
            "demo/cli.py": "def main():\n    print('hello from demo')\n",
        },
        entry_points={"console_scripts": {"demo-hello": "demo.cli:main"}},
        data={
            "data": {"share/demo/notes.txt": "notes\n"},
            "scripts": {"demo-raw": "#!python\nimport sys\nprint(sys.prefix)\n"},
        },
        executable=frozenset({"demo_pkg-1.0.data/scripts/demo-raw"}),
    )


def test_staged_wheel_is_a_pip_installed_package(tmp_path: Path, venv: Venv) -> None:
    staged = stage_wheel(demo_wheel(tmp_path / "wheels"), venv, tmp_path / "stage")
    # nothing reached the venv before the merge
    assert not (venv.site_packages / "demo").exists()
    merge(staged)

    assert run_py(venv, "import demo; print(demo.VALUE, demo.__file__)") == (
        f"42 {venv.site_packages / 'demo' / '__init__.py'}"
    )
    listed = json.loads(pip(venv, "list", "--format=json").stdout)
    assert {"name": "demo-pkg", "version": "1.0"} in listed
    shown = pip(venv, "show", "-f", "demo-pkg").stdout
    assert "Name: demo-pkg" in shown
    assert "demo/__pycache__/cli.cpython-" in shown
    assert "../../../bin/demo-hello" in shown
    assert pip(venv, "check").returncode == 0
    assert (venv.site_packages / "demo_pkg-1.0.dist-info" / "INSTALLER").read_text() == "mason\n"

    done = pip(venv, "uninstall", "-y", "demo-pkg")
    assert done.returncode == 0, done.stderr
    assert not (venv.site_packages / "demo").exists()  # .py and __pycache__/*.pyc gone
    assert not (venv.site_packages / "demo_pkg-1.0.dist-info").exists()
    assert not (venv.root / "bin" / "demo-hello").exists()
    assert not (venv.root / "share" / "demo" / "notes.txt").exists()


def test_entry_point_and_scripts_run_with_the_venv_python(tmp_path: Path, venv: Venv) -> None:
    staged = stage_wheel(demo_wheel(tmp_path / "wheels"), venv, tmp_path / "stage")
    launcher = tmp_path / "stage" / "bin" / "demo-hello"
    assert launcher.read_text().splitlines()[0] == f"#!{venv.python}"
    merge(staged)
    hello = subprocess.run([venv.root / "bin" / "demo-hello"], capture_output=True, text=True)
    assert (hello.returncode, hello.stdout) == (0, "hello from demo\n")
    raw = subprocess.run([venv.root / "bin" / "demo-raw"], capture_output=True, text=True)
    assert (raw.returncode, raw.stdout) == (0, f"{venv.root}\n")


def test_data_scheme_lands_under_the_venv_root(tmp_path: Path, venv: Venv) -> None:
    staged = stage_wheel(demo_wheel(tmp_path / "wheels"), venv, tmp_path / "stage")
    assert "share/demo/notes.txt" in staged.files
    assert (tmp_path / "stage" / "share" / "demo" / "notes.txt").read_text() == "notes\n"


def test_purelib_and_headers_in_the_data_directory(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "cext",
        "1.0",
        {"cext/__init__.py": ""},
        data={"purelib": {"cext_extra.py": "E = 5\n"}, "headers": {"cext.h": "int cext;\n"}},
    )
    staged = stage_wheel(wheel, venv, tmp_path / "stage")
    py = "python{}.{}".format(*venv.version)
    assert f"include/site/{py}/cext/cext.h" in staged.files
    pyc = venv.relative.purelib / "__pycache__" / f"cext_extra.{venv.cache_tag}.pyc"
    assert pyc.as_posix() in staged.files
    merge(staged)
    assert run_py(venv, "import cext_extra; print(cext_extra.E)") == "5"


def test_venv_inside_the_prefix_stages_relative_to_the_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    venv = ensure_venv(prefix / "venv")
    staged = stage_wheel(
        demo_wheel(tmp_path / "wheels"), venv, tmp_path / "stage", tree_root=prefix
    )
    assert staged.dist_info == Path("venv") / venv.relative.purelib / "demo_pkg-1.0.dist-info"
    assert "venv/bin/demo-hello" in staged.files
    assert (tmp_path / "stage" / "venv" / "share" / "demo" / "notes.txt").is_file()
    merge(staged)
    hello = subprocess.run([venv.root / "bin" / "demo-hello"], capture_output=True, text=True)
    assert hello.stdout == "hello from demo\n"


def test_record_lists_every_staged_file_with_pip_paths(tmp_path: Path, venv: Venv) -> None:
    staged = stage_wheel(demo_wheel(tmp_path / "wheels"), venv, tmp_path / "stage")
    record = (staged.staged_root / staged.dist_info / "RECORD").read_text().splitlines()
    rows = {line.split(",")[0]: line.split(",")[1] for line in record}
    site = venv.relative.purelib
    expected = {
        str(Path(*[".."] * len(site.parts)) / f)
        if not Path(f).is_relative_to(site)
        else str(Path(f).relative_to(site))
        for f in staged.files
    }
    assert set(rows) == expected
    for path, digest in rows.items():
        if not path.endswith("RECORD"):
            data = (staged.staged_root / site / path).resolve().read_bytes()
            assert digest == record_hash(data), path
    assert [Path(f) for f in staged.files] == sorted(  # in the order paths sort
        p.relative_to(staged.staged_root) for p in staged.staged_root.rglob("*") if p.is_file()
    )


def test_identical_namespace_init_gives_identical_bytes(tmp_path: Path, venv: Venv) -> None:
    a = make_wheel(
        tmp_path / "w",
        "backports.aa",
        "1.0",
        {"backports/__init__.py": NAMESPACE_INIT, "backports/aa.py": "A = 1\n"},
    )
    b = make_wheel(
        tmp_path / "w",
        "backports.bb",
        "2.0",
        {"backports/__init__.py": NAMESPACE_INIT, "backports/bb.py": "B = 2\n"},
    )
    sa = stage_wheel(a, venv, tmp_path / "sa")
    sb = stage_wheel(b, venv, tmp_path / "sb")
    pyc = f"backports/__pycache__/__init__.{venv.cache_tag}.pyc"
    for rel in ("backports/__init__.py", pyc):
        in_a = (sa.staged_root / venv.relative.purelib / rel).read_bytes()
        in_b = (sb.staged_root / venv.relative.purelib / rel).read_bytes()
        assert in_a == in_b, rel
    init = venv.relative.purelib / "backports" / "__init__.py"
    assert (init.as_posix(), (venv.relative.purelib / pyc).as_posix()) in sa.bytecode
    merge(sa)
    merge(sb)
    assert run_py(venv, "from backports import aa, bb; print(aa.A + bb.B)") == "3"
    # the byte-code is valid for the final path: python uses it without rewriting it
    before = (venv.site_packages / pyc).read_bytes()
    run_py(venv, "import backports")
    assert (venv.site_packages / pyc).read_bytes() == before


def test_bad_record_hash_names_the_wheel_and_the_file(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "broken",
        "1.0",
        {"broken/__init__.py": "X = 1\n", "broken/data.py": "Y = 2\n"},
        record_overrides={"broken/data.py": record_hash(b"something else")},
    )
    with pytest.raises(BadWheel) as info:
        stage_wheel(wheel, venv, tmp_path / "stage")
    assert isinstance(info.value, BadInput)
    assert info.value.wheel == wheel
    assert "broken-1.0-py3-none-any.whl" in str(info.value)
    assert "broken/data.py didn't match RECORD" in str(info.value)
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize(
    "evil", ["../../../../etc/evil.py", "broken/../../../escape.py", "/tmp/absolute.py"]
)
def test_paths_escaping_the_venv_are_rejected(tmp_path: Path, venv: Venv, evil: str) -> None:
    wheel = make_wheel(
        tmp_path / "w", "broken", "1.0", {"broken/__init__.py": ""}, extra={evil: "import os\n"}
    )
    with pytest.raises(BadWheel, match="escapes the venv") as info:
        stage_wheel(wheel, venv, tmp_path / "stage")
    assert any(evil in problem for problem in info.value.problems)
    assert not (tmp_path / "stage").exists()
    assert not list(tmp_path.glob("**/escape.py")) and not Path("/tmp/absolute.py").exists()


def test_escaping_data_path_is_rejected(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "broken",
        "1.0",
        {"broken/__init__.py": ""},
        data={"data": {"../../outside.txt": "x"}},
    )
    with pytest.raises(BadWheel, match=r"outside\.txt escapes the venv"):
        stage_wheel(wheel, venv, tmp_path / "stage")


def test_every_problem_is_reported_at_once(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "broken",
        "1.0",
        {"broken/a.py": "", "broken/b.py": ""},
        record_overrides={"broken/a.py": record_hash(b"x"), "broken/b.py": record_hash(b"y")},
        extra={"../up.py": ""},
    )
    with pytest.raises(BadWheel) as info:
        stage_wheel(wheel, venv, tmp_path / "stage")
    text = "\n".join(info.value.problems)
    assert "broken/a.py" in text and "broken/b.py" in text and "../up.py" in text


def test_not_a_zip_is_a_clear_error(tmp_path: Path, venv: Venv) -> None:
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    wheel.write_text("not a zip")
    with pytest.raises(BadWheel, match=re.escape("fake-1.0-py3-none-any.whl")):
        stage_wheel(wheel, venv, tmp_path / "stage")


def test_staging_never_overwrites_and_cleans_up(tmp_path: Path, venv: Venv) -> None:
    mine = tmp_path / "stage" / venv.relative.purelib / "demo" / "cli.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine\n")
    with pytest.raises(StagingWriteFailed, match=r"demo/cli\.py is already staged"):
        stage_wheel(demo_wheel(tmp_path / "wheels"), venv, tmp_path / "stage")
    assert mine.read_text() == "mine\n"
    # what the failed call wrote before the conflict is gone again
    left = sorted(p for p in (tmp_path / "stage").rglob("*") if p.is_file())
    assert left == [mine]
    assert not (tmp_path / "stage" / "bin").exists()


def test_wheel_for_another_interpreter_is_rejected(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(
        tmp_path / "w",
        "native",
        "1.0",
        {"native/__init__.py": ""},
        tag="cp27-cp27mu-manylinux1_x86_64",
    )
    with pytest.raises(BadWheel, match="built for cp27-cp27mu-manylinux1_x86_64") as info:
        stage_wheel(wheel, venv, tmp_path / "stage")
    assert "Python {}.{}".format(*venv.version) in str(info.value)
    assert not (tmp_path / "stage").exists()


def test_tree_root_must_hold_the_venv(tmp_path: Path, venv: Venv) -> None:
    with pytest.raises(VenvError, match="is not under"):
        stage_wheel(demo_wheel(tmp_path / "w"), venv, tmp_path / "stage", tree_root=tmp_path / "x")
    assert not (tmp_path / "stage").exists()


def test_badly_named_wheel_is_rejected(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(tmp_path / "w", "demo", "1.0", {"demo/__init__.py": ""})
    renamed = wheel.rename(tmp_path / "w" / "demo.whl")
    with pytest.raises(BadWheel, match=r"demo\.whl"):
        stage_wheel(renamed, venv, tmp_path / "stage")


def test_source_that_does_not_compile_is_kept_without_bytecode(tmp_path: Path, venv: Venv) -> None:
    wheel = make_wheel(
        tmp_path / "w", "odd", "1.0", {"odd/__init__.py": "", "odd/py2only.py": "print 'hi'\n"}
    )
    staged = stage_wheel(wheel, venv, tmp_path / "stage")
    source = (venv.relative.purelib / "odd" / "py2only.py").as_posix()
    assert staged.not_compiled == (source,)
    assert source in staged.files


def test_wheel_archive_is_left_untouched(tmp_path: Path, venv: Venv) -> None:
    wheel = demo_wheel(tmp_path / "wheels")
    before = wheel.read_bytes()
    stage_wheel(wheel, venv, tmp_path / "stage")
    assert wheel.read_bytes() == before
    assert zipfile.is_zipfile(wheel)


BENCH_WHEELS = Path(__file__).resolve().parent.parent / "bench" / ".cache" / "wheels"


@pytest.mark.slow
def test_real_wheels_from_the_benchmark(
    tmp_path: Path, venv: Venv, request: pytest.FixtureRequest
) -> None:
    """The ~44 real wheels of bench/wheels.py: staged, merged, checked by pip."""
    if "slow" not in request.config.getoption("markexpr", ""):
        pytest.skip("slow: run with `pytest -m slow`")  # the default run does not deselect it
    wheels = sorted(BENCH_WHEELS.glob("*.whl"))
    if not wheels:
        pytest.skip(f"no wheels in {BENCH_WHEELS} (see bench/wheels.py)")
    staged = [stage_wheel(w, venv, tmp_path / "staging" / w.stem) for w in wheels]
    for s in staged:
        merge(s)
    listed = json.loads(pip(venv, "list", "--format=json").stdout)
    assert len(listed) == len(wheels)
    check = pip(venv, "check")
    assert check.returncode == 0, check.stdout
    first = staged[0]
    name = first.distribution
    assert pip(venv, "uninstall", "-y", name).returncode == 0
    assert not (venv.root / first.dist_info).exists()
    assert not any((venv.root / f).exists() for f in first.files)
