"""A bug in mason (an exception that is not a MasonError) inside a package's pipeline is
reported as an internal error, not as the package's failure: exit 3, its traceback in the
package's log, and on stderr with ``--debug``. The test hook ``MASON_TEST_INTERNAL_ERROR``
raises one inside the build step of the package it names."""

from __future__ import annotations

from pathlib import Path

from installsupport import mason, records, script_recipe

HOOK = {"MASON_TEST_INTERNAL_ERROR": "buggy"}


def run(tmp_path: Path, *flags: str) -> tuple[int, str, Path]:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "buggy")
    done = mason(*flags, "install", "--catalog", catalog, "--prefix", prefix, "buggy", env=HOOK)
    return done.returncode, done.stderr, prefix


def test_an_internal_error_exits_3_with_the_traceback_in_the_log(tmp_path: Path) -> None:
    code, err, prefix = run(tmp_path)
    assert code == 3, err
    assert "buggy-1.0: internal error: RuntimeError: MASON_TEST_INTERNAL_ERROR" in err
    assert "please report" in err
    assert "Traceback (most recent call last)" not in err
    log = (prefix / "var/log/mason/buggy-1.0.log").read_text()
    assert "Traceback (most recent call last)" in log
    assert "in _test_hook" in log
    assert "buggy" not in records(prefix)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    code, err, _ = run(tmp_path, "--debug")
    assert code == 3, err
    assert "Traceback (most recent call last)" in err
    assert "in _test_hook" in err


def test_a_failing_build_is_still_a_package_failure(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    script_recipe(catalog, "bad", body="exit 7\n")
    done = mason("install", "--catalog", catalog, "--prefix", prefix, "bad", env=HOOK)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
