"""SageMath's toolchain bootstrap through mason: a stored wheel is not an installed one.

Real sdists built by the real helpers, in a real venv: ``tool`` installs masontool 1.0
with ``setup.py install --root`` and stores its wheel, ``tool_wheel`` stores a wheel of
masontool 2.0 without installing it, ``app`` builds with ``sdh_pip_install
--build-isolation`` and gets masontool 2.0 from the wheel store (tests/toolchain.py).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from installsupport import install, mason, records, script_recipe, tree
from pypackages import pip, run_python, wheel_recipe
from recipefactory import write_recipe
from toolchain import (
    INSTALL_AND_STORE,
    INSTALL_AND_STORE_WHEEL,
    INSTALL_ONLY,
    ISOLATED_BUILD,
    STORE_ONLY,
    bootstrap_catalog,
    masontool_sources,
    python_recipe,
    setuptools_wheel,
)
from wheelfactory import make_wheel

STORE = "var/lib/mason/wheels"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
SITE = f"lib/python{PY}/site-packages"
TOOL_1 = f"{STORE}/masontool-1.0-py3-none-any.whl"
TOOL_2 = f"{STORE}/masontool-2.0-py3-none-any.whl"
APP = f"{STORE}/masonapp-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def setuptools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The running interpreter's setuptools as a wheel (the same bytes for every test, so
    the user's unpacked cache serves the later stagings)."""
    return setuptools_wheel(tmp_path_factory.mktemp("setuptools"))


