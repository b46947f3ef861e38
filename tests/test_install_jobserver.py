"""``mason install -j N``: the make jobs of all packages share one budget of N.

Each job logs its start and end into the build directory (the only place, with DESTDIR,
a sandboxed build can write), and ``make install`` installs that log with the package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from installsupport import install, records
from recipefactory import write_recipe
from test_jobserver import intervals, max_running

JOBS_PER_PACKAGE = 20
SLEEP = 0.05
NAMES = ("alpha", "beta", "gamma", "delta")


def makefile(name: str) -> str:
    """``JOBS_PER_PACKAGE`` independent targets, each logging its start and end (ns)."""
    targets = " ".join(f"{name}-{i}" for i in range(JOBS_PER_PACKAGE))
    recipe = f'@s=$$(date +%s%N); sleep {SLEEP}; e=$$(date +%s%N); echo "$$s $$e $@" >> spans'
    return (
        f"all: {targets}\n.PHONY: all install {targets}\n{targets}:\n\t{recipe}\n"
        'install:\n\tmkdir -p "$(DESTDIR)$(PREFIX)/share/$(PKG)"\n'
        '\techo built > "$(DESTDIR)$(PREFIX)/share/$(PKG)/done"\n'
        '\tcp spans "$(DESTDIR)$(PREFIX)/share/$(PKG)/spans"\n'
    )


def make_packages(catalog: Path) -> None:
    for name in NAMES:
        write_recipe(
            catalog,
            name,
            files={
                "Makefile": makefile(name),
                "spkg-install.in": (
                    'sdh_make || sdh_die "make failed"\n'
                    'sdh_make_install PREFIX="$SAGE_LOCAL" PKG="$PKG_BASE"\n'
                ),
            },
        )


def installed_spans(prefix: Path, log: Path) -> list[tuple[int, int]]:
    """The job intervals every package installed, gathered into ``log``."""
    log.write_text("".join((prefix / "share" / name / "spans").read_text() for name in NAMES))
    return intervals(log)


@pytest.mark.parametrize("sandbox", ["auto", "off"])
@pytest.mark.parametrize("budget", [3, 1])
def test_make_jobs_of_all_packages_share_the_install_budget(
    tmp_path: Path, budget: int, sandbox: str
) -> None:
    """With the sandbox (``auto``: where bubblewrap works) and without it."""
    catalog = tmp_path / "pkgs"
    make_packages(catalog)
    proc = install(catalog, tmp_path / "prefix", *NAMES, f"-j{budget}", "--sandbox", sandbox)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spans = installed_spans(tmp_path / "prefix", tmp_path / "intervals")
    assert len(spans) == len(NAMES) * JOBS_PER_PACKAGE
    peak = max_running(spans)
    assert peak <= budget, f"{peak} make jobs ran at once under -j{budget}"
    if budget > 1:
        assert peak > 1, "the builds never ran jobs in parallel"
    assert set(records(tmp_path / "prefix")) == set(NAMES)
    for name in NAMES:
        assert (tmp_path / "prefix/share" / name / "done").read_text() == "built\n"
