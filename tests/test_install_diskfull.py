"""``mason install`` on a full disk (issue 16.1), through the real CLI on a small tmpfs.

The upstream cache, the prefix (with its build directories) and the user's cache each on
a filesystem of their own that runs out: during the download, the extraction, the build
(an upgrade: the old version stays). Each time: exit 1, a message saying the disk is
full, on which mount point and how much was needed when known; ``verify`` clean; no
temporary file; and once space is freed, the same command succeeds.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from installsupport import install, mason, records, tarball_recipe
from pypackages import wheel_recipe
from smallfs import fill, resize, small_fs, unfill
from wheelfactory import make_wheel

MAKEFILE = """all:
\thead -c $(SIZE) /dev/zero > blob
install:
\tmkdir -p $(DESTDIR)$(PREFIX)/share/thing
\tcp blob $(DESTDIR)$(PREFIX)/share/thing/blob
"""
SCRIPT = "cd src && sdh_make SIZE=$(cat ../size) && sdh_make_install PREFIX=$SAGE_LOCAL\n"


def thing(catalog: Path, version: str, build_size: int, **sources: str | bytes) -> None:
    """``thing``: a make build writing a file of ``build_size`` bytes."""
    tarball_recipe(
        catalog, "thing", {"Makefile": MAKEFILE, **sources}, version=version, script=SCRIPT
    )
    (catalog / "thing/size").write_text(f"{build_size}\n")


# The prefix's venv holds a copy of the interpreter: 17 KiB for a pyenv build (libpython
# beside it), 6.6 MiB for Debian's /usr/bin/python3.11. A filesystem for the prefix is
# that much bigger, so the venv fits and the build or the extraction is what fills it.
INTERPRETER_MIB = -(-os.stat(os.path.realpath(sys.executable)).st_size // (1 << 20))


def prefix_fs_size(mib: int) -> str:
    return f"{mib + INTERPRETER_MIB}m"


def verify_clean(prefix: Path) -> None:
    proc = mason("verify", "--prefix", prefix)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def full_message(stderr: str, what: str, mount: Path) -> None:
    assert f"disk full while {what}: no space left on the filesystem mounted at {mount} " in stderr
    assert f"mason: hint: free space on {mount}" in stderr


def test_download_into_a_full_upstream_cache(tmp_path: Path) -> None:
    catalog, prefix, mirror = tmp_path / "pkgs", tmp_path / "prefix", tmp_path / "mirror"
    noise = random.Random(1).randbytes(3 << 20)  # incompressible: the tarball is ~3 MiB
    thing(catalog, "1.0", 10, **{"noise.bin": noise})
    (tmp_path / "upstream").rename(mirror)  # a mirror has it, the cache does not
    with small_fs(tmp_path / "fs", size="1m") as up:
        args = ("thing", "--mirror", mirror, "--upstream", up)
        proc = install(catalog, prefix, *args)
        assert proc.returncode == 1, proc.stderr
        full_message(proc.stderr, "downloading thing-1.0.tar.gz", up)
        assert "MiB needed" in proc.stderr
        assert list(up.iterdir()) == [], "no partial download left"
        assert "thing" not in records(prefix)
        verify_clean(prefix)
        resize(up, "8m")
        assert install(catalog, prefix, *args).returncode == 0
        assert [p.name for p in up.iterdir()] == ["thing-1.0.tar.gz"]
    verify_clean(prefix)


def test_extraction_fills_the_prefix_filesystem(tmp_path: Path) -> None:
    catalog = tmp_path / "pkgs"
    thing(catalog, "1.0", 10, **{"zeros.bin": bytes(20 << 20)})  # 20 MiB unpacked, 20 KiB packed
    with small_fs(tmp_path / "fs", size=prefix_fs_size(8)) as fs:
        prefix = fs / "prefix"
        proc = install(catalog, prefix, "thing")
        assert proc.returncode == 1, proc.stderr
        full_message(proc.stderr, "extracting thing-1.0.tar.gz", fs)
        assert "about 20.0 MiB needed" in proc.stderr
        assert "thing" not in records(prefix)
        verify_clean(prefix)
        assert not list(prefix.glob("var/tmp/mason/*/build/.src.*")), "no half extraction"
        resize(fs, "64m")
        assert install(catalog, prefix, "thing").returncode == 0
        verify_clean(prefix)


def test_an_upgrade_whose_build_fills_the_disk_leaves_the_old_version(tmp_path: Path) -> None:
    catalog = tmp_path / "pkgs"
    thing(catalog, "1.0", 1000)
    with small_fs(tmp_path / "fs", size=prefix_fs_size(8)) as fs:
        prefix = fs / "prefix"
        assert install(catalog, prefix, "thing").returncode == 0
        thing(catalog, "2.0", 30 << 20)  # the new version writes 30 MiB
        proc = install(catalog, prefix, "thing")
        assert proc.returncode == 1, proc.stderr
        full_message(proc.stderr, "running spkg-install of thing-2.0", fs)
        assert records(prefix)["thing"]["package_version"] == "1.0"
        assert (prefix / "share/thing/blob").stat().st_size == 1000
        verify_clean(prefix)
        resize(fs, "96m")  # the user frees space
        proc = install(catalog, prefix, "thing")
        assert proc.returncode == 0, proc.stderr
        assert records(prefix)["thing"]["package_version"] == "2.0"
        verify_clean(prefix)


def test_a_full_user_cache_is_not_a_failure(tmp_path: Path) -> None:
    """The user's cache only saves work: when it is full, the wheel installs without it."""
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    wheel = make_wheel(tmp_path / "w", "fullmod", "1.0", {"fullmod/__init__.py": "X = 1\n"})
    wheel_recipe(catalog, "fullmod", wheel)
    with small_fs(tmp_path / "cache", size="1m") as cache:
        fill(cache, leave_bytes=0, leave_inodes=0)
        env = {"MASON_CACHE": str(cache)}
        proc = mason("install", "--catalog", catalog, "--prefix", prefix, "fullmod", env=env)
        assert proc.returncode == 0, proc.stderr
        unfill(cache)
        assert list(cache.iterdir()) == [], "nothing half-written in the cache"
    verify_clean(prefix)
