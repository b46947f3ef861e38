"""The real SageMath 9.8 catalog: the facts its README states hold in mason."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mason.catalog import Catalog
from mason.graph import find_cycles, longest_chain
from mason.plan import Installed, make_plan


@pytest.fixture
def sage(sage_catalog: Path) -> Catalog:
    return Catalog.load(sage_catalog)


def test_counts_by_type_and_kind(sage: Catalog) -> None:
    assert len(sage) == 410
    assert Counter(r.type for r in sage) == {
        "standard": 247,
        "optional": 142,
        "experimental": 20,
        "base": 1,
    }
    # no build scripts in this copy: the 21 script packages read as "none"
    assert Counter(r.kind for r in sage) == {"normal": 342, "pip": 25, "wheel": 3, "none": 40}


def test_type_files_without_trailing_newline(sage: Catalog) -> None:
    for name in ("barvinok", "polylib", "r_jupyter", "symengine_py"):
        assert not (sage.root / name / "type").read_bytes().endswith(b"\n")
        assert sage.recipes[name].type in ("optional", "experimental", "standard")


def test_order_only_parts(sage: Catalog) -> None:
    assert sum(1 for r in sage if (r.path / "dependencies").is_file()) == 371
    assert sum(1 for r in sage if r.order_only) == 239


def test_sagelib(sage: Catalog) -> None:
    sagelib = sage.recipes["sagelib"]
    assert sagelib.force
    assert sagelib.file_deps == ("$(SCRIPTS)", "$(PCFILES)")
    assert len(sagelib.deps) + len(sagelib.order_only) == 59
    assert {"openblas", "gmp", "python3"} <= set(sagelib.deps)  # $(BLAS) $(MP_LIBRARY) $(PYTHON)
    assert sagelib.order_only == (
        "setuptools",
        "pip",
        "setuptools_scm",
        "wheel",
        "setuptools_wheel",
        "sage_setup",
    )
    # pip is listed on both sides of the '|'; as in make, the normal dependency wins
    assert set(sagelib.deps) & set(sagelib.order_only) == {"pip"}


def test_gcc_has_only_order_only_dependencies(sage: Catalog) -> None:
    gcc = sage.recipes["gcc"]
    assert gcc.deps == () and gcc.order_only == ("gmp", "mpfr", "mpc", "zlib", "xz")


def test_giac_needs_libnauty_only_when_it_is_installed(sage: Catalog) -> None:
    assert sage.recipes["giac"].conditional == ("libnauty",)
    assert "libnauty" not in make_plan(sage, ["giac"]).names
    installed = {"libnauty": Installed("libnauty", "none", None, 1.0)}
    plan = make_plan(sage, ["giac"], installed=installed)
    assert "libnauty" not in plan.names
    assert "libnauty" in plan.needed
    both = make_plan(sage, ["giac", "libnauty"])
    assert both.names.index("libnauty") < both.names.index("giac")
    assert "libnauty" in both.prerequisites["giac"]


def test_standard_rpy2_pulls_in_optional_r(sage: Catalog) -> None:
    assert sage.recipes["r"].type == "optional"
    plan = make_plan(sage)
    assert "r" in plan.names
    assert plan.names.index("r") < plan.names.index("rpy2")


def test_no_cycle_and_longest_chain_of_22(sage: Catalog) -> None:
    graph = {r.name: r.deps + r.order_only + r.conditional for r in sage}
    assert find_cycles(graph) == []
    chain = longest_chain(graph)
    assert len(chain) == 22
    assert all(b in graph[a] for a, b in zip(chain[1:], chain, strict=False))


def test_plan_all_json_lists_every_package_dependencies_first(
    sage_catalog: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mason", "plan", "--catalog", str(sage_catalog), "--all", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    steps = json.loads(done.stdout)["steps"]
    names = [s["name"] for s in steps]
    assert len(names) == len(set(names)) == 410
    position = {name: i for i, name in enumerate(names)}
    sage = Catalog.load(sage_catalog)
    for recipe in sage:
        for dep in recipe.deps + recipe.order_only + recipe.conditional + recipe.optional:
            assert position[dep] < position[recipe.name], (dep, recipe.name)
    assert {s["reason"] for s in steps} == {"not installed"}
