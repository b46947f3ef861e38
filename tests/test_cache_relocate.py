"""Relocation of artifacts to another prefix: text, ELF RUNPATH (patchelf), padded binaries."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from mason.binarycache import LocalStore, NotRelocatable, make_artifact
from mason.binarycache.client import unpack
from mason.binarycache.key import CacheKey, canonical

LIB = "int demo(void) { return 42; }\n"
MAIN = """#include <stdio.h>
int demo(void);
static const char *where = PREFIX_STRING "/share/data";
int main(int argc, char **argv) { if (argc > 1) puts(where); return demo() == 42 ? 0 : 1; }
"""


def _key(name: str) -> CacheKey:
    doc = {"format": 1, "name": name, "version": "1.0"}
    return CacheKey(name, "1.0", hashlib.sha256(canonical(doc)).hexdigest(), doc)


def _build(staged: Path, prefix: Path, *, embed: bool) -> None:
    """``lib/libdemo.so`` and ``bin/prog`` linked with ``-rpath PREFIX/lib``; with
    ``embed`` the program also holds the prefix in a string."""
    if shutil.which("cc") is None or shutil.which("patchelf") is None:
        pytest.skip("needs cc and patchelf (Debian: gcc, patchelf)")
    (staged / "lib").mkdir(parents=True)
    (staged / "bin").mkdir()
    src = staged.parent / "src"
    src.mkdir(exist_ok=True)
    (src / "lib.c").write_text(LIB)
    (src / "main.c").write_text(MAIN)
    lib = staged / "lib" / "libdemo.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src / "lib.c")], check=True)
    define = f'-DPREFIX_STRING="{prefix if embed else "/opt/elsewhere"}"'
    link = [f"-L{staged / 'lib'}", "-ldemo", f"-Wl,-rpath,{prefix}/lib"]
    subprocess.run(
        ["cc", define, "-o", str(staged / "bin" / "prog"), str(src / "main.c"), *link], check=True
    )


def _relocated(tmp_path: Path, target: Path, *, embed: bool) -> Path:
    built_for = tmp_path / "a-prefix-of-medium-length"
    store = LocalStore(tmp_path / "cache")
    staged = tmp_path / "staged"
    _build(staged, built_for, embed=embed)
    artifact = make_artifact(store, staged, built_for, _key("prog"))
    expected = {"bin/prog": "binary" if embed else "rpath"}
    assert artifact.info["relocate"] == expected
    work = tmp_path / "work"
    work.mkdir()
    unpack(store, "prog-1.0", artifact, work / "tree", target, work)
    # what the merge would do: the tree lands at the target prefix
    shutil.move(work / "tree", target)
    return target


def test_runpath_is_rewritten_for_a_longer_prefix(tmp_path: Path) -> None:
    target = _relocated(tmp_path, tmp_path / ("a-much-longer-prefix" * 4), embed=False)
    rpath = subprocess.run(
        ["patchelf", "--print-rpath", str(target / "bin" / "prog")], capture_output=True, text=True
    ).stdout.strip()
    assert rpath == f"{target}/lib"
    assert subprocess.run([str(target / "bin" / "prog")]).returncode == 0


def test_a_prefix_string_is_padded_for_a_shorter_prefix(tmp_path: Path) -> None:
    target = _relocated(tmp_path, tmp_path / "b", embed=True)
    done = subprocess.run([str(target / "bin" / "prog"), "where"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout == f"{target}/share/data\n"


def test_a_prefix_string_cannot_grow(tmp_path: Path) -> None:
    longer = tmp_path / ("c" * 80)
    with pytest.raises(NotRelocatable, match=r"bin/prog: binary file holds the build prefix"):
        _relocated(tmp_path, longer, embed=True)
    assert not longer.exists()
    assert not (tmp_path / "work" / "tree").exists()  # refused before extracting


def test_byte_code_is_not_shipped_and_is_compiled_after_the_pull(tmp_path: Path) -> None:
    staged = tmp_path / "staged"
    pkg = staged / "lib" / "python3" / "site-packages" / "m"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    import py_compile
    import sys

    pyc = pkg / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
    rel = "lib/python3/site-packages/m/__init__.py"
    py_compile.compile(
        str(pkg / "__init__.py"),
        cfile=str(pyc),
        dfile=rel,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    before = pyc.read_bytes()
    store = LocalStore(tmp_path / "cache")
    artifact = make_artifact(store, staged, tmp_path / "p", _key("m"))
    assert not any("__pycache__" in path for path in artifact.info["files"])
    work = tmp_path / "work"
    work.mkdir()
    unpack(store, "m-1.0", artifact, work / "tree", tmp_path / "q", work)
    assert (work / "tree" / pyc.relative_to(staged)).read_bytes() == before


def test_a_config_naming_a_path_outside_the_tree_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    from mason.binarycache import ArtifactRefused

    staged = tmp_path / "staged"
    (staged / "share").mkdir(parents=True)
    (staged / "share" / "x.txt").write_text(f"{tmp_path}/p\n")
    store = LocalStore(tmp_path / "cache")
    artifact = make_artifact(store, staged, tmp_path / "p", _key("x"))
    victim = tmp_path / "victim.txt"
    victim.write_text(f"{tmp_path}/p\n")
    evil = replace(artifact, info={**artifact.info, "relocate": {"../../victim.txt": "text"}})
    work = tmp_path / "work"
    with pytest.raises(ArtifactRefused, match="not a file of its tree"):
        unpack(store, "x-1.0", evil, work / "tree", tmp_path / "q", work)
    assert victim.read_text() == f"{tmp_path}/p\n"
