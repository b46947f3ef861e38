"""The stray-write check of ``mason install``: a build writing into the live prefix fails,
with the run's inotify watch (:mod:`mason.prefixwatch`) and without it (the snapshot).

This is the check of ``--sandbox off`` (and of ``auto`` where the sandbox cannot work):
the runs here say ``--sandbox off``; ``test_install_sandbox.py`` has the sandbox's."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from installsupport import install, mason, records, script_recipe
from mason.prefixwatch import PrefixWatch

OFF = ("--sandbox", "off")
STRAY = {
    "new file": 'echo oops > "$SAGE_LOCAL/share/base/stray.txt"\n',
    "new dir": 'mkdir -p "$SAGE_LOCAL/share/newdir/sub" && echo x > "$_/stray.txt"\n',
    "in place": 'echo appended >> "$SAGE_LOCAL/etc/user.conf"\n',
    "chmod": 'chmod 600 "$SAGE_LOCAL/etc/user.conf"\n',
    "removed": 'rm "$SAGE_LOCAL/etc/user.conf"\n',
}
EXPECTED = {
    "new file": "share/base/stray.txt",
    "new dir": "share/newdir/sub/stray.txt",
    "in place": "etc/user.conf",
    "chmod": "etc/user.conf",
    "removed": "etc/user.conf",
}


def stray_catalog(catalog: Path, prefix: Path, body: str) -> None:
    """``bad`` runs ``body`` against the live prefix; ``good`` builds beside it. The prefix
    holds ``base`` and a file of the user's, ``etc/user.conf``."""
    script_recipe(catalog, "base")
    script_recipe(catalog, "bad", deps="base", body=body)
    script_recipe(catalog, "good", deps="base")
    assert install(catalog, prefix, "base").returncode == 0
    (prefix / "etc").mkdir()
    (prefix / "etc/user.conf").write_text("mine\n")


@pytest.mark.parametrize("case", sorted(STRAY))
def test_a_build_writing_into_the_prefix_fails(tmp_path: Path, case: str) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    stray_catalog(catalog, prefix, STRAY[case])
    # -j1: a stray write is blamed on every build running while it happens (there is no
    # telling which process wrote); one at a time, only the culprit is named.
    proc = install(catalog, prefix, "bad", "good", "-j1", "-k", *OFF)
    assert proc.returncode == 1
    assert "bad-1.0: the build wrote into the live prefix" in proc.stderr
    assert EXPECTED[case] in proc.stderr
    assert "[good-1.0] done" in proc.stdout, "the next build is not blamed"
    assert set(records(prefix)) == {"base", "good"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('echo appended >> "$SAGE_LOCAL/share/base/base.txt"\n', "share/base/base.txt"),
        ('rm "$SAGE_LOCAL/share/base/base.txt"\n', "share/base/base.txt"),
        ('mkdir -p "$SAGE_LOCAL/var/cache/bad" && echo x > "$_/stray"\n', "var/cache/bad/stray"),
    ],
    ids=["modify claimed", "remove claimed", "var outside mason's own"],
)
def test_a_build_changing_another_packages_file_fails(tmp_path: Path, body: str, path: str) -> None:
    """A claimed file changed during the build is no longer as its owner's record says:
    no merge explains that. ``var/`` outside mason's own directories is checked too."""
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    stray_catalog(catalog, prefix, body)
    proc = install(catalog, prefix, "bad", "good", "-j2", "-k", *OFF)
    assert proc.returncode == 1
    assert "bad-1.0: the build wrote into the live prefix" in proc.stderr
    assert path in proc.stderr
    assert "bad" not in records(prefix)


def test_parallel_clean_builds_and_merges_are_never_taken_for_stray_writes(
    tmp_path: Path,
) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    names = [f"p{i:02d}" for i in range(24)]
    for i, name in enumerate(names):
        deps = " ".join(names[max(0, i - 3) : i : 2])
        script_recipe(catalog, name, deps=deps or None)
    proc = install(catalog, prefix, "--all", "-j4", *OFF)
    assert proc.returncode == 0, proc.stderr
    assert set(records(prefix)) == set(names)
    assert mason("verify", "--prefix", prefix).returncode == 0


