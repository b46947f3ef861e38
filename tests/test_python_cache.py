"""The user's cache: byte-code and unpacked wheels shared by every prefix.

A second prefix gets its wheels' files as hard links from the cache, yet is exactly what
unpacking would give: its launchers name its own interpreter, its RECORDs match its
files, pip and ``mason verify`` accept it. A cached file changed in place is never
handed out again, and ``MASON_CACHE=off`` stages without any cache.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from installsupport import install, mason
from pypackages import pip, run_python, wheel_recipe
from wheelfactory import make_wheel

SITE = f"lib/python3.{sys.version_info.minor}/site-packages"


def catalog_with_scripts(tmp_path: Path) -> Path:
    """One wheel with a module, a console entry point and a ``#!python`` data script."""
    catalog = tmp_path / "pkgs"
    wheel = make_wheel(
        tmp_path / "w",
        "cachemod",
        "1.0",
        {"cachemod/__init__.py": "def main():\n    print('cachemod', __file__)\n"},
        entry_points={"console_scripts": {"cachemod-hi": "cachemod:main"}},
        data={"scripts": {"cachemod-raw": "#!python\nimport cachemod\ncachemod.main()\n"}},
        executable=frozenset({"cachemod-1.0.data/scripts/cachemod-raw"}),
    )
    wheel_recipe(catalog, "cachemod", wheel)
    return catalog


def record_problems(prefix: Path) -> list[str]:
    """Rows of the prefix's RECORD files whose hash or size does not match the file."""
    bad = []
    for record in (prefix / SITE).glob("*.dist-info/RECORD"):
        for path, digest, size in csv.reader(record.read_text().splitlines()):
            if not digest:
                continue
            data = (prefix / SITE / path).resolve().read_bytes()
            mine = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
            if digest != f"sha256={mine}" or int(size) != len(data):
                bad.append(path)
    return bad


def test_a_second_prefix_links_from_the_cache_and_is_its_own(tmp_path: Path) -> None:
    catalog = catalog_with_scripts(tmp_path)
    env = {"MASON_CACHE": str(tmp_path / "cache")}
    first, second = tmp_path / "one" / "local", tmp_path / "two" / "local"
    for prefix in (first, second):
        done = mason("install", "--catalog", catalog, "--prefix", prefix, "--all", env=env)
        assert done.returncode == 0, done.stdout + done.stderr

    module = second / SITE / "cachemod" / "__init__.py"
    assert module.stat().st_nlink == 3  # both prefixes and the cache: one inode
    assert module.stat().st_ino == (first / SITE / "cachemod" / "__init__.py").stat().st_ino
    for script in ("cachemod-hi", "cachemod-raw"):
        text = (second / "bin" / script).read_text()
        assert text.startswith(f"#!{second / 'bin' / 'python'}\n"), text
        assert (second / "bin" / script).stat().st_nlink == 1  # made for this prefix
        path = str(second / "bin" / script)
        ran = run_python(second, f"import runpy; runpy.run_path({path!r}, run_name='__main__')")
        assert ran.returncode == 0, ran.stderr
        assert str(second / SITE / "cachemod") in ran.stdout
    assert record_problems(second) == []
    assert pip(second, "check").returncode == 0
    verified = mason("verify", "--catalog", catalog, "--prefix", second)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert list((tmp_path / "cache" / "unpacked").iterdir())  # the entry the second used


def test_a_cached_file_changed_in_place_is_never_handed_out(tmp_path: Path) -> None:
    catalog = catalog_with_scripts(tmp_path)
    env = {"MASON_CACHE": str(tmp_path / "cache")}
    first, second = tmp_path / "one" / "local", tmp_path / "two" / "local"
    done = mason("install", "--catalog", catalog, "--prefix", first, "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    module = first / SITE / "cachemod" / "__init__.py"
    original = module.read_bytes()
    with module.open("ab") as f:  # an edit in place: the cache's inode changes too
        f.write(b"# patched by hand\n")

    done = mason("install", "--catalog", catalog, "--prefix", second, "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (second / SITE / "cachemod" / "__init__.py").read_bytes() == original
    assert record_problems(second) == []
    assert mason("verify", "--catalog", catalog, "--prefix", second).returncode == 0


def test_no_cache_when_it_is_off(tmp_path: Path) -> None:
    catalog = catalog_with_scripts(tmp_path)
    prefix = tmp_path / "local"
    done = mason(
        "install",
        "--catalog",
        catalog,
        "--prefix",
        prefix,
        "--all",
        env={"MASON_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path / "xdg")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "xdg").exists()
    assert (prefix / SITE / "cachemod" / "__init__.py").stat().st_nlink == 1
    assert record_problems(prefix) == []


def test_the_default_cache_is_xdg_cache_home(tmp_path: Path) -> None:
    catalog = catalog_with_scripts(tmp_path)
    env = {"MASON_CACHE": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    done = mason("install", "--catalog", catalog, "--prefix", tmp_path / "local", "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((tmp_path / "xdg" / "mason" / "unpacked").iterdir())
    # a catalog's wheel keeps its byte-code in its unpacked entry alone
    assert not (tmp_path / "xdg" / "mason" / "bytecode").exists()


def test_install_with_unreadable_cache_still_works(tmp_path: Path) -> None:
    catalog = catalog_with_scripts(tmp_path)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache should be\n")
    done = install(catalog, tmp_path / "local", "--all")
    assert done.returncode == 0
    env = {"MASON_CACHE": str(blocker)}
    prefix = tmp_path / "other"
    done = mason("install", "--catalog", catalog, "--prefix", prefix, "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert record_problems(prefix) == []


def test_a_cache_others_may_write_is_not_used(tmp_path: Path) -> None:
    catalog = catalog_with_scripts(tmp_path)
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could plant files there
    env = {"MASON_CACHE": str(shared)}
    prefix = tmp_path / "local"
    done = mason("install", "--catalog", catalog, "--prefix", prefix, "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(shared.iterdir()) == []
    assert (prefix / SITE / "cachemod" / "__init__.py").stat().st_nlink == 1


def test_two_runs_filling_one_cache_at_once(tmp_path: Path) -> None:
    """Two prefixes installed at the same moment from an empty cache: both whole, and the
    entry one of them kept serves a third."""
    catalog = tmp_path / "pkgs"
    for i in range(6):
        files = {f"race{i}/__init__.py": f"N = {i}\n", f"race{i}/more.py": "M = 1\n"}
        wheel_recipe(catalog, f"race{i}", make_wheel(tmp_path / "w", f"race{i}", "1.0", files))
    env = {"MASON_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "mason", "install", "--catalog", str(catalog), "--all"]
    runs = [
        subprocess.Popen(
            [*command, "-j2", "--prefix", str(tmp_path / name / "local")],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("one", "two")
    ]
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out
    third = tmp_path / "three" / "local"
    done = mason("install", "--catalog", catalog, "--prefix", third, "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    for prefix in (tmp_path / "one" / "local", tmp_path / "two" / "local", third):
        assert record_problems(prefix) == []
        assert mason("verify", "--catalog", catalog, "--prefix", prefix).returncode == 0
    assert (third / SITE / "race0" / "more.py").stat().st_nlink >= 3  # from the cache
    assert len(list((tmp_path / "cache" / "unpacked").iterdir())) == 6  # no temporaries left
