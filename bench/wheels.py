"""`mason install` of ~44 real wheels, side by side with pip and uv, in one run.

The wheels are downloaded once into bench/.cache/wheels (git-ignored):

    python -m pip download -d bench/.cache/wheels requests flask rich httpx attrs pydantic \
        tornado six packaging pyparsing python-dateutil pytz toml tomli jsonschema sqlalchemy \
        networkx sympy docutils pygments markdown-it-py idna certifi

(this script does it when the directory is empty). Each wheel becomes a `wheel` package of
a generated catalog (checksums.ini: tarball = the wheel's name, its sha256; `--upstream` is
the cache), and the variants install all of them into a fresh prefix or venv:

- `mason install --all -j2` (a fresh prefix: making its venv is included);
- one `pip install --no-deps` process per wheel into a fresh venv (the seed system's way);
- one `uv pip install --no-deps` of all wheels (uv comes from PyPI into bench/.cache/uv;
  the column is skipped when that fails). uv does not byte-compile by default, mason and pip
  do: `uv --compile-bytecode` is the like-for-like figure. uv's cache is warmed first;
  the last uv column starts from an empty uv cache (``UV_CACHE_DIR`` in the run's
  directory), as mason's cold run does: the like-for-like cold figure.

Venv creation for pip and uv, and writing the catalog, are not timed.

    python bench/wheels.py [--repeat N] [--skip-pip] [--cold]

Prints each variant's median wall time and its ratio to mason's.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "wheels"
UV_HOME = HERE / ".cache" / "uv"
PROJECTS = [
    "requests",
    "flask",
    "rich",
    "httpx",
    "attrs",
    "pydantic",
    "tornado",
    "six",
    "packaging",
    "pyparsing",
    "python-dateutil",
    "pytz",
    "toml",
    "tomli",
    "jsonschema",
    "sqlalchemy",
    "networkx",
    "sympy",
    "docutils",
    "pygments",
    "markdown-it-py",
    "idna",
    "certifi",
]


@dataclass(frozen=True)
class Variant:
    """``setup`` prepares ``work`` (not timed), ``run`` installs the wheels (timed)."""

    setup: Callable[[list[Path], Path], None]
    run: Callable[[list[Path], Path], None]
    runs: int


def download() -> list[Path]:
    """The cached wheels, downloaded first if there are none."""
    if not any(CACHE.glob("*.whl")):
        command = [sys.executable, "-m", "pip", "download", "-q", "-d", str(CACHE), *PROJECTS]
        subprocess.run(command, check=True)
    return sorted(CACHE.glob("*.whl"))


def write_catalog(wheels: list[Path], work: Path) -> None:
    """One `wheel` recipe per wheel, in ``work/pkgs``."""
    for wheel in wheels:
        dist, version = wheel.name.split("-")[:2]
        recipe = work / "pkgs" / re.sub(r"[^a-z0-9_]", "_", dist.lower())
        recipe.mkdir(parents=True)
        (recipe / "type").write_text("standard\n")
        (recipe / "package-version.txt").write_text(f"{version}\n")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        (recipe / "checksums.ini").write_text(f"tarball={wheel.name}\nsha256={digest}\n")


def mason(cache: Path | None) -> Callable[[list[Path], Path], None]:
    """mason with its byte-code cache at ``cache`` (None: an empty one, in the run's directory)."""

    def run(wheels: list[Path], work: Path) -> None:
        command = [sys.executable, "-m", "mason", "install", "--all", "-j2"]
        where = ["--catalog", str(work / "pkgs"), "--prefix", str(work / "local")]
        env = {**os.environ, "MASON_CACHE": str(cache or work / "cache")}
        command += ["--upstream", str(CACHE), *where]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)

    return run


def venv_with_pip(wheels: list[Path], work: Path) -> None:
    venv.EnvBuilder(with_pip=True).create(work / "venv")


def venv_without_pip(wheels: list[Path], work: Path) -> None:
    venv.EnvBuilder(with_pip=False).create(work / "venv")


def pip_per_wheel(wheels: list[Path], work: Path) -> None:
    python = str(work / "venv" / "bin" / "python")
    for wheel in wheels:
        command = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
        subprocess.run([*command, "--disable-pip-version-check"], check=True)


