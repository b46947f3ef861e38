"""ensure_venv: a real venv, made once, safe under concurrent callers."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mason.python.errors import VenvError
from mason.python.venv import Venv, ensure_venv
from mason.python.wheels import stage_wheel
from wheelfactory import make_wheel, other_python


def test_creates_a_working_venv_with_its_schemes(tmp_path: Path) -> None:
    venv = ensure_venv(tmp_path / "prefix")
    assert (tmp_path / "prefix" / "pyvenv.cfg").is_file()
    assert venv.python == tmp_path / "prefix" / "bin" / "python"
    assert venv.version == sys.version_info[:2]
    py = "python{}.{}".format(*venv.version)
    assert venv.relative.purelib == Path("lib", py, "site-packages")
    assert venv.relative.scripts == Path("bin")
    assert venv.relative.data == Path(".")
    assert venv.site_packages == venv.root / "lib" / py / "site-packages"
    out = subprocess.run(
        [
            venv.python,
            "-c",
            "import sys, site; print(sys.prefix); print(site.getsitepackages()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(venv.root), str(venv.site_packages)]


def test_second_call_reuses_the_venv(tmp_path: Path) -> None:
    first = ensure_venv(tmp_path / "v")
    cfg = (tmp_path / "v" / "pyvenv.cfg").stat()
    second = ensure_venv(tmp_path / "v")
    assert second == first
    assert (tmp_path / "v" / "pyvenv.cfg").stat().st_mtime_ns == cfg.st_mtime_ns


def test_an_existing_directory_becomes_the_venv(tmp_path: Path) -> None:
    (tmp_path / "prefix" / "lib").mkdir(parents=True)
    (tmp_path / "prefix" / "lib" / "libz.so").write_text("not really")
    venv = ensure_venv(tmp_path / "prefix")
    assert venv.site_packages.is_dir()
    assert (tmp_path / "prefix" / "lib" / "libz.so").read_text() == "not really"


def test_a_half_made_venv_is_completed(tmp_path: Path) -> None:
    first = ensure_venv(tmp_path / "v")
    (first.root / "var" / "lib" / "mason" / "venv.json").unlink()
    first.python.unlink()  # as if killed between pyvenv.cfg and the interpreter link
    again = ensure_venv(tmp_path / "v")
    assert again == first
    subprocess.run([again.python, "-c", "pass"], check=True)


def test_cache_follows_pyvenv_cfg(tmp_path: Path) -> None:
    venv = ensure_venv(tmp_path / "v")
    cache = venv.root / "var" / "lib" / "mason" / "venv.json"
    cache.write_text(cache.read_text().replace("site-packages", "elsewhere"))
    assert ensure_venv(tmp_path / "v").relative.purelib.name == "elsewhere"  # cache is used
    with (venv.root / "pyvenv.cfg").open("a") as f:
        f.write("# re-made\n")
    assert ensure_venv(tmp_path / "v") == venv  # pyvenv.cfg changed: asked again


def _ensure_after_barrier(path: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    venv = ensure_venv(Path(path))
    results.put(venv)  # type: ignore[attr-defined]


def test_concurrent_callers_get_one_venv(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    n = 4
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_ensure_after_barrier, args=(str(tmp_path / "v"), barrier, results))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    venvs = [results.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * n
    assert all(v == venvs[0] for v in venvs)
    assert isinstance(venvs[0], Venv)
    subprocess.run([venvs[0].python, "-c", "import sys"], check=True)


def test_other_interpreter_makes_its_own_venv(tmp_path: Path) -> None:
    other = other_python()
    if other is None:
        pytest.skip("no second Python version on this machine")
    venv = ensure_venv(tmp_path / "v", python=other)
    done = subprocess.run(
        [other, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert venv.version == tuple(int(x) for x in done.stdout.split())
    assert venv.cache_tag == "cpython-{}{}".format(*venv.version)
    # byte-code for that venv is compiled by its own interpreter, under its own tag
    wheel = make_wheel(tmp_path / "w", "demo", "1.0", {"demo/__init__.py": "V = 7\n"})
    staged = stage_wheel(wheel, venv, tmp_path / "stage")
    pyc = venv.relative.purelib / "demo" / "__pycache__" / f"__init__.{venv.cache_tag}.pyc"
    assert pyc.as_posix() in staged.files
    shutil.copytree(staged.staged_root, venv.root, dirs_exist_ok=True)
    before = (venv.root / pyc).read_bytes()
    code = "import demo, importlib.util as u; print(demo.V, u.cache_from_source(demo.__file__))"
    done = subprocess.run([venv.python, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["7", str(venv.root / pyc)]
    assert (venv.root / pyc).read_bytes() == before
    with pytest.raises(VenvError, match="was made with Python") as info:
        ensure_venv(tmp_path / "v", python=sys.executable)
    assert info.value.venv == tmp_path / "v"


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "v").write_text("I am a file")
    with pytest.raises(VenvError, match="cannot create its lock file"):
        ensure_venv(tmp_path / "v")
    assert (tmp_path / "v").read_text() == "I am a file"


def test_missing_interpreter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VenvError, match="'no-such-python' not found"):
        ensure_venv(tmp_path / "v", python="no-such-python")
    assert not (tmp_path / "v" / "pyvenv.cfg").exists()


def test_a_venv_of_this_python_is_asked_in_process_with_the_same_answer(tmp_path: Path) -> None:
    """For a venv of the running interpreter mason computes the schemes and tags itself;
    they must be what the venv's own interpreter says."""
    import json

    from mason.python import venv as venv_module

    root = tmp_path / "v"
    ensure_venv(root)
    assert venv_module._made_by_this_python(root)
    query = f"PACKAGING_DIR = {venv_module._packaging_dir()!r}\n{venv_module._QUERY}"
    asked = subprocess.run(
        [str(root / "bin" / "python"), "-I", "-c", query],
        capture_output=True,
        text=True,
        check=True,
    )
    assert venv_module._ask_here(root) == json.loads(asked.stdout)