def changes_of(watch: PrefixWatch, action: object) -> list[str] | None:
    mark = watch.mark()
    assert callable(action)
    action()
    return watch.changes_since(mark)


def test_watch_reports_what_changed_since_a_mark(tmp_path: Path) -> None:
    root = tmp_path / "prefix"
    (root / "lib").mkdir(parents=True)
    (root / "var/log/mason").mkdir(parents=True)
    (root / "lib/old.so").write_text("old")
    watch = PrefixWatch.start(root)
    assert watch is not None, "inotify is available on Linux"
    with watch:
        assert changes_of(watch, lambda: None) == []

        def work() -> None:
            (root / "lib/new.so").write_text("new")
            (root / "lib/old.so").write_text("changed")
            os.makedirs(root / "share/a/b")
            (root / "share/a/b/c.txt").write_text("c")
            (root / "var/log/mason/x.log").write_text("mason's own: not watched")

        assert changes_of(watch, work) == [
            "lib/new.so",
            "lib/old.so",
            "share",
            "share/a",
            "share/a/b",
            "share/a/b/c.txt",
        ]
        # the directories made meanwhile are watched from now on
        assert changes_of(watch, lambda: (root / "share/a/b/c.txt").unlink()) == ["share/a/b/c.txt"]


def test_overlapping_marks_each_see_their_own_window(tmp_path: Path) -> None:
    root = tmp_path / "prefix"
    root.mkdir()
    watch = PrefixWatch.start(root)
    assert watch is not None
    with watch:
        first = watch.mark()
        (root / "one").write_text("1")
        second = watch.mark()
        (root / "two").write_text("2")
        assert watch.changes_since(first) == ["one", "two"]
        (root / "three").write_text("3")
        assert watch.changes_since(second) == ["three", "two"]
        assert watch.changes_since(watch.mark()) == []


def test_watch_keeps_up_with_a_writer_thread(tmp_path: Path) -> None:
    root = tmp_path / "prefix"
    root.mkdir()
    watch = PrefixWatch.start(root)
    assert watch is not None
    with watch:
        mark = watch.mark()

        def write() -> None:
            for i in range(40):
                d = root / f"d{i}"
                d.mkdir()
                (d / "f").write_text(str(i))

        writer = threading.Thread(target=write)
        writer.start()
        writer.join()
        changes = watch.changes_since(mark)
    assert changes is not None
    assert {f"d{i}/f" for i in range(40)} <= set(changes)


def test_without_the_run_watch_the_snapshot_catches_it(tmp_path: Path) -> None:
    """``Installer.install_one`` outside a run has no watch: the snapshot check applies."""
    from mason.build.errors import WroteIntoPrefix
    from mason.catalog import Catalog
    from mason.install import Installer, InstallFailed, InstallOptions
    from mason.store import Prefix

    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    stray_catalog(catalog, prefix, STRAY["in place"])
    installer = Installer(Catalog.load(catalog), Prefix(prefix), InstallOptions())
    with pytest.raises(InstallFailed) as failed:
        installer.install_one("bad")
    assert isinstance(failed.value.cause, WroteIntoPrefix)
    assert failed.value.cause.paths == ("etc/user.conf",)
    assert installer.install_one("good").name == "good"


def test_an_upgrade_merged_during_another_build_is_not_a_stray_write(tmp_path: Path) -> None:
    """Files only the old version had are removed by the upgrade's merge, while ``slow``
    builds: that removal is mason's own doing, not ``slow``'s."""
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    old_only = 'echo old > "$SAGE_DESTDIR$SAGE_LOCAL/share/lib/old-only.txt"\n'
    body = 'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/lib"\n'
    script_recipe(catalog, "lib", body=body + old_only)
    assert install(catalog, prefix, "lib").returncode == 0
    script_recipe(catalog, "lib", version="2.0", body=body + 'touch "$_/new.txt"\n')
    script_recipe(catalog, "slow", body="sleep 1.5\n")
    proc = install(catalog, prefix, "lib", "slow", "-j2", *OFF)
    assert proc.returncode == 0, proc.stderr
    assert not (prefix / "share/lib/old-only.txt").exists()
    assert records(prefix)["lib"]["package_version"] == "2.0"
