"""Rebuilds: a new version of a dependency, ``--force``, ``FORCE`` and ``--check``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from installsupport import install, mason, records, script_recipe


def started(stdout: str) -> list[str]:
    """The packages a run built (``[name-version] started`` lines), in order."""
    return re.findall(r"^\[([a-z0-9_]+)-[^\]]+\] started$", stdout, re.M)


def plan(catalog: Path, prefix: Path, *args: str) -> dict[str, str]:
    """``mason plan --json``: package -> reason."""
    proc = mason("plan", "--json", "--catalog", catalog, "--prefix", prefix, *args)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    steps = data["steps"] if isinstance(data, dict) else data
    return {step["name"]: step["reason"] for step in steps}


def stack(catalog: Path, lib_version: str = "1.0") -> None:
    """``app`` needs ``lib``; ``top`` needs ``app``; ``tool`` orders after ``lib`` only;
    ``other`` is on its own."""
    script_recipe(catalog, "lib", version=lib_version)
    script_recipe(catalog, "app", deps="lib")
    script_recipe(catalog, "top", deps="app")
    script_recipe(catalog, "tool", deps="| lib")
    script_recipe(catalog, "other")


ALL = ("top", "tool", "other")


def test_new_dependency_version_rebuilds_exactly_its_dependents(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    stack(catalog)
    first = install(catalog, prefix, *ALL, "-j2")
    assert first.returncode == 0, first.stderr
    assert sorted(started(first.stdout)) == ["app", "lib", "other", "tool", "top"]
    before = records(prefix)

    stack(catalog, lib_version="1.1")
    assert plan(catalog, prefix, *ALL) == {
        "lib": "new version (1.0 -> 1.1)",
        "app": "dependency lib rebuilt",
        "top": "dependency app rebuilt",
    }
    second = install(catalog, prefix, *ALL, "-j2")
    assert second.returncode == 0, second.stderr
    assert started(second.stdout) == ["lib", "app", "top"]
    after = records(prefix)
    assert after["lib"]["package_version"] == "1.1"
    assert (prefix / "share/lib/lib.txt").read_text() == "lib 1.1\n"
    assert after["app"]["dependencies"] == {"lib": "1.1"}
    assert not (prefix / "var/lib/mason/installed/lib-1.0").exists()
    for untouched in ("tool", "other"):  # tool depends on lib order-only
        assert after[untouched] == before[untouched]
    assert plan(catalog, prefix, *ALL) == {}
    assert mason("verify", "--prefix", prefix).returncode == 0


def test_force_rebuilds_the_named_package_and_outdates_its_dependents(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    stack(catalog)
    assert install(catalog, prefix, *ALL).returncode == 0
    before = records(prefix)
    forced = install(catalog, prefix, "lib", "--force")
    assert forced.returncode == 0, forced.stderr
    assert started(forced.stdout) == ["lib"]
    after = records(prefix)
    assert after["lib"]["timings"]["installed_at"] > before["lib"]["timings"]["installed_at"]
    assert after["app"] == before["app"]
    # SPEC 8: reinstalling a package makes its (normal) dependents out of date.
    assert plan(catalog, prefix, *ALL) == {
        "app": "dependency lib rebuilt",
        "top": "dependency app rebuilt",
    }


def test_FORCE_dependency_rebuilds_every_time(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "always", deps="FORCE")
    script_recipe(catalog, "steady")
    assert install(catalog, prefix, "always", "steady").returncode == 0
    assert plan(catalog, prefix, "always", "steady") == {"always": "FORCE"}
    again = install(catalog, prefix, "always", "steady")
    assert again.returncode == 0, again.stderr
    assert started(again.stdout) == ["always"]
    assert set(records(prefix)) == {"always", "steady"}


CHECK = 'echo "checking $PKG_NAME" && test -f ran-install || sdh_die "check ran before install"\n'
INSTALL = (
    'touch ran-install\nmkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/checked"\n'
    'echo ok > "$SAGE_DESTDIR$SAGE_LOCAL/share/checked/ok"\n'
)


def test_check_runs_spkg_check_and_records_the_result(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "checked", body=INSTALL, extra={"spkg-check.in": CHECK})
    assert install(catalog, prefix, "checked").returncode == 0
    log = prefix / "var/log/mason/checked-1.0.log"
    assert "checking checked-1.0" not in log.read_text()
    assert records(prefix)["checked"]["test_result"] == ""

    proc = install(catalog, prefix, "checked", "--check", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "checking checked-1.0" in log.read_text()
    assert records(prefix)["checked"]["test_result"] == "passed"


def test_a_failing_check_fails_the_package_and_merges_nothing(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    failing = 'sdh_die "checked: 3 tests failed"\n'
    script_recipe(catalog, "checked", body=INSTALL, extra={"spkg-check.in": failing})
    proc = install(catalog, prefix, "checked", "--check")
    assert proc.returncode == 1
    assert "checked: 3 tests failed" in proc.stderr
    assert "checked" not in records(prefix)
    assert not (prefix / "share/checked").exists()
