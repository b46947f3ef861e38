"""The scheduler's weights: what a run expects each package to take (mason.install.weights).

A cold run knows no durations: big tarballs weigh more, a package that others depend on
wins a tie, and once a package was built its recorded build time is what counts. The
order these weights give is what matters to the scheduler (critical paths), so the tests
check orders, not values.
"""

from __future__ import annotations

import os
from pathlib import Path

from installsupport import install, script_recipe, tarball_recipe
from mason.catalog import Catalog
from mason.install.weights import estimates
from mason.jobgraph import Job, critical_paths
from mason.store import Prefix


def _catalog(tmp_path: Path) -> Path:
    catalog = tmp_path / "pkgs"
    tarball_recipe(catalog, "big", {"blob": os.urandom(400_000)})
    tarball_recipe(catalog, "small", {"blob": os.urandom(20_000)})
    tarball_recipe(catalog, "shared", {"blob": os.urandom(20_000)})
    script_recipe(catalog, "leaf", deps="shared")
    script_recipe(catalog, "top", deps="big small shared leaf")
    return catalog


GRAPH: dict[str, tuple[str, ...]] = {
    "big": (),
    "small": (),
    "shared": (),
    "leaf": ("shared",),
    "top": ("big", "small", "shared", "leaf"),
}


def test_a_bigger_tarball_weighs_more_and_dependents_break_ties(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    weights = estimates(Catalog.load(catalog), tmp_path / "upstream", GRAPH, {})
    assert weights["big"] > weights["shared"] > weights["small"] > weights["top"]
    # no tarball: the base guess, the same for both
    assert weights["leaf"] > weights["top"]  # one dependent more
    # the critical path of a cold run starts with the big tarball
    jobs = {n: Job(n, frozenset(d), weights[n]) for n, d in GRAPH.items()}
    paths = critical_paths(jobs)
    assert max(("big", "small", "shared"), key=lambda n: paths[n]) == "big"


def test_a_recorded_build_time_replaces_the_estimate(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    # "small" builds slowly: its record says so, and then it outweighs "big"
    (catalog / "small" / "spkg-install.in").write_text(
        "sleep 0.3\n"
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/small"\n'
        'touch "$SAGE_DESTDIR$SAGE_LOCAL/share/small/x"\n'
    )
    (catalog / "big" / "spkg-install.in").write_text(
        'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/big"\n'
        'touch "$SAGE_DESTDIR$SAGE_LOCAL/share/big/x"\n'
    )
    prefix = tmp_path / "local"
    done = install(catalog, prefix, "small", "big", "--sandbox", "off")
    assert done.returncode == 0, done.stderr
    records = Prefix(prefix).records()
    weights = estimates(Catalog.load(catalog), tmp_path / "upstream", GRAPH, records)
    assert weights["small"] == records["small"].timings["build"] >= 0.3
    assert weights["big"] == records["big"].timings["build"]
    assert weights["small"] > weights["big"]
