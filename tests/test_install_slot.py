"""``mason install -j1`` with real builds: a package holds its job slot only while its
scripts run. Once they ended, its merge, record and ``spkg-postinst`` go on without the
slot, and the next package's build starts meanwhile."""

from __future__ import annotations

from pathlib import Path

from installsupport import install, records, script_recipe


def test_the_next_build_runs_while_a_finished_build_merges(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    marker = tmp_path / "second-built"
    # "first" starts first (a tie goes by name); its spkg-postinst, after its merge,
    # waits for "second"'s build: with the slot held until "first" ends (-j1), "second"
    # could not build and "first" would fail after 30 s.
    script_recipe(
        catalog,
        "first",
        extra={
            "spkg-postinst.in": (
                f"for i in $(seq 300); do [ -e {marker} ] && exit 0; sleep 0.1; done\n"
                'echo "second did not build while first merged"; exit 1\n'
            )
        },
    )
    script_recipe(
        catalog,
        "second",
        body=(
            f"touch {marker}\n"
            'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/second"\n'
            'touch "$SAGE_DESTDIR$SAGE_LOCAL/share/second/x"\n'
        ),
    )
    done = install(catalog, prefix, "-j1", "--sandbox", "off", "first", "second")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(records(prefix)) >= {"first", "second"}
