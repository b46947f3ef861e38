"""Small Python packages as recipes of a tmp catalog, for ``mason install`` tests.

- :func:`wheel_recipe`: a ``wheel`` package (the ``.whl`` is its tarball, in ``upstream/``);
- :func:`pip_recipe`: a ``pip`` package (``requirements.txt``);
- :func:`sdist_recipe`: a ``normal`` package whose ``spkg-install.in`` runs
  ``sdh_pip_install``; its sdist carries a tiny in-tree PEP 517 backend (standard library
  only), so it builds offline without setuptools;
- :func:`serve_simple_index`: a PEP 503 index of some wheels on 127.0.0.1;
- :func:`pip`: ``python -m pip --python <prefix>/bin/python ...``, what a user would run.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from installsupport import tarball_recipe
from recipefactory import write_recipe

# An in-tree build backend: packs every file of the sdist but pyproject.toml and _build/
# into a py3-none-any wheel. NAME and VERSION are prepended.
_BACKEND = """
import base64, hashlib, re, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEM = re.sub(r"[-_.]+", "_", NAME)
DIST_INFO = f"{STEM}-{VERSION}.dist-info"
TAG = "py3-none-any"


def _line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        p.relative_to(ROOT).as_posix(): p.read_bytes()
        for p in sorted(ROOT.rglob("*"))
        if p.is_file() and p.relative_to(ROOT).parts[0] not in ("_build", "pyproject.toml")
    }
    files[f"{DIST_INFO}/METADATA"] = (
        f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\nSummary: test\\n"
    ).encode()
    files[f"{DIST_INFO}/WHEEL"] = (
        f"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: {TAG}\\n"
    ).encode()
    rows = [_line(p, d) for p, d in files.items()] + [f"{DIST_INFO}/RECORD,,"]
    files[f"{DIST_INFO}/RECORD"] = ("\\n".join(rows) + "\\n").encode()
    name = f"{STEM}-{VERSION}-{TAG}.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as whl:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            whl.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return name
"""

_PYPROJECT = """[build-system]
requires = []
build-backend = "backend"
backend-path = ["_build"]

[project]
name = "{dist}"
version = "{version}"
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_recipe(catalog: Path, name: str, wheel: Path, *, deps: str | None = None) -> Path:
    """A ``wheel`` package ``name`` whose tarball is ``wheel`` (copied to ``upstream/``)."""
    upstream = catalog.parent / "upstream"
    upstream.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wheel, upstream / wheel.name)
    version = wheel.name.split("-")[1]
    checksums = f"tarball={wheel.name}\nsha256={_sha256(wheel)}\n"
    return write_recipe(
        catalog, name, version=version, deps=deps, files={"checksums.ini": checksums}
    )


def pip_recipe(catalog: Path, name: str, requirement: str, *, deps: str | None = None) -> Path:
    """A ``pip`` package ``name``: ``requirements.txt`` holding ``requirement``."""
    files = {"requirements.txt": f"# what pip installs\n{requirement}\n"}
    return write_recipe(catalog, name, version="1.0", deps=deps, files=files)


def backend_sources(dist: str, version: str, files: Mapping[str, str]) -> dict[str, str]:
    """The files of an sdist of ``dist`` holding ``files``, built by an in-tree backend."""
    backend = f"NAME, VERSION = {dist!r}, {version!r}\n{_BACKEND}"
    pyproject = _PYPROJECT.format(dist=dist, version=version)
    return {"pyproject.toml": pyproject, "_build/backend.py": backend, **files}


def sdist_recipe(
    catalog: Path,
    name: str,
    sources: Mapping[str, str | bytes],
    *,
    version: str = "1.0",
    deps: str | None = None,
    install: str = "cd src && sdh_pip_install .\n",
) -> Path:
    """A ``normal`` package ``name`` from a real tarball of ``sources``, run by ``install``."""
    tarball_recipe(catalog, name, sources, version=version, deps=deps, script=install)
    return catalog / name


def write_simple_index(root: Path, wheels: list[Path]) -> None:
    """Lay out a PEP 503 index of ``wheels`` under ``root`` (``simple/<project>/``)."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        shutil.copyfile(wheel, root / "files" / wheel.name)
        project = wheel.name.split("-")[0].lower().replace("_", "-")
        projects.setdefault(project, []).append(wheel)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    _html(root / "simple", links)
    for project, found in projects.items():
        anchors = "".join(
            f'<a href="../../files/{w.name}#sha256={_sha256(w)}">{w.name}</a>\n' for w in found
        )
        _html(root / "simple" / project, anchors)


def _html(directory: Path, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    page = f"<!DOCTYPE html>\n<html><body>\n{body}</body></html>\n"
    (directory / "index.html").write_text(page)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_simple_index(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1; yield the index URL (``http://127.0.0.1:PORT/simple``)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/simple"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def pip(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pip --python <prefix>/bin/python args...`` (the venv has no pip)."""
    command = [sys.executable, "-m", "pip", "--python", str(prefix / "bin/python"), *args]
    env_off = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **env_off}, check=False
    )


def run_python(prefix: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``<prefix>/bin/python`` (isolated from the user's site)."""
    return subprocess.run(
        [str(prefix / "bin/python"), "-I", "-c", code], capture_output=True, text=True, check=False
    )
