"""Upgrades never make a shared file disappear (SPEC 8): a separate reader process keeps
loading ``lib/libdemo.so`` (dlopen + dlclose, and open + read) while the package is upgraded
back and forth, through ``mason merge`` of staged trees and through ``mason install`` of a
catalog whose version is bumped; it must never find the library missing or unloadable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from installsupport import install, mason, records, script_recipe

C_SOURCE = "int demo_version(void) {{ return {n}; }}\n"

READER = r"""
import ctypes, _ctypes, json, os, sys
lib, stop, out, ready = sys.argv[1:5]
loads, reads, missing, versions = 0, 0, [], set()
while not os.path.exists(stop):
    try:
        with open(lib, "rb") as f:
            if f.read(4) != b"\x7fELF":
                missing.append("not an ELF file")
        reads += 1
        handle = ctypes.CDLL(lib)
        versions.add(handle.demo_version())
        _ctypes.dlclose(handle._handle)  # the next round really loads the file again
        loads += 1
        if loads == 1:
            open(ready, "w").close()
    except OSError as e:
        missing.append(str(e))
with open(out, "w") as f:
    json.dump({"loads": loads, "reads": reads, "missing": missing,
               "versions": sorted(versions)}, f)
"""


def compile_lib(directory: Path, n: int) -> Path:
    """``libdemo.so`` whose ``demo_version()`` returns ``n``, built by the real gcc."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "demo.c"
    source.write_text(C_SOURCE.format(n=n))
    lib = directory / "libdemo.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, source], check=True)
    return lib


class Reader:
    """The reader process: started before the upgrades, stopped after them."""

    def __init__(self, prefix: Path, work: Path) -> None:
        self.stop, self.out = work / "stop", work / "reader.json"
        ready = work / "ready"
        lib = prefix / "lib/libdemo.so"
        args: list[str | Path] = [sys.executable, "-c", READER, lib, self.stop, self.out, ready]
        self.proc = subprocess.Popen(args)
        while not ready.exists():  # it has loaded the library once
            assert self.proc.poll() is None, "the reader died"
            time.sleep(0.01)

    def finish(self) -> dict[str, object]:
        self.stop.touch()
        assert self.proc.wait(timeout=60) == 0
        result: dict[str, object] = json.loads(self.out.read_text())
        return result


def upgrade_under_reader(
    prefix: Path, work: Path, rounds: int, upgrade: Callable[[int], None]
) -> None:
    reader = Reader(prefix, work)
    try:
        for i in range(rounds):
            upgrade(i)
    finally:
        result = reader.finish()
    assert result["missing"] == [], result["missing"][:5]  # type: ignore[index]
    assert result["loads"] and result["reads"]
    assert result["versions"] == [1, 2], result  # it read while both versions were there
    done = mason("verify", "--prefix", prefix)
    assert done.returncode == 0, done.stdout + done.stderr


def staged_version(work: Path, n: int) -> Path:
    """A staged tree of ``demo`` version ``n``: a shared library, a header, one file only
    this version has."""
    tree = work / f"stage{n}"
    (tree / "lib").mkdir(parents=True)
    (tree / "include").mkdir()
    (tree / f"share/demo{n}").mkdir(parents=True)
    compile_lib(work / f"build{n}", n).rename(tree / "lib/libdemo.so")
    (tree / "include/demo.h").write_text(f"#define DEMO_VERSION {n}\n")
    (tree / f"share/demo{n}/only-in-{n}.txt").write_text(f"{n}\n")
    return tree


def test_merge_upgrades_never_hide_the_library(tmp_path: Path) -> None:
    prefix, work = tmp_path / "prefix", tmp_path / "work"
    templates = {n: staged_version(work, n) for n in (1, 2)}

    def merge(i: int) -> None:
        n = 1 + i % 2
        done = mason("merge", "--copy", "--prefix", prefix, "demo", f"{n}.0", templates[n])
        assert done.returncode == 0, done.stderr
        assert (prefix / f"share/demo{n}/only-in-{n}.txt").exists()
        assert not (prefix / f"share/demo{3 - n}").exists()  # the old-only file went
        assert set(records(prefix)) == {"demo"}

    merge(1)  # version 2 installed before the reader starts
    upgrade_under_reader(prefix, work, 20, merge)
    assert records(prefix)["demo"]["package_version"] == "2.0"


