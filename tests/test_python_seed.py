"""The seed scenario: two ``backports.*`` distributions sharing ``backports/__init__.py``.

``backports.shutil_get_terminal_size`` and ``backports.ssl_match_hostname`` both ship a
pkgutil ``extend_path`` declaration as ``backports/__init__.py``. Each is built by
``sdh_pip_install`` in its own recipe and both are installed at ``-j8``, so they build and
merge at the same time: the shared directory and file must never make one fail.

The default tests use sdists shaped like the real ones (with an in-tree backend, offline);
slow ones repeat it 100 times and use the real sdists from PyPI, built with setuptools
(``sdh_pip_install --no-build-isolation``, setuptools and wheel being ``wheel`` packages
of the catalog, installed into the venv first).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installsupport import install, mason
from pypackages import backend_sources, pip, run_python, sdist_recipe, wheel_recipe
from recipefactory import write_recipe

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"
NAMESPACE = "from pkgutil import extend_path\n__path__ = extend_path(__path__, __name__)\n"
COMMENT = '# This is a Python "namespace package" http://www.python.org/dev/peps/pep-0382/\n'
CACHE = Path(__file__).resolve().parent.parent / "bench" / ".cache" / "seed"
IMPORT_BOTH = (
    "from backports.shutil_get_terminal_size import get_terminal_size\n"
    "from backports.ssl_match_hostname import match_hostname\n"
    "print(get_terminal_size.__module__, match_hostname.__module__)\n"
)


def seed_catalog(root: Path, *, comment: bool) -> Path:
    """The two recipes; with ``comment``, ssl_match_hostname's declaration has one more line."""
    catalog = root / "pkgs"
    terminal = backend_sources(
        "backports.shutil_get_terminal_size",
        "1.0.0",
        {
            "backports/__init__.py": NAMESPACE,
            "backports/shutil_get_terminal_size/__init__.py": (
                "from .get_terminal_size import get_terminal_size\n"
            ),
            "backports/shutil_get_terminal_size/get_terminal_size.py": (
                "def get_terminal_size():\n    return (80, 24)\n"
            ),
        },
    )
    hostname = backend_sources(
        "backports.ssl_match_hostname",
        "3.7.0.1",
        {
            "backports/__init__.py": (COMMENT if comment else "") + NAMESPACE,
            "backports/ssl_match_hostname/__init__.py": "def match_hostname(cert, name): ...\n",
        },
    )
    sdist_recipe(catalog, "backports_shutil_get_terminal_size", terminal, version="1.0.0")
    sdist_recipe(catalog, "backports_ssl_match_hostname", hostname, version="3.7.0.1")
    return catalog


def install_both(catalog: Path, prefix: Path, *, with_pip: bool = True) -> None:
    """Install both at -j8 into ``prefix``; check what a user would check."""
    done = install(catalog, prefix, "--all", "-j8")
    assert done.returncode == 0, done.stdout + done.stderr
    imported = run_python(prefix, IMPORT_BOTH)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == [
        "backports.shutil_get_terminal_size.get_terminal_size",
        "backports.ssl_match_hostname",
    ]
    owners = mason(
        "owner", "--catalog", catalog, "--prefix", prefix, f"{SITE}/backports/__init__.py"
    )
    assert owners.returncode == 0, owners.stderr
    assert "backports_shutil_get_terminal_size" in owners.stdout
    assert "backports_ssl_match_hostname" in owners.stdout
    if with_pip:
        listed = set(pip(prefix, "list", "--format=freeze").stdout.split())
        assert "backports.shutil_get_terminal_size==1.0.0" in listed
        assert "backports.ssl_match_hostname==3.7.0.1" in listed
        assert pip(prefix, "check").returncode == 0
    verify = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def rounds(tmp_path: Path, count: int, *, comment: bool) -> None:
    catalog = seed_catalog(tmp_path, comment=comment)
    for i in range(count):  # pip's view is checked once: the races are in the install
        install_both(catalog, tmp_path / f"prefix-{i}", with_pip=i == 0)


def test_identical_namespace_declarations_install_together(tmp_path: Path) -> None:
    rounds(tmp_path, 3, comment=False)


def test_namespace_declarations_differing_in_a_comment_install_together(tmp_path: Path) -> None:
    rounds(tmp_path, 1, comment=True)


@pytest.mark.slow
def test_identical_namespace_declarations_100_rounds(tmp_path: Path) -> None:
    rounds(tmp_path, 100, comment=False)


@pytest.mark.slow
def test_namespace_declarations_differing_in_a_comment_100_rounds(tmp_path: Path) -> None:
    rounds(tmp_path, 100, comment=True)


# -- the real sdists ------------------------------------------------------------------------

REAL = {
    "backports_shutil_get_terminal_size": "backports.shutil_get_terminal_size-1.0.0.tar.gz",
    "backports_ssl_match_hostname": "backports.ssl_match_hostname-3.7.0.1.tar.gz",
}


def download_real() -> list[Path]:
    """The real sdists, and wheels of their build tools, cached in bench/.cache/seed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = [
        ("--no-binary", "backports.shutil_get_terminal_size==1.0.0"),
        ("--no-binary", "backports.ssl_match_hostname==3.7.0.1"),
        ("--only-binary", "setuptools"),
        ("--only-binary", "wheel"),
        ("--only-binary", "packaging"),  # wheel requires it (pip check)
    ]
    for flag, requirement in wanted:
        project = requirement.split("==")[0].replace(".", "_").replace("-", "_")
        if any(p.name.replace(".", "_").startswith(project) for p in CACHE.iterdir()):
            continue
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", flag, ":all:"]
        try:
            done = subprocess.run(
                [*command, "-d", str(CACHE), requirement],
                capture_output=True,
                text=True,
                timeout=300,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"PyPI did not answer for {requirement} within 5 minutes")
        if done.returncode != 0:
            pytest.skip(f"PyPI did not answer for {requirement}: {done.stderr[-300:]}")
    return sorted(CACHE.iterdir())


def real_catalog(root: Path) -> Path:
    files = download_real()
    catalog = root / "pkgs"
    for name, deps in (("setuptools", None), ("wheel", "packaging"), ("packaging", None)):
        wheel = next(p for p in files if p.name.startswith(f"{name}-"))
        wheel_recipe(catalog, name, wheel, deps=deps)
    for name, sdist in REAL.items():
        top = sdist.removesuffix(".tar.gz")
        project, version = top.rsplit("-", 1)
        upstream = catalog.parent / "upstream"
        upstream.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CACHE / sdist, upstream / sdist)
        digest = hashlib.sha256((CACHE / sdist).read_bytes()).hexdigest()
        write_recipe(
            catalog,
            name,
            version=version,
            deps="setuptools wheel",
            files={
                "checksums.ini": f"tarball={project}-VERSION.tar.gz\nsha256={digest}\n",
                "spkg-install.in": "cd src && sdh_pip_install --no-build-isolation .\n",
            },
        )
    return catalog


@pytest.mark.slow
@pytest.mark.network
def test_real_backports_sdists_from_pypi(tmp_path: Path) -> None:
    # the real declarations differ: ssl_match_hostname's has one more comment line
    catalog = real_catalog(tmp_path)
    for i in range(5):
        install_both(catalog, tmp_path / f"prefix-{i}")
