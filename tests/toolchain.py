"""A small Python toolchain bootstrap like SageMath's, as recipes of a tmp catalog.

SageMath 9.8 bootstraps its build tools with three kinds of recipe: ``wheel`` installs the
project with ``setup.py install --root="$SAGE_DESTDIR"`` and also stores its wheel;
``setuptools_wheel`` only stores a wheel of a NEWER setuptools; ``packaging`` builds with
``sdh_pip_install --build-isolation`` and takes its build requirements from the wheel store.
This module makes the same with tiny projects, offline:

- :func:`setuptools_wheel`: a wheel of the running interpreter's own setuptools (so the
  venv's ``python3 setup.py`` works), for a ``wheel`` package named ``setuptools``;
- :func:`masontool_sources`: an sdist of ``masontool`` (``setup.py`` with its own
  ``bdist_wheel`` command, a console script, and a PEP 517 backend ``masontool.backend``
  that writes into every wheel it builds the masontool version it ran with);
- :func:`app_sources`: an sdist of ``masonapp``, built by ``masontool>=2``;
- :func:`bootstrap_catalog`: the four recipes (``setuptools``, ``tool``, ``tool_wheel``,
  ``app``) with their real spkg-install scripts, given the setuptools wheel.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from installsupport import tarball_recipe
from pypackages import wheel_recipe
from recipefactory import write_recipe
from wheelfactory import make_wheel

_WHEELFILE = '''
import base64, hashlib, zipfile
from pathlib import Path


def _row(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_wheel(directory, name, version, files, entry_points=""):
    """Write a py3-none-any wheel of ``files`` (archive path -> bytes); return its name."""
    stem = name.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    files = dict(files)
    metadata = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
    files[f"{info}/METADATA"] = metadata.encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: masontool\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    rows = [_row(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\\n".join(rows) + "\\n").encode()
    wheel = f"{stem}-{version}-py3-none-any.whl"
    Path(directory).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(Path(directory) / wheel, "w") as archive:
        for path, data in files.items():
            member = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            member.external_attr = 0o644 << 16
            archive.writestr(member, data)
    return wheel
'''

_BDIST = """
from pathlib import Path

from setuptools import Command

from masontool.wheelfile import write_wheel