def uv_install(*flags: str, empty_cache: bool = False) -> Callable[[list[Path], Path], None]:
    """uv with its warm cache in bench/.cache/uv, or (``empty_cache``) an empty one in the
    run's directory (as mason's cold run has)."""

    def run(wheels: list[Path], work: Path) -> None:
        python = str(work / "venv" / "bin" / "python")
        command = [str(uv_exe()), "pip", "install", "-q", "--no-deps", "--python", python]
        cache = work / "uv-cache" if empty_cache else UV_HOME / "cache"
        env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_NO_CONFIG": "1"}
        subprocess.run([*command, *flags, *map(str, wheels)], check=True, env=env)

    return run


def uv_exe() -> Path:
    return UV_HOME / "venv" / "bin" / "uv"


def install_uv() -> bool:
    """uv into bench/.cache/uv/venv from PyPI; False when that does not work."""
    if uv_exe().exists():
        return True
    venv.EnvBuilder(with_pip=True, clear=True).create(UV_HOME / "venv")
    pip = [str(UV_HOME / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "uv"]
    return subprocess.run(pip, check=False).returncode == 0 and uv_exe().exists()


def once(variant: Variant, wheels: list[Path]) -> float:
    """Wall time of ``variant.run`` in a fresh directory, after its setup. The directory
    is removed at exit, not now: on an ext4 without a journal (this project's VM), inodes
    deleted in the minutes before are skipped one by one when new ones are allocated, so
    deleting a run's tree made every later run slower than the one before."""
    tmp = tempfile.mkdtemp(prefix="mason-bench-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    variant.setup(wheels, Path(tmp))
    # Write back what earlier runs left dirty (pip and uv never sync): mason's syncfs
    # would otherwise pay for their data.
    os.sync()
    start = time.perf_counter()
    variant.run(wheels, Path(tmp))
    return time.perf_counter() - start


def variants(repeat: int, with_pip: bool, cold_only: bool) -> dict[str, Variant]:
    """The variants, labelled; ``cold_only``: mason cold and uv with byte-code only."""
    out = {"mason install --all -j2": Variant(write_catalog, mason(None), repeat)}
    if not cold_only:
        warm = Path(tempfile.mkdtemp(prefix="mason-bench-cache-"))  # removed at exit
        atexit.register(shutil.rmtree, warm, ignore_errors=True)
        once(Variant(write_catalog, mason(warm), 1), download())  # fill mason's caches
        out["mason install --all -j2 (warm cache)"] = Variant(write_catalog, mason(warm), repeat)
    if install_uv():
        uv_warm = tempfile.mkdtemp(prefix="mason-bench-uv-")
        venv_without_pip([], Path(uv_warm))
        uv_install()(download(), Path(uv_warm))  # fill uv's cache: uv at its best
        shutil.rmtree(uv_warm)
        if not cold_only:
            out["uv pip install --no-deps (warm cache)"] = Variant(
                venv_without_pip, uv_install(), repeat
            )
        out["uv --compile-bytecode (warm cache)"] = Variant(
            venv_without_pip, uv_install("--compile-bytecode"), repeat
        )
        out["uv --compile-bytecode (empty cache)"] = Variant(
            venv_without_pip, uv_install("--compile-bytecode", empty_cache=True), repeat
        )
    else:
        print("uv: not available, its columns are skipped")
    if with_pip and not cold_only:
        out["pip install --no-deps, one process per wheel"] = Variant(
            venv_with_pip, pip_per_wheel, 1
        )
    return out


def compile_mason() -> None:
    """Byte-compile mason's own modules, as installing it does: with an editable install and
    PYTHONDONTWRITEBYTECODE (set on some machines), every run would compile them again."""
    import compileall

    import mason

    compileall.compile_dir(Path(mason.__file__).parent, quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast variants")
    parser.add_argument("--skip-pip", action="store_true", help="skip pip per wheel (~1 min)")
    parser.add_argument("--cold", action="store_true", help="only mason cold and uv with byte-code")
    args = parser.parse_args()
    wheels = download()
    compile_mason()
    size = sum(w.stat().st_size for w in wheels) / 1e6
    print(f"{len(wheels)} wheels, {size:.1f} MB, Python {sys.version.split()[0]}")
    chosen = variants(args.repeat, not args.skip_pip, args.cold)
    times: dict[str, list[float]] = {label: [] for label in chosen}
    for round_ in range(args.repeat):  # rounds interleave the variants (noisy machine)
        for label, variant in chosen.items():
            if round_ < variant.runs:
                times[label].append(once(variant, wheels))
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    base = statistics.median(times["mason install --all -j2"])
    for label, runs in times.items():
        t = statistics.median(runs)
        spread = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{label:48s} {t:7.2f} s  x{t / base:6.2f} of mason  (runs: {spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
