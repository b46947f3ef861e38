"""Graph algorithms and the planner: order, cycles, and why each package is rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mason.catalog import Catalog, UnknownPackage
from mason.graph import CycleError, find_cycles, longest_chain, topological_order
from mason.plan import Installed, make_plan
from recipefactory import write_recipe


def test_topological_order_is_deterministic() -> None:
    graph = {"app": ["zlib", "bzip2"], "zlib": [], "bzip2": [], "tool": ["app", "outside"]}
    assert topological_order(graph) == ["bzip2", "zlib", "app", "tool"]


def test_topological_order_breaks_ties_by_rank() -> None:
    graph = {"app": ["zlib", "bzip2"], "zlib": [], "bzip2": [], "tool": []}
    asked = ["tool", "zlib", "bzip2", "app"]
    assert topological_order(graph, rank=asked.index) == ["tool", "zlib", "bzip2", "app"]


def test_cycles_are_named_in_dependency_direction() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"], "e": ["a"]}
    assert find_cycles(graph) == [("a", "b", "c", "a"), ("d", "d")]
    with pytest.raises(CycleError, match=r"a -> b -> c -> a") as caught:
        topological_order(graph)
    assert caught.value.cycle == ("a", "b", "c", "a")
    assert isinstance(caught.value, ValueError)


def test_longest_chain() -> None:
    graph = {"a": [], "b": ["a"], "c": ["b", "a"], "d": ["a"]}
    assert longest_chain(graph) == ["a", "b", "c"]


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """zlib <- libpng <- app (normal); app | tool (order-only); docs optional."""
    pkgs = tmp_path / "pkgs"
    write_recipe(pkgs, "zlib", tarball=True)
    write_recipe(pkgs, "libpng", deps="zlib", tarball=True)
    write_recipe(pkgs, "tool", tarball=True)
    write_recipe(pkgs, "app", deps="libpng | tool", tarball=True)
    write_recipe(pkgs, "extra", type="optional", deps="app", tarball=True)
    return pkgs


def up_to_date(catalog: Catalog, at: float = 100.0) -> dict[str, Installed]:
    return {r.name: Installed(r.name, r.version, r.recipe_hash, at) for r in catalog}


def reasons(
    catalog: Catalog,
    installed: dict[str, Installed],
    names: list[str] | None = None,
    force: bool = False,
) -> dict[str, str]:
    plan = make_plan(catalog, names or (), installed=installed, force=force)
    return {step.name: step.reason for step in plan}


def test_fresh_prefix_builds_the_default_selection_in_order(stack: Path) -> None:
    plan = make_plan(Catalog.load(stack))
    assert plan.names == ("tool", "zlib", "libpng", "app")  # not the optional "extra"
    assert {s.reason for s in plan} == {"not installed"}
    assert plan.prerequisites == {
        "tool": (),
        "zlib": (),
        "libpng": ("zlib",),
        "app": ("libpng", "tool"),
    }


def test_default_selection_keeps_installed_optional_packages_up_to_date(stack: Path) -> None:
    catalog = Catalog.load(stack)
    installed = up_to_date(catalog)
    installed["extra"] = Installed("extra", "0.9", None, 100.0)
    assert reasons(catalog, installed) == {"extra": "new version (0.9 -> 1.0)"}
    del installed["extra"]
    assert reasons(catalog, installed) == {}


def test_up_to_date_prefix_plans_nothing(stack: Path) -> None:
    catalog = Catalog.load(stack)
    plan = make_plan(catalog, ["extra"], installed=up_to_date(catalog))
    assert plan.steps == ()
    assert set(plan.needed) == {"zlib", "libpng", "tool", "app", "extra"}


def test_new_version_rebuilds_normal_dependents_only(stack: Path) -> None:
    catalog = Catalog.load(stack)
    installed = up_to_date(catalog)
    installed["zlib"] = Installed("zlib", "0.9", installed["zlib"].recipe_hash, 100.0)
    installed["tool"] = Installed("tool", "0.9", installed["tool"].recipe_hash, 100.0)
    assert reasons(catalog, installed) == {
        "tool": "new version (0.9 -> 1.0)",  # app needs it only order-only: app stays
        "zlib": "new version (0.9 -> 1.0)",
        "libpng": "dependency zlib rebuilt",
        "app": "dependency libpng rebuilt",
        "extra": "dependency app rebuilt",  # installed, so kept up to date by default
    }
    plan = make_plan(catalog, installed=installed)
    assert plan.steps[0].installed_version == "0.9"


def test_recipe_change_is_detected(stack: Path) -> None:
    write_recipe(stack, "tool", tarball=True, files={"patches/fix.patch": "--- a\n"})
    catalog = Catalog.load(stack)
    installed = up_to_date(catalog)
    installed["tool"] = Installed("tool", "1.0", "0" * 64, 100.0)
    assert reasons(catalog, installed) == {"tool": "recipe changed"}
    installed["tool"] = Installed("tool", "1.0", None, 100.0)  # unknown hash: trusted
    assert reasons(catalog, installed) == {}


def test_force_rebuilds_the_named_package_and_its_dependents(stack: Path) -> None:
    catalog = Catalog.load(stack)
    got = reasons(catalog, up_to_date(catalog), names=["libpng", "extra"], force=True)
    assert got == {"libpng": "forced", "app": "dependency libpng rebuilt", "extra": "forced"}


def test_a_dependency_installed_later_makes_dependents_stale(stack: Path) -> None:
    catalog = Catalog.load(stack)
    installed = up_to_date(catalog)
    installed["libpng"] = Installed("libpng", "1.0", catalog.recipes["libpng"].recipe_hash, 200.0)
    installed["tool"] = Installed("tool", "1.0", catalog.recipes["tool"].recipe_hash, 300.0)
    assert reasons(catalog, installed) == {
        "app": "dependency libpng rebuilt",
        "extra": "dependency app rebuilt",
    }


def test_force_file_and_file_dependencies(tmp_path: Path) -> None:
    pkgs = tmp_path / "pkgs"
    source = tmp_path / "src" / "lib.pxd"
    source.parent.mkdir()
    source.write_text("cdef int x\n")
    write_recipe(pkgs, "always", deps="FORCE")
    write_recipe(pkgs, "cy", deps="src/lib.pxd src/*.h $(UNKNOWN)")
    catalog = Catalog.load(pkgs)
    installed = up_to_date(catalog, at=source.stat().st_mtime + 10)
    assert reasons(catalog, installed) == {"always": "FORCE"}
    os.utime(source, (source.stat().st_mtime + 100,) * 2)
    assert reasons(catalog, installed) == {
        "always": "FORCE",
        "cy": f"file dependency {source} changed",
    }


def test_unknown_names_are_bad_input_with_a_suggestion(stack: Path) -> None:
    with pytest.raises(UnknownPackage, match=r"libpgn \(did you mean libpng\?\), nothere"):
        make_plan(Catalog.load(stack), ["libpgn", "nothere"])


def test_optional_and_conditional_dependencies_count_when_selected_or_installed(
    tmp_path: Path,
) -> None:
    pkgs = tmp_path / "pkgs"
    write_recipe(pkgs, "nauty", type="optional")
    write_recipe(pkgs, "lrs", type="optional")
    write_recipe(pkgs, "giac", deps="$(findstring nauty,$(OPTIONAL_INSTALLED_PACKAGES))")
    write_recipe(pkgs, "latte", files={"dependencies_optional": "lrs\n"})
    catalog = Catalog.load(pkgs)
    assert make_plan(catalog).names == ("giac", "latte")
    assert make_plan(catalog, all=True).names == ("lrs", "latte", "nauty", "giac")
    installed = up_to_date(catalog)
    installed["nauty"] = Installed("nauty", "1.0", None, 500.0)
    assert reasons(catalog, installed) == {"giac": "dependency nauty rebuilt"}
    del installed["lrs"]
    assert reasons(catalog, installed, names=["latte", "lrs"]) == {
        "lrs": "not installed",
        "latte": "dependency lrs rebuilt",
    }
    plan = make_plan(catalog, ["latte", "lrs"], installed=installed)
    assert plan.names == ("lrs", "latte")
    assert plan.prerequisites["latte"] == ("lrs",)


def test_check_dependencies_only_with_check(tmp_path: Path) -> None:
    pkgs = tmp_path / "pkgs"
    write_recipe(pkgs, "pytest", type="optional")
    write_recipe(pkgs, "lib", files={"dependencies_check": "pytest\n"})
    catalog = Catalog.load(pkgs)
    assert make_plan(catalog, ["lib"]).names == ("lib",)
    assert make_plan(catalog, ["lib"], check=True).names == ("pytest", "lib")


def test_a_cycle_through_active_conditional_dependencies(tmp_path: Path) -> None:
    pkgs = tmp_path / "pkgs"
    write_recipe(pkgs, "a", deps="$(findstring b,$(OPTIONAL_INSTALLED_PACKAGES))")
    write_recipe(pkgs, "b", type="optional", deps="a")
    catalog = Catalog.load(pkgs)  # fine until b is selected
    assert make_plan(catalog).names == ("a",)
    with pytest.raises(CycleError, match=r"a -> b -> a"):
        make_plan(catalog, ["b"])