class bdist_wheel(Command):
    description = "build a wheel (masontool's own command)"
    user_options = [("bdist-dir=", "b", "scratch directory"), ("dist-dir=", "d", "output")]

    def initialize_options(self):
        self.bdist_dir = None
        self.dist_dir = None

    def finalize_options(self):
        self.dist_dir = self.dist_dir or "dist"

    def run(self):
        self.run_command("build_py")
        lib = Path(self.get_finalized_command("build_py").build_lib)
        files = {
            p.relative_to(lib).as_posix(): p.read_bytes()
            for p in sorted(lib.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
        groups = self.distribution.entry_points or {}
        points = "".join(f"[{g}]\\n" + "".join(f"{e}\\n" for e in es) for g, es in groups.items())
        dist = self.distribution
        write_wheel(self.dist_dir, dist.get_name(), dist.get_version(), files, points)
"""

_BACKEND = """
import tomllib
from pathlib import Path

import masontool
from masontool.wheelfile import write_wheel


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    package = project["name"].replace("-", "_")
    files = {p.as_posix(): p.read_bytes() for p in sorted(Path(package).rglob("*.py"))}
    files[f"{package}/_built_with.py"] = f"MASONTOOL = {masontool.__version__!r}\\n".encode()
    return write_wheel(wheel_directory, project["name"], project["version"], files)
"""

_SETUP = """
from setuptools import setup

from masontool.bdist import bdist_wheel

setup(
    name="masontool",
    version={version!r},
    packages=["masontool"],
    entry_points={{"console_scripts": ["masontool = masontool:main"]}},
    cmdclass={{"bdist_wheel": bdist_wheel}},
)
"""

#: The steps of SageMath's ``wheel`` recipe: install with setup.py into the staged venv,
#: then build the wheel and store it (only).
INSTALL_AND_STORE = (
    "cd src\n"
    "python3 setup.py --no-user-cfg install --single-version-externally-managed"
    ' --root="$SAGE_DESTDIR" || sdh_die "setup.py install of $PKG_NAME failed"\n'
    "sdh_setup_bdist_wheel\n"
    "sdh_store_wheel .\n"
)

#: The steps of SageMath's ``setuptools`` recipe: install with setup.py, store nothing.
INSTALL_ONLY = (
    "cd src\n"
    "python3 setup.py --no-user-cfg install --single-version-externally-managed"
    ' --root="$SAGE_DESTDIR" || sdh_die "setup.py install of $PKG_NAME failed"\n'
)

#: The real ``wheel`` project builds its own wheel with its sources on the path (its
#: installed copy is only staged yet).
INSTALL_AND_STORE_WHEEL = INSTALL_AND_STORE.replace(
    "sdh_setup_bdist_wheel", 'export PYTHONPATH="$(pwd)/src"\nsdh_setup_bdist_wheel'
)

#: The steps of SageMath's ``setuptools_wheel`` recipe: store a wheel, install nothing.
STORE_ONLY = "cd src\nsdh_setup_bdist_wheel\nsdh_store_wheel .\n"

#: The steps of SageMath's ``packaging`` recipe.
ISOLATED_BUILD = "cd src && sdh_pip_install --build-isolation .\n"


def masontool_sources(version: str) -> dict[str, str]:
    """An sdist of ``masontool`` ``version``."""
    init = f"__version__ = {version!r}\n\n\ndef main():\n    print('masontool', __version__)\n"
    return {
        "setup.py": _SETUP.format(version=version),
        "masontool/__init__.py": init,
        "masontool/wheelfile.py": _WHEELFILE,
        "masontool/bdist.py": _BDIST,
        "masontool/backend.py": _BACKEND,
    }


def app_sources() -> dict[str, str]:
    """An sdist of ``masonapp`` 1.0 whose build needs ``masontool>=2``."""
    pyproject = (
        '[build-system]\nrequires = ["masontool>=2"]\nbuild-backend = "masontool.backend"\n\n'
        '[project]\nname = "masonapp"\nversion = "1.0"\n'
    )
    return {"pyproject.toml": pyproject, "masonapp/__init__.py": "X = 1\n"}


def setuptools_wheel(directory: Path) -> Path:
    """A wheel of the setuptools the running interpreter has (every file it installed but
    byte-code, with its entry points)."""
    dist = importlib.metadata.distribution("setuptools")
    files: dict[str, bytes] = {}
    for entry in dist.files or ():
        path = entry.as_posix()
        if path.startswith(("..", "/")) or ".dist-info/" in path or "__pycache__" in path:
            continue
        located = Path(str(dist.locate_file(entry)))
        if located.is_file():
            files[path] = located.read_bytes()
    # its distutils commands and setup() keywords are entry points of its metadata
    points: dict[str, dict[str, str]] = {}
    for point in dist.entry_points:
        points.setdefault(point.group, {})[point.name] = point.value
    return make_wheel(directory, "setuptools", dist.version, files, entry_points=points)


def python_recipe(
    catalog: Path, name: str, sources: dict[str, str], version: str, deps: str, script: str
) -> None:
    """A ``normal`` package of the venv's tree (``install-requires.txt``) from an sdist."""
    tarball_recipe(catalog, name, sources, version=version, deps=deps, script=script)
    write_recipe(
        catalog, name, version=version, deps=deps, files={"install-requires.txt": f"{name}\n"}
    )


def bootstrap_catalog(catalog: Path, setuptools: Path) -> None:
    """``setuptools`` (a wheel package), ``tool`` (installs masontool 1.0 and stores its
    wheel), ``tool_wheel`` (stores masontool 2.0 only), ``app`` (builds with masontool 2
    from the wheel store); the dependencies of SageMath's wheel, setuptools_wheel and
    packaging."""
    wheel_recipe(catalog, "setuptools", setuptools)
    sources = masontool_sources
    python_recipe(catalog, "tool", sources("1.0"), "1.0", "setuptools", INSTALL_AND_STORE)
    python_recipe(catalog, "tool_wheel", sources("2.0"), "2.0", "setuptools tool", STORE_ONLY)
    deps = "| setuptools tool tool_wheel"
    python_recipe(catalog, "app", app_sources(), "1.0", deps, ISOLATED_BUILD)
