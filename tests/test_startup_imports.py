"""What a plain ``mason install`` does not load: the binary cache's registry client when
no cache is configured, ``packaging.requirements`` for a catalog without requirement
files. Both cost every start (45 ms and 20 ms on the project's VM, docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from installsupport import records, script_recipe

# mason's own CLI in this interpreter; at exit, the modules a user's run loaded
PROBE = """
import atexit, sys
from mason.cli import main
atexit.register(lambda: print(*sorted(sys.modules), sep="\\n", file=open(sys.argv[1], "w")))
sys.exit(main(sys.argv[2:]))
"""


def loaded_by(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASON_CACHE")}
    env["MASON_CACHE"] = str(tmp_path / "user-cache")
    command = [sys.executable, "-c", PROBE, str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return set(out.read_text().split())


def test_an_install_without_a_cache_loads_no_registry_client(tmp_path: Path) -> None:
    catalog, prefix = tmp_path / "pkgs", tmp_path / "local"
    script_recipe(catalog, "hello")
    modules = loaded_by(
        tmp_path, "install", "hello", "--catalog", str(catalog), "--prefix", str(prefix)
    )
    assert set(records(prefix)) == {"hello"}  # it did install
    assert "mason.binarycache.options" in modules  # it asked whether a cache is configured
    assert not {"mason.binarycache.client", "mason.binarycache.oci"} & modules
    assert "packaging.requirements" not in modules


def test_the_package_still_offers_every_name(tmp_path: Path) -> None:
    import mason.binarycache as cache

    for name in cache.__all__:
        assert getattr(cache, name).__name__ == name
    assert sorted(cache.__all__) == sorted(cache._WHERE)