def test_the_bootstrap_installs_one_version_and_stores_both(
    tmp_path: Path, setuptools: Path
) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    bootstrap_catalog(catalog, setuptools)
    done = install(catalog, prefix, "app", "-j2")
    assert done.returncode == 0, done.stdout + done.stderr

    listed = pip(prefix, "list", "--format=freeze")
    assert listed.returncode == 0, listed.stderr
    dists = listed.stdout.split()
    assert [d for d in dists if d.startswith(("masontool==", "masonapp=="))] == [
        "masonapp==1.0",
        "masontool==1.0",  # one version: the stored 2.0 is not installed
    ]
    check = pip(prefix, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    built = run_python(prefix, "import masontool, masonapp._built_with as b; print(b.MASONTOOL)")
    assert built.stdout == "2.0\n", built.stderr  # the build requirement came from the store
    assert (prefix / "bin/masontool").is_file()

    verified = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    files = {name: set(r["files"]) for name, r in records(prefix).items()}
    assert TOOL_1 in files["tool"] and TOOL_2 in files["tool_wheel"] and APP in files["app"]
    assert files["tool_wheel"] - {"lib64"} == {TOOL_2}  # it installs nothing

    gone = mason("uninstall", "--catalog", catalog, "--prefix", prefix, "tool_wheel")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert sorted(p.name for p in (prefix / STORE).iterdir()) == [
        "masonapp-1.0-py3-none-any.whl",
        "masontool-1.0-py3-none-any.whl",
        setuptools.name,
    ]
    assert (prefix / SITE / f"masontool-1.0-py{PY}.egg-info").is_dir()  # untouched
    verified = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_installing_the_stored_wheel_replaces_what_setup_py_installed(
    tmp_path: Path, setuptools: Path
) -> None:
    # the failure of the issue: "bin/masontool is already staged"
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    wheel_recipe(catalog, "setuptools", setuptools)
    both = INSTALL_AND_STORE.replace("sdh_store_wheel .", "sdh_store_and_pip_install_wheel .")
    python_recipe(catalog, "tool", masontool_sources("1.0"), "1.0", "setuptools", both)
    done = install(catalog, prefix, "tool")
    assert done.returncode == 0, done.stdout + done.stderr
    site = sorted(p.name for p in (prefix / SITE).iterdir() if p.name.startswith("masontool"))
    assert site == ["masontool", "masontool-1.0.dist-info"]  # the egg-info went
    assert records(prefix)["tool"]["files"].count(TOOL_1) == 1
    shown = pip(prefix, "show", "-f", "masontool")
    assert "Version: 1.0" in shown.stdout and "../../../bin/masontool" in shown.stdout
    verified = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr


# -- the real sdists of SageMath 9.8's bootstrap ----------------------------------------

CACHE = Path(__file__).resolve().parent.parent / "bench" / ".cache" / "sdh-bootstrap"
#: recipe -> (project, version, dependencies, spkg-install.in): SageMath 9.8's versions
#: and the steps of its recipes; six is built like SageMath's six (isolated, by default).
REAL = {
    "setuptools": ("setuptools", "63.4.3", None, INSTALL_ONLY),
    "wheel": ("wheel", "0.38.4", "setuptools", INSTALL_AND_STORE_WHEEL),
    "setuptools_wheel": ("setuptools", "65.6.3", "setuptools wheel", STORE_ONLY),
    "six": ("six", "1.16.0", "| setuptools wheel setuptools_wheel", ISOLATED_BUILD),
}


def download_sdists() -> dict[str, Path]:
    """The real sdists (``pip download --no-binary :all: --no-deps``), cached in
    bench/.cache/sdh-bootstrap; the test is skipped when PyPI does not answer."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for name, (project, version, _, _) in REAL.items():
        sdist = CACHE / f"{project}-{version}.tar.gz"
        if not sdist.is_file():
            command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
            command += ["--no-binary", ":all:", "-d", str(CACHE), f"{project}=={version}"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                pytest.skip(f"PyPI did not answer for {project} within 5 minutes")
            if done.returncode != 0 or not sdist.is_file():
                pytest.skip(f"PyPI did not answer for {project}: {done.stderr[-300:]}")
        found[name] = sdist
    return found


def real_catalog(root: Path) -> Path:
    catalog, upstream = root / "pkgs", root / "upstream"
    upstream.mkdir(parents=True)
    for name, sdist in download_sdists().items():
        project, version, deps, script = REAL[name]
        shutil.copyfile(sdist, upstream / sdist.name)
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        files = {
            "checksums.ini": f"tarball={project}-VERSION.tar.gz\nsha256={digest}\n",
            "spkg-install.in": script,
            "install-requires.txt": f"{project}\n",
        }
        write_recipe(catalog, name, version=version, deps=deps, files=files)
    return catalog


@pytest.mark.slow
@pytest.mark.network
def test_the_real_sagemath_bootstrap_from_pypi_sdists(tmp_path: Path) -> None:
    catalog, prefix = real_catalog(tmp_path), tmp_path / "local"
    done = install(catalog, prefix, "six", "-j2")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = pip(prefix, "list", "--format=freeze").stdout.split()
    assert sorted(listed) == ["setuptools==63.4.3", "six==1.16.0", "wheel==0.38.4"]
    check = pip(prefix, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    verified = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    stored = sorted(p.name for p in (prefix / STORE).iterdir())
    assert stored == [
        "setuptools-65.6.3-py3-none-any.whl",
        "six-1.16.0-py2.py3-none-any.whl",
        "wheel-0.38.4-py3-none-any.whl",
    ]
    gone = mason("uninstall", "--catalog", catalog, "--prefix", prefix, "setuptools_wheel")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not (prefix / STORE / stored[0]).exists()
    assert (prefix / STORE / stored[2]).is_file()
    assert sorted(pip(prefix, "list", "--format=freeze").stdout.split()) == sorted(listed)


def test_a_wheel_store_holding_no_wheel_fails_and_leaves_the_prefix_as_it_was(
    tmp_path: Path,
) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    script_recipe(catalog, "fine")
    store = '"$SAGE_DESTDIR$SAGE_SPKG_WHEELS"'
    body = f"mkdir -p {store} && echo x > {store}/notes\n"
    script_recipe(catalog, "bad", body=body)
    assert install(catalog, prefix, "fine").returncode == 0
    before = tree(prefix)
    done = install(catalog, prefix, "bad")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad-1.0: the wheels of the build are wrong" in done.stderr
    assert "notes: not a wheel file" in done.stderr and "sdh_store_wheel ." in done.stderr
    assert tree(prefix) == before


def test_an_unclaimed_wheel_left_in_the_store_is_taken_over(tmp_path: Path) -> None:
    # a mason before this change kept the wheels it installed unclaimed
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    wheel = make_wheel(tmp_path / "w", "demo", "1.0", {"demo/__init__.py": "X = 1\n"})
    wheel_recipe(catalog, "demo", wheel)
    (prefix / STORE).mkdir(parents=True)
    (prefix / STORE / wheel.name).write_bytes(wheel.read_bytes())
    done = install(catalog, prefix, "demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{STORE}/{wheel.name}" in records(prefix)["demo"]["files"]
    verified = mason("verify", "--catalog", catalog, "--prefix", prefix)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    ("sandbox", "message"),
    [
        ("off", "instead of DESTDIR"),  # the watch sees the write after the build
        ("require", "installed all its files into the live tree"),  # the sandbox caught it
    ],
)
def test_a_build_storing_into_the_live_wheel_store_is_caught(
    tmp_path: Path, sandbox: str, message: str
) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    script_recipe(catalog, "fine")
    script_recipe(
        catalog, "stray", body='echo x > "$SAGE_SPKG_WHEELS/stray-1.0-py3-none-any.whl"\n'
    )
    assert install(catalog, prefix, "fine").returncode == 0
    (prefix / STORE).mkdir(parents=True)
    done = install(catalog, prefix, "stray", "--sandbox", sandbox)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr
    assert f"{STORE}/stray-1.0-py3-none-any.whl" in done.stderr
