"""``mason install`` when things go wrong: bad sources, failing builds, bad input.

Every case checks what a user sees (exit status, the message on stderr) and that the
prefix holds no partial package: ``mason verify`` is clean and only the packages that
installed have records.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from httpserver import serve
from installsupport import install, make_tarball, mason, records, script_recipe
from recipefactory import write_recipe

CONFIGURE_FAILS = """#!/bin/sh
echo "checking for the frobnicator... no"
echo "configure: error: the frobnicator is missing; install libfrob first" >&2
exit 1
"""

MAKEFILE = """all:
\techo built > thing.txt
install:
\tmkdir -p $(DESTDIR)$(PREFIX)/share/thing
\tcp thing.txt $(DESTDIR)$(PREFIX)/share/thing/
"""


def assert_clean(prefix: Path, installed: set[str]) -> None:
    """Only ``installed`` have records, and the prefix matches them exactly."""
    names = set(records(prefix)) - {"python_venv"}
    assert names == installed
    verify = mason("verify", "--prefix", prefix)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def thing_recipe(catalog: Path, sha256: str | None = None) -> str:
    """``thing``: a real tarball in a mirror directory (not in the upstream cache)."""
    write_recipe(
        catalog,
        "thing",
        files={"spkg-install.in": "cd src && sdh_make && sdh_make_install PREFIX=$SAGE_LOCAL\n"},
    )
    digest = make_tarball(
        catalog.parent / "www" / "thing-1.0.tar.gz", "thing-1.0", {"Makefile": MAKEFILE}
    )
    (catalog / "thing" / "checksums.ini").write_text(
        f"tarball=thing-VERSION.tar.gz\nsha256={sha256 or digest}\n"
    )
    return digest


def test_checksum_mismatch_after_download_builds_nothing(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    thing_recipe(catalog, sha256="ab" * 32)
    with serve(tmp_path / "www") as server:
        proc = install(catalog, prefix, "thing", "--mirror", server.url)
    assert proc.returncode == 1, proc.stderr
    assert "thing" in proc.stderr and "sha256 mismatch" in proc.stderr
    assert "ab" * 32 in proc.stderr
    assert not (tmp_path / "upstream" / "thing-1.0.tar.gz").exists(), "bad file not cached"
    log = (prefix / "var/log/mason/thing-1.0.log").read_text()
    assert "Building" not in log, "nothing was built"
    assert not (prefix / "share/thing").exists()
    assert_clean(prefix, set())


def test_a_404_mirror_falls_back_to_the_next(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    thing_recipe(catalog)
    (tmp_path / "empty").mkdir()
    with serve(tmp_path / "empty") as empty, serve(tmp_path / "www") as good:
        proc = install(catalog, prefix, "thing", "--mirror", empty.url, "--mirror", good.url)
        assert empty.requests == ["/thing-1.0.tar.gz"]
        assert good.requests == ["/thing-1.0.tar.gz"]
    assert proc.returncode == 0, proc.stderr
    assert (prefix / "share/thing/thing.txt").read_text() == "built\n"
    assert (tmp_path / "upstream/thing-1.0.tar.gz").is_file(), "cached for the next time"
    assert_clean(prefix, {"thing"})


def test_corrupt_archive_is_a_clear_failure(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    data = b"\x1f\x8b\x08\x00" + b"not really gzip" * 50
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    (upstream / "thing-1.0.tar.gz").write_bytes(data)
    write_recipe(
        catalog,
        "thing",
        files={
            "checksums.ini": "tarball=thing-VERSION.tar.gz\n"
            f"sha256={hashlib.sha256(data).hexdigest()}\n",
            "spkg-install.in": "sdh_die never built\n",
        },
    )
    proc = install(catalog, prefix, "thing")
    assert proc.returncode == 1
    assert "thing-1.0" in proc.stderr and "corrupt or truncated archive" in proc.stderr
    assert "never built" not in (prefix / "var/log/mason/thing-1.0.log").read_text()
    assert_clean(prefix, set())


def failing_configure_catalog(catalog: Path) -> None:
    """``broken`` fails in configure; ``needs_broken`` depends on it; ``fine`` and
    ``after_fine`` don't."""
    make_tarball(
        catalog.parent / "upstream/broken-1.0.tar.gz",
        "broken-1.0",
        {"configure": CONFIGURE_FAILS, "Makefile": MAKEFILE},
    )
    digest = hashlib.sha256((catalog.parent / "upstream/broken-1.0.tar.gz").read_bytes())
    write_recipe(
        catalog,
        "broken",
        files={
            "checksums.ini": f"tarball=broken-VERSION.tar.gz\nsha256={digest.hexdigest()}\n",
            "spkg-install.in": "cd src && sdh_configure && sdh_make && sdh_make_install\n",
        },
    )
    script_recipe(catalog, "needs_broken", deps="broken")
    script_recipe(catalog, "fine")
    script_recipe(catalog, "after_fine", deps="fine")


