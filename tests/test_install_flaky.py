"""``mason install`` with a flaky mirror and with a source that does not match its recipe.

Through the real CLI: what the user reads, that nothing is built from a partial or
unverified file, and that the prefix is left clean.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from httpserver import serve
from installsupport import install
from test_install_failures import assert_clean, thing_recipe


def test_a_mirror_dropping_mid_download_is_resumed_and_built(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    thing_recipe(catalog)
    with serve(tmp_path / "www") as server:
        proc = install(catalog, prefix, "thing", "--mirror", f"{server.url}/once/drop")
        assert server.ranges[0] is None and server.ranges[1] is not None, "resumed with Range"
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "upstream").iterdir()) == ["thing-1.0.tar.gz"]
    assert (prefix / "share/thing/thing.txt").read_text() == "built\n"
    assert_clean(prefix, {"thing"})


def test_a_version_bump_tarball_is_kept_and_the_fix_named(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "prefix"
    thing_recipe(catalog, sha256="ab" * 32)  # the recipe still has the old checksum
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    new = (tmp_path / "www/thing-1.0.tar.gz").read_bytes()
    (upstream / "thing-1.0.tar.gz").write_bytes(new)
    actual = hashlib.sha256(new).hexdigest()
    proc = install(catalog, prefix, "thing")
    assert proc.returncode == 1
    kept = upstream / f"thing-1.0.tar.gz.mismatch-{actual[:12]}"
    assert kept.read_bytes() == new, "the only copy is kept"
    assert f"sha256 expected {'ab' * 32}, actual {actual}; kept as {kept}" in proc.stderr
    assert f"mv {kept} {upstream / 'thing-1.0.tar.gz'} && mason fix-checksum thing" in proc.stderr
    assert "Building" not in (prefix / "var/log/mason/thing-1.0.log").read_text()
    assert_clean(prefix, set())
