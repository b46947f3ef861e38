"""``mason cache push|ls|why-miss`` and ``mason plan --cache-url`` against a real registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mason.binarycache import LocalStore, make_artifact
from mason.binarycache.key import keys_for
from mason.catalog import Catalog
from ociregistry import RunningRegistry
from recipefactory import write_recipe

MASON = (sys.executable, "-m", "mason")


def _catalog(tmp_path: Path) -> Path:
    cat = tmp_path / "pkgs"
    write_recipe(cat, "gmp", files={"spkg-install.in": "echo gmp\n"})
    write_recipe(cat, "mpfr", deps="gmp", files={"spkg-install.in": "echo mpfr\n"})
    return cat


def _mason(tmp_path: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MASON_CACHE": str(cache)}
    env.pop("MASON_CACHE_URL", None)
    common = ["--catalog", str(tmp_path / "pkgs"), "--prefix", str(tmp_path / "local")]
    return subprocess.run(
        [*MASON, *args, *common], capture_output=True, text=True, env=env, cwd=tmp_path
    )


def _artifacts(tmp_path: Path, cache: Path) -> dict[str, str]:
    """An artifact of each package in ``cache``, as a build would have left it."""
    catalog = Catalog.load(tmp_path / "pkgs")
    keys = keys_for(catalog, ["mpfr"])
    for name, key in keys.items():
        staged = tmp_path / f"staged-{name}"
        (staged / "share").mkdir(parents=True)
        (staged / "share" / f"{name}.txt").write_text(name)
        make_artifact(LocalStore(cache), staged, tmp_path / "local", key)
    return {name: key.tag for name, key in keys.items()}


def test_push_ls_and_plan(tmp_path: Path, registry: RunningRegistry) -> None:
    _catalog(tmp_path)
    cache = tmp_path / "cache"
    tags = _artifacts(tmp_path, cache)
    url = registry.url()
    done = _mason(tmp_path, "cache", "push", "gmp", "--cache-url", url, cache=cache)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"pushed {tags['gmp']} (2 blob(s), " + done.stdout.split(", ", 1)[1]
    listed = _mason(tmp_path, "cache", "ls", "--json", "--cache-url", url, cache=cache)
    assert json.loads(listed.stdout)["tags"] == [tags["gmp"]]
    plan = _mason(tmp_path, "plan", "mpfr", "--json", "--cache-url", url, cache=tmp_path / "c2")
    steps = {s["name"]: s["cache"] for s in json.loads(plan.stdout)["steps"]}
    assert steps["gmp"] == "from cache"
    assert steps["mpfr"].startswith(f"build: mpfr-1.0: no artifact {tags['mpfr']} in the cache")


def test_push_all_sends_every_local_artifact(tmp_path: Path, registry: RunningRegistry) -> None:
    _catalog(tmp_path)
    cache = tmp_path / "cache"
    tags = _artifacts(tmp_path, cache)
    done = _mason(tmp_path, "cache", "push", "--all", "--cache-url", registry.url(), cache=cache)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("pushed ") == 2
    listed = _mason(tmp_path, "cache", "ls", "--json", "--cache-url", registry.url(), cache=cache)
    assert json.loads(listed.stdout)["tags"] == sorted(tags.values())


def test_why_miss_names_the_input_that_differs(tmp_path: Path, registry: RunningRegistry) -> None:
    cat = _catalog(tmp_path)
    cache = tmp_path / "cache"
    _artifacts(tmp_path, cache)
    url = registry.url()
    assert (
        _mason(tmp_path, "cache", "push", "--all", "--cache-url", url, cache=cache).returncode == 0
    )
    write_recipe(cat, "gmp", files={"spkg-install.in": "echo gmp 2\n"})
    done = _mason(tmp_path, "cache", "why-miss", "mpfr", "--cache-url", url, cache=cache)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("mpfr: miss: wanted mpfr-1.0-")
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["dependencies.gmp"]


def test_push_without_a_cache_url_is_bad_usage(tmp_path: Path) -> None:
    _catalog(tmp_path)
    done = _mason(tmp_path, "cache", "push", "--all", cache=tmp_path / "cache")
    assert done.returncode == 2
    assert "no binary cache configured" in done.stderr


def test_a_plain_http_url_to_another_host_is_refused(tmp_path: Path) -> None:
    _catalog(tmp_path)
    url = "oci+http://registry.example.org/x"
    done = _mason(tmp_path, "cache", "ls", "--cache-url", url, cache=tmp_path / "cache")
    assert done.returncode == 2
    assert "plain http is refused except to a loopback host" in done.stderr
