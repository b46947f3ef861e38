"""pip packages: wheels from find-links directories and a real PEP 503 index on 127.0.0.1."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mason.python.errors import PipFailed
from mason.python.pip import build_wheel, download_wheels
from mason.python.venv import Venv, ensure_venv
from mason.python.wheels import stage_wheel
from wheelfactory import make_wheel, other_python


@pytest.fixture
def wheel_dir(tmp_path: Path) -> Path:
    d = tmp_path / "links"
    make_wheel(d, "demo", "1.0", {"demo/__init__.py": "V = '1.0'\n"})
    make_wheel(d, "demo", "2.0", {"demo/__init__.py": "V = '2.0'\n"})
    make_wheel(d, "other", "0.5", {"other.py": "O = 1\n"}, requires=("not-there>=1",))
    return d


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def write_simple_index(root: Path, wheels: Path) -> None:
    """A PEP 503 layout: /simple/<project>/ links to /files/<wheel>#sha256=..."""
    files = root / "files"
    shutil.copytree(wheels, files)
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(files.glob("*.whl")):
        projects.setdefault(wheel.name.split("-")[0].replace("_", "-"), []).append(wheel)
    simple = root / "simple"
    simple.mkdir()
    (simple / "index.html").write_text("".join(f'<a href="{p}/">{p}</a>\n' for p in projects))
    for project, project_wheels in projects.items():
        (simple / project).mkdir()
        links = "".join(
            f'<a href="../../files/{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
            f"{w.name}</a>\n"
            for w in project_wheels
        )
        (simple / project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")


@pytest.fixture
def index_url(tmp_path: Path, wheel_dir: Path) -> Iterator[str]:
    root = tmp_path / "www"
    write_simple_index(root, wheel_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_from_find_links_directory(tmp_path: Path, wheel_dir: Path) -> None:
    dest = tmp_path / "store"
    got = download_wheels(["demo==1.0"], dest, find_links=[wheel_dir])
    assert got == (dest / "demo-1.0-py3-none-any.whl",)
    assert sorted(p.name for p in dest.iterdir()) == ["demo-1.0-py3-none-any.whl"]


def test_requirements_file_takes_newest_and_ignores_dependencies(
    tmp_path: Path, wheel_dir: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# a pip package\ndemo\nother ; python_version >= '3'\n")
    got = download_wheels(reqs, tmp_path / "store", find_links=[wheel_dir])
    assert [p.name for p in got] == ["demo-2.0-py3-none-any.whl", "other-0.5-py3-none-any.whl"]


def test_download_from_local_index_then_stage_into_venv(tmp_path: Path, index_url: str) -> None:
    venv = ensure_venv(tmp_path / "prefix")
    (wheel,) = download_wheels(
        ["demo"], tmp_path / "store", python=venv.python, index_url=index_url
    )
    assert wheel.name == "demo-2.0-py3-none-any.whl"
    staged = stage_wheel(wheel, venv, tmp_path / "stage")
    shutil.copytree(staged.staged_root, venv.root, dirs_exist_ok=True)
    out = subprocess.run(
        [venv.python, "-c", "import demo; print(demo.V)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "2.0\n"


def test_download_picks_wheels_for_the_venv_python(tmp_path: Path) -> None:
    other = other_python()
    if other is None:
        pytest.skip("no second Python version on this machine")
    venv = ensure_venv(tmp_path / "prefix", python=other)
    links = tmp_path / "links"
    for py in ("cp{}{}".format(*sys.version_info[:2]), "cp{}{}".format(*venv.version)):
        make_wheel(links, "native", "1.0", {"native.py": f"TAG = {py!r}\n"}, tag=f"{py}-none-any")
    (mine,) = download_wheels(["native"], tmp_path / "a", find_links=[links])
    (theirs,) = download_wheels(["native"], tmp_path / "b", python=venv.python, find_links=[links])
    assert mine.name.endswith("-cp{}{}-none-any.whl".format(*sys.version_info[:2]))
    assert theirs.name.endswith("-cp{}{}-none-any.whl".format(*venv.version))
    staged = stage_wheel(theirs, venv, tmp_path / "stage")
    assert staged.wheel == theirs


def test_missing_package_is_a_clear_error(tmp_path: Path, index_url: str) -> None:
    dest = tmp_path / "store"
    with pytest.raises(PipFailed) as info:
        download_wheels(["no-such-project==1.0"], dest, index_url=index_url)
    assert "no-such-project==1.0" in str(info.value)
    assert "No matching distribution" in info.value.output
    assert info.value.exit_code == 1
    assert list(dest.iterdir()) == []  # no half-downloaded leftovers


def _tiny_project(root: Path, backend: str, requires: str = "[]") -> Path:
    src = root / "tiny"
    (src / "tiny").mkdir(parents=True)
    (src / "tiny" / "__init__.py").write_text("def hello():\n    print('tiny says hi')\n")
    (src / "pyproject.toml").write_text(
        f"[build-system]\nrequires = {requires}\n{backend}\n"
        '[project]\nname = "tiny"\nversion = "0.3"\n\n'
        '[project.scripts]\ntiny-hello = "tiny:hello"\n'
    )
    return src


# A PEP 517 back-end living in the project (backend-path), so pip builds without setuptools.
IN_TREE_BACKEND = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from wheelfactory import make_wheel, other_python

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    src = Path(__file__).parent / "tiny" / "__init__.py"
    wheel = make_wheel(Path(wheel_directory), "tiny", "0.3",
                       {{"tiny/__init__.py": src.read_text()}},
                       entry_points={{"console_scripts": {{"tiny-hello": "tiny:hello"}}}})
    return wheel.name
"""


def _check_tiny_wheel(tmp_path: Path, wheel: Path) -> None:
    assert [p.name for p in wheel.parent.iterdir()] == [wheel.name]
    venv: Venv = ensure_venv(tmp_path / "prefix")
    staged = stage_wheel(wheel, venv, tmp_path / "stage")
    shutil.copytree(staged.staged_root, venv.root, dirs_exist_ok=True)
    done = subprocess.run([venv.root / "bin" / "tiny-hello"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "tiny says hi\n")


def test_build_wheel_with_an_in_tree_backend(tmp_path: Path) -> None:
    src = _tiny_project(tmp_path, 'build-backend = "backend"\nbackend-path = ["."]\n')
    (src / "backend.py").write_text(IN_TREE_BACKEND)
    wheel = build_wheel(src, tmp_path / "wheels", build_isolation=False)
    assert wheel == tmp_path / "wheels" / "tiny-0.3-py3-none-any.whl"
    _check_tiny_wheel(tmp_path, wheel)


def test_isolated_build_gets_its_requirements_from_find_links(tmp_path: Path) -> None:
    links = tmp_path / "links"
    make_wheel(links, "tinyhelper", "1.0", {"tinyhelper.py": "USED = True\n"})
    src = _tiny_project(
        tmp_path, 'build-backend = "backend"\nbackend-path = ["."]\n', '["tinyhelper"]'
    )
    # the back-end only works when pip installed tinyhelper into the isolated build env
    (src / "backend.py").write_text("import tinyhelper\nassert tinyhelper.USED\n" + IN_TREE_BACKEND)
    wheel = build_wheel(src, tmp_path / "wheels", find_links=[links])
    _check_tiny_wheel(tmp_path, wheel)


def test_isolated_build_without_its_requirements_fails_clearly(tmp_path: Path) -> None:
    src = _tiny_project(
        tmp_path, 'build-backend = "backend"\nbackend-path = ["."]\n', '["tinyhelper"]'
    )
    (src / "backend.py").write_text(IN_TREE_BACKEND)
    with pytest.raises(PipFailed) as info:
        build_wheel(src, tmp_path / "wheels", find_links=[tmp_path])
    assert "tinyhelper" in info.value.output
    assert list((tmp_path / "wheels").iterdir()) == []


def _setuptools_builds_wheels() -> bool:
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    except Exception:
        return False
    # before 70.1, setuptools needs the separate `wheel` package for bdist_wheel
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def test_build_wheel_of_a_setuptools_project(tmp_path: Path) -> None:
    if not _setuptools_builds_wheels():
        pytest.skip("setuptools (with bdist_wheel) is not importable in the running interpreter")
    src = _tiny_project(tmp_path, 'build-backend = "setuptools.build_meta"\n')
    wheel = build_wheel(src, tmp_path / "wheels", build_isolation=False)
    assert wheel == tmp_path / "wheels" / "tiny-0.3-py3-none-any.whl"
    _check_tiny_wheel(tmp_path, wheel)


def test_build_wheel_of_a_non_project_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PipFailed, match=re.escape(f"building a wheel of {empty}")):
        build_wheel(empty, tmp_path / "wheels", build_isolation=False)
    assert list((tmp_path / "wheels").iterdir()) == []
