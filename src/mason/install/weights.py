"""How long each package of a run will take: the scheduler's weights (its critical paths).

Only the order they give matters (the scheduler starts the ready package with the
heaviest chain of weights to the end first), but they are meant as seconds, so that a
recorded duration and an estimate can sit on one chain:

- a package built before: the build time in its record (what the last build took);
- a package never built, with a source tarball: :data:`BASE` plus :data:`PER_MB` seconds
  per megabyte of the compressed tarball (SageMath's heavy builds are its big tarballs:
  gcc, gfortran, giac, r, openblas, scipy...; a package of 1 MB builds in a few tens of
  seconds, gcc's 80 MB in half an hour);
- a wheel never installed: about a second per megabyte (unpacking and compiling, no build);
- anything else: :data:`BASE`.

Every estimate then gets :data:`PER_DEPENDENT` per package of the run that depends on it
directly, a tie-break: of two packages of the same size, the one that unblocks more
others starts first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mason.catalog import Catalog
from mason.install.options import source_spec
from mason.store import Record

BASE = 1.0
"""Seconds guessed for a package with nothing to go by (or added to a tarball's)."""
PER_MB = 20.0
"""Seconds guessed per megabyte of compressed source tarball."""
WHEEL_PER_MB = 1.0
"""Seconds guessed per megabyte of a wheel."""
PER_DEPENDENT = 0.01
"""Seconds added per direct dependent within the run (a tie-break)."""
MINIMUM = 0.01


def estimate(
    catalog: Catalog,
    upstream: Path,
    name: str,
    record: Record | None,
    dependents: int = 0,
) -> float:
    """The expected duration of ``name`` (see the module's docstring)."""
    if record is not None and "build" in record.timings:
        return max(float(record.timings["build"]), MINIMUM)
    recipe = catalog.recipes[name]
    guess = BASE
    source = source_spec(recipe)
    if source is not None:
        try:
            megabytes = (upstream / source.filename).stat().st_size / 1e6
        except OSError:
            megabytes = 0.0
        guess = megabytes * WHEEL_PER_MB if recipe.kind == "wheel" else BASE + megabytes * PER_MB
    return max(guess + PER_DEPENDENT * dependents, MINIMUM)


def estimates(
    catalog: Catalog,
    upstream: Path,
    prerequisites: Mapping[str, tuple[str, ...] | frozenset[str]],
    records: Mapping[str, Record],
) -> dict[str, float]:
    """:func:`estimate` for every package of a run (``prerequisites``: its graph)."""
    dependents = dict.fromkeys(prerequisites, 0)
    for deps in prerequisites.values():
        for dep in deps:
            if dep in dependents:
                dependents[dep] += 1
    return {
        name: estimate(catalog, upstream, name, records.get(name), dependents[name])
        for name in prerequisites
    }