def test_failing_configure_shows_the_log_tail_and_keep_going_installs_the_rest(
    tmp_path: Path,
) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    failing_configure_catalog(catalog)
    proc = install(catalog, prefix, "needs_broken", "after_fine", "-k", "-j2")
    assert proc.returncode == 1
    log = prefix / "var/log/mason/broken-1.0.log"
    assert "the frobnicator is missing" in log.read_text()
    # The log's last lines are on stderr, with the full log path.
    assert "configure: error: the frobnicator is missing" in proc.stderr
    assert f"full log: {log}" in proc.stderr
    kept = re.search(r"build directory kept: (\S+)", proc.stderr)
    assert kept and Path(kept.group(1)).is_dir(), proc.stderr
    assert (Path(kept.group(1)) / "build/src/configure").is_file()
    # The independent packages are installed; the dependent is reported as skipped.
    assert "[needs_broken-1.0] skipped: dependency broken failed" in proc.stdout
    assert "[fine-1.0] done" in proc.stdout and "[after_fine-1.0] done" in proc.stdout
    assert "installed 2, failed 1, skipped 1" in proc.stdout
    assert (prefix / "share/after_fine/after_fine.txt").is_file()
    assert_clean(prefix, {"fine", "after_fine"})


def test_without_keep_going_a_failure_stops_new_starts(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    failing_configure_catalog(catalog)
    proc = install(catalog, prefix, "needs_broken", "-j1")
    assert proc.returncode == 1
    assert "[needs_broken-1.0] skipped" in proc.stdout
    assert_clean(prefix, set())


def test_a_build_failing_after_staging_leaves_nothing_in_the_prefix(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "base")
    script_recipe(
        catalog,
        "half",
        deps="base",
        body='mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/half"\n'
        'echo partial > "$SAGE_DESTDIR$SAGE_LOCAL/share/half/a.txt"\n'
        'false || sdh_die "half: the second step failed"\n',
    )
    proc = install(catalog, prefix, "half")
    assert proc.returncode == 1
    assert "half: the second step failed" in proc.stderr
    assert not (prefix / "share/half").exists()
    assert (prefix / "share/base/base.txt").is_file()
    assert_clean(prefix, {"base"})


def test_a_recipe_installing_nothing_gets_a_warning(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "empty", body="echo 'I forgot DESTDIR'\n")
    proc = install(catalog, prefix, "empty")
    assert proc.returncode == 0, proc.stderr
    assert "[empty-1.0] warning: the recipe installed nothing" in proc.stdout
    assert records(prefix)["empty"]["files"] == ["lib64"]
    assert_clean(prefix, {"empty"})


def test_unknown_package_is_bad_input(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "fine")
    proc = install(catalog, prefix, "nosuchpkg")
    assert proc.returncode == 2
    assert "nosuchpkg" in proc.stderr
    assert not (prefix / "var/lib/mason/installed").exists()


def test_broken_catalog_is_bad_input_naming_every_problem(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "fine")
    script_recipe(catalog, "lost", deps="missing_dep")
    write_recipe(catalog, "badver", version="1.0 beta", files={"spkg-install.in": "true\n"})
    proc = install(catalog, prefix, "fine")
    assert proc.returncode == 2
    assert "missing_dep" in proc.stderr and "badver" in proc.stderr
    assert not (prefix / "share").exists()


def test_bad_usage_is_exit_2(tmp_path: Path) -> None:
    catalog = tmp_path / "pkgs"
    script_recipe(catalog, "fine")
    assert install(catalog, tmp_path / "prefix", "fine", "-j0").returncode == 2


def test_missing_catalog_is_bad_input(tmp_path: Path) -> None:
    proc = install(tmp_path / "nowhere", tmp_path / "prefix", "fine")
    assert proc.returncode == 2
    assert "nowhere" in proc.stderr


def test_kept_build_directory_is_not_reused(tmp_path: Path) -> None:
    """After a failure and a fix, the next install starts from a fresh build directory."""
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "flaky", body="sdh_die 'flaky: not yet'\n")
    assert install(catalog, prefix, "flaky").returncode == 1
    shutil.rmtree(catalog / "flaky")
    script_recipe(catalog, "flaky")
    proc = install(catalog, prefix, "flaky")
    assert proc.returncode == 0, proc.stderr
    assert_clean(prefix, {"flaky"})


def test_work_directories_left_in_the_trash_by_a_killed_run_are_removed(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "fine")
    left = prefix / "var/tmp/mason/.trash/big-1.0-abc.1234"
    (left / "build/src").mkdir(parents=True)
    (left / "build/src/main.o").write_bytes(b"\0" * 1000)
    proc = install(catalog, prefix, "fine")
    assert proc.returncode == 0, proc.stderr
    assert not (prefix / "var/tmp/mason/.trash").exists()
    assert list((prefix / "var/tmp/mason").iterdir()) == []