BODY = (
    'd="$SAGE_DESTDIR$SAGE_LOCAL"; mkdir -p "$d/lib" "$d/include" "$d/share/demo$PKG_VER"\n'
    'gcc -shared -fPIC -o "$d/lib/libdemo.so" demo.c || sdh_die "gcc failed"\n'
    'echo "#define DEMO $PKG_VER" > "$d/include/demo.h"\n'
    'echo "$PKG_VER" > "$d/share/demo$PKG_VER/only-in-this-version.txt"\n'
)


def write_demo(catalog: Path, round_: int) -> str:
    """The ``demo`` recipe at version ``round_ + 1`` (a new version every round), whose
    library's ``demo_version()`` alternates between 1 and 2."""
    version = str(round_ + 1)
    extra = {"demo.c": C_SOURCE.format(n=1 + round_ % 2)}
    script_recipe(catalog, "demo", version=version, body=BODY, extra=extra)
    return version


def install_rounds(tmp_path: Path, rounds: int) -> None:
    catalog, prefix, work = tmp_path / "pkgs", tmp_path / "prefix", tmp_path / "work"
    work.mkdir()
    write_demo(catalog, 0)
    assert install(catalog, prefix, "demo").returncode == 0

    def bump(i: int) -> None:
        version = write_demo(catalog, i + 1)
        done = install(catalog, prefix, "demo")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"[demo-{version}] done" in done.stdout
        assert records(prefix)["demo"]["package_version"] == version
        assert [p.name for p in (prefix / "share").iterdir()] == [f"demo{version}"]

    upgrade_under_reader(prefix, work, rounds, bump)


def test_install_upgrades_never_hide_the_library(tmp_path: Path) -> None:
    install_rounds(tmp_path, 20)


def test_the_reader_sees_a_non_atomic_replacement(tmp_path: Path) -> None:
    """The harness can fail: unlink, then link the other version (a gap) is caught."""
    prefix, work = tmp_path / "prefix", tmp_path / "work"
    libs = {n: compile_lib(work / f"build{n}", n) for n in (1, 2)}
    (prefix / "lib").mkdir(parents=True)
    target = prefix / "lib/libdemo.so"
    shutil.copyfile(libs[1], target)
    reader = Reader(prefix, work)
    for i in range(300):
        target.unlink()
        time.sleep(0.001)
        os.link(libs[1 + i % 2], target)  # whole at once: only the gap is wrong
    result = reader.finish()
    assert result["missing"]


DEP_BODY = (
    'd="$SAGE_DESTDIR$SAGE_LOCAL"; mkdir -p "$d/lib" "$d/include"\n'
    'n=$(cat "$SAGE_LOCAL/share/base/n") || sdh_die "base is not installed"\n'
    'echo "int demo_version(void) { return $n; }" > demo.c\n'
    'gcc -shared -fPIC -o "$d/lib/libdemo.so" demo.c || sdh_die "gcc failed"\n'
    'echo "#define DEMO $n" > "$d/include/demo.h"\n'
)


def write_base(catalog: Path, round_: int) -> None:
    """``base`` at a new version every round; it installs ``share/base/n`` = 1 or 2."""
    out = "$SAGE_DESTDIR$SAGE_LOCAL/share/base"
    body = f'mkdir -p "{out}"\necho {1 + round_ % 2} > "{out}/n"\n'
    script_recipe(catalog, "base", version=f"{round_ + 1}", body=body)


def test_rebuilds_for_a_new_dependency_never_hide_the_library(tmp_path: Path) -> None:
    """``demo`` keeps its version; each new ``base`` rebuilds it (a reinstall)."""
    catalog, prefix, work = tmp_path / "pkgs", tmp_path / "prefix", tmp_path / "work"
    work.mkdir()
    write_base(catalog, 0)
    script_recipe(catalog, "demo", version="1.0", deps="base", body=DEP_BODY)
    assert install(catalog, prefix, "demo").returncode == 0

    def bump(i: int) -> None:
        write_base(catalog, i + 1)
        done = install(catalog, prefix, "demo")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "[demo-1.0] done" in done.stdout  # rebuilt and merged over itself
        assert records(prefix)["demo"]["dependencies"] == {"base": str(i + 2)}

    upgrade_under_reader(prefix, work, 8, bump)
