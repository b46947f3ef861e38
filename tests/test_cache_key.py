"""Cache keys: a Merkle chain over recipes, dependencies, platform, flags, Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mason.binarycache.key import artifact_tag, compute_keys, keys_for
from mason.catalog import Catalog
from mason.plan import dependency_graph
from recipefactory import write_recipe

PLATFORM = {"machine": "x86_64", "os": "debian 12", "libc": "glibc 2.36", "compiler": "cc 12"}
MASON = (sys.executable, "-m", "mason")
PYTHON = {"version": "3.11.7", "implementation": "cpython-311", "soabi": "cpython-311-x86_64"}


def _catalog(root: Path) -> Path:
    cat = root / "pkgs"
    write_recipe(cat, "gmp", files={"spkg-install.in": "echo gmp\n"})
    write_recipe(cat, "mpfr", deps="gmp", files={"spkg-install.in": "echo mpfr\n"})
    write_recipe(cat, "mpc", deps="mpfr | gmp", files={"spkg-install.in": "echo mpc\n"})
    write_recipe(cat, "docs", deps="| mpc", files={"spkg-install.in": "echo docs\n"})
    write_recipe(cat, "zlib", files={"spkg-install.in": "echo zlib\n"})
    return cat


def _keys(cat: Path, flags: dict[str, str] | None = None) -> dict[str, str]:
    catalog = Catalog.load(cat)
    graph = dependency_graph(catalog, list(catalog.recipes))
    keys = compute_keys(catalog, graph, platform=PLATFORM, flags=flags or {}, python=PYTHON)
    return {name: k.key for name, k in keys.items()}


def test_changing_one_recipe_changes_it_and_its_dependents_only(tmp_path: Path) -> None:
    cat = _catalog(tmp_path)
    before = _keys(cat)
    write_recipe(cat, "mpfr", deps="gmp", files={"patches/fix.patch": "--- a\n+++ b\n"})
    after = _keys(cat)
    changed = {name for name in before if before[name] != after[name]}
    # mpc depends on mpfr; docs only order-only on mpc, still built against it
    assert changed == {"mpfr", "mpc", "docs"}


def test_the_same_inputs_give_the_same_keys(tmp_path: Path) -> None:
    cat = _catalog(tmp_path)
    assert _keys(cat) == _keys(cat)


def test_build_flags_change_every_key(tmp_path: Path) -> None:
    cat = _catalog(tmp_path)
    before, after = _keys(cat), _keys(cat, {"CFLAGS": "-O3"})
    assert all(before[n] != after[n] for n in before)


def test_the_key_names_its_dependencies_keys(tmp_path: Path) -> None:
    catalog = Catalog.load(_catalog(tmp_path))
    keys = keys_for(catalog, ["mpc"])
    assert keys["mpc"].document["dependencies"] == {
        "gmp": keys["gmp"].key,
        "mpfr": keys["mpfr"].key,
    }
    assert keys["mpc"].document["python"] is None


def test_tags_are_valid_oci_tags() -> None:
    tag = artifact_tag("x" * 200, "1.0+local", "ab" * 32)
    assert len(tag) <= 128 and "+" not in tag and tag.endswith("-" + ("ab" * 10))


def test_cache_key_command_prints_the_key_and_its_inputs(tmp_path: Path) -> None:
    cat = _catalog(tmp_path)
    prefix = str(tmp_path / "local")
    done = subprocess.run(
        [*MASON, "cache", "key", "mpfr", "--json", "--catalog", str(cat), "--prefix", prefix],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["tag"] == f"mpfr-1.0-{doc['key'][:20]}"
    assert set(doc["inputs"]["dependencies"]) == {"gmp"}
    assert not (tmp_path / "local").exists()
