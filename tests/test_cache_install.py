"""``mason install`` from a binary cache on a REAL registry: the demo built in prefix A and
pushed; a fresh, shorter prefix B installs it all from the cache (building nothing), a
longer prefix C builds only what cannot be relocated, refused artifacts leave the prefix
as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import DEMO_CATALOG
from installsupport import VOLATILE_KEYS, mason, records
from ociregistry import RunningRegistry, running_registry

#: a script package whose program holds the prefix in a string: relocatable only to a
#: prefix that is not longer
WHERE = """cat > where.c <<'_EOF_'
#include <stdio.h>
int main(void) { puts(DATADIR); return 0; }
_EOF_
cc -DDATADIR="\\"$SAGE_LOCAL/share/where\\"" -o where where.c || sdh_die "cc failed"
sdh_install where "$SAGE_LOCAL/bin"
"""


@dataclass
class Demo:
    catalog: Path
    registry: RunningRegistry
    a: Path
    root: Path

    @property
    def url(self) -> str:
        return self.registry.url()

    def run(
        self, prefix: Path, *args: str, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``mason install`` (or another command) with a fresh, empty cache and HOME."""
        home = prefix.parent / f"home-{prefix.parent.name}"
        env = {"MASON_CACHE": str(prefix.parent / "user-cache"), "HOME": str(home)}
        env["MASON_POSTINST_LOG"] = str(self.root / "postinst.log")
        return mason(*args, "--catalog", self.catalog, "--prefix", prefix, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("cache-install")
    catalog = root / "pkgs"
    shutil.copytree(DEMO_CATALOG, catalog)
    where = catalog / "demo_where"
    where.mkdir()
    (where / "type").write_text("optional\n")
    (where / "package-version.txt").write_text("1.0\n")
    (where / "spkg-install.in").write_text(WHERE)
    (where / "spkg-postinst.in").write_text('echo "$SAGE_LOCAL" >> "$MASON_POSTINST_LOG"\n')
    shutil.copytree(DEMO_CATALOG.parent / "upstream", root / "upstream")
    with running_registry(root / "registry") as registry:
        d = Demo(catalog, registry, root / "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" / "local", root)
        built = d.run(
            d.a, "install", "-j2", "demo_all", "demo_where", "--push", "--cache-url", d.url
        )
        assert built.returncode == 0, built.stdout + built.stderr
        yield d


def _comparable(prefix: Path) -> dict[str, Any]:
    return {
        name: {k: v for k, v in data.items() if k not in (*VOLATILE_KEYS, "file_info", "artifact")}
        for name, data in records(prefix).items()
    }


def _same_but_the_prefix(a: Path, b: Path) -> list[str]:
    """The files of the records of ``a`` that differ in ``b`` beyond the prefix: text
    with ``a``'s path replaced by ``b``'s; binaries relocated in place (same size)."""
    bad = []
    for name, rec in records(a).items():
        other = records(b)[name]["file_info"]
        for rel, info in rec["file_info"].items():
            if info["type"] != "file":
                if other[rel] != info:
                    bad.append(rel)
                continue
            old = (a / rel).read_bytes()
            new = (b / rel).read_bytes()
            if os.fsencode(a) not in old:
                ok = other[rel] == info
            elif b"\0" not in old:
                ok = new == old.replace(os.fsencode(a), os.fsencode(b))
            else:
                ok = len(new) == len(old)
            if not ok:
                bad.append(rel)
    return bad


def test_a_shorter_prefix_installs_everything_from_the_cache(demo: Demo) -> None:
    b = demo.root / "b" / "local"
    plan = demo.run(b, "plan", "demo_all", "demo_where", "--json", "--cache-url", demo.url)
    assert {s["cache"] for s in json.loads(plan.stdout)["steps"]} == {"from cache"}
    done = demo.run(
        b, "install", "--cache", "only", "demo_all", "demo_where", "--cache-url", demo.url
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "] building" not in done.stdout
    hello = subprocess.run([str(b / "bin" / "hello")], capture_output=True, text=True)
    assert hello.returncode == 0 and "patched by the recipe" in hello.stdout
    where = subprocess.run([str(b / "bin" / "where")], capture_output=True, text=True)
    assert where.stdout == f"{b}/share/where\n"
    verify = demo.run(b, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert _comparable(b) == _comparable(demo.a)
    assert _same_but_the_prefix(demo.a, b) == []
    artifacts = {n: r.get("artifact") for n, r in records(b).items()}
    assert all(str(v).startswith("sha256:") for n, v in artifacts.items() if n != "python_venv")
    assert artifacts == {n: r.get("artifact") for n, r in records(demo.a).items()}
    # the wheel demo_py's recipe stored comes with it; spkg-postinst ran as after a build
    assert [w.name for w in (b / "var/lib/mason/wheels").iterdir()] == [
        "demo_py-1.0-py3-none-any.whl"
    ]
    assert f"{b}\n" in (demo.root / "postinst.log").read_text().splitlines(keepends=True)
    # no byte-code was shipped, the pull compiled it: the same files, byte for byte
    pycs = [p for p in records(demo.a)["demo_py"]["files"] if p.endswith(".pyc")]
    assert pycs and all((b / p).read_bytes() == (demo.a / p).read_bytes() for p in pycs)


def test_a_longer_prefix_builds_what_cannot_be_relocated(demo: Demo) -> None:
    c = demo.root / ("c" * 60) / "local"
    done = demo.run(c, "install", "demo_all", "demo_where", "--cache-url", demo.url)
    assert done.returncode == 0, done.stdout + done.stderr
    built = {line.split("]")[0][1:] for line in done.stdout.splitlines() if "] building" in line}
    assert built == {"demo_where-1.0"}
    assert "bin/where: binary file holds the build prefix" in done.stdout
    where = subprocess.run([str(c / "bin" / "where")], capture_output=True, text=True)
    assert where.stdout == f"{c}/share/where\n"
    assert subprocess.run([str(c / "bin" / "hello")]).returncode == 0


def test_cache_only_fails_on_what_cannot_be_relocated(demo: Demo) -> None:
    c = demo.root / ("d" * 60) / "local"
    done = demo.run(c, "install", "--cache", "only", "demo_where", "--cache-url", demo.url)
    assert done.returncode == 1
    assert "bin/where: binary file holds the build prefix" in done.stderr
    assert not (c / "bin" / "where").exists()
    assert "demo_where" not in records(c)


def test_a_tampered_artifact_is_refused_and_the_prefix_left_alone(demo: Demo) -> None:
    # a registry of its own: tampering must not break the other tests' artifacts
    e = demo.root / "e" / "local"
    with running_registry(demo.root / "registry-e") as registry:
        url = registry.url()
        a2 = demo.root / "a2" / "local"
        built = demo.run(a2, "install", "libdemo", "--push", "--cache-url", url)
        assert built.returncode == 0, built.stdout + built.stderr
        manifest = json.loads(
            subprocess.run(
                [
                    "skopeo",
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    f"docker://{registry.netloc}/mason/cache:{_tag(demo, a2, url)}",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        blob = registry.blob_file(manifest["layers"][0]["digest"])
        data = bytearray(blob.read_bytes())
        data[-12] ^= 0xFF
        blob.write_bytes(bytes(data))
        only = demo.run(e, "install", "--cache", "only", "libdemo", "--cache-url", url)
        assert only.returncode == 1
        assert "cached artifact refused: tampered layer" in only.stderr
        assert not (e / "lib" / "libdemo.so").exists() and records(e) == {}
        auto = demo.run(e, "install", "libdemo", "--cache-url", url)
        assert auto.returncode == 0, auto.stdout + auto.stderr
        assert "[libdemo-1.0.p0] building" in auto.stdout
        assert "tampered layer" in auto.stdout


def test_an_unsigned_artifact_is_refused_when_signatures_are_required(demo: Demo) -> None:
    f = demo.root / "f" / "local"
    f.parent.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(f.parent / "k")], check=True
    )
    (f.parent / "mason.toml").write_text(
        f'[cache]\nurl = "{demo.url}"\nrequire_signature = true\ntrusted_keys = ["k.pub"]\n'
    )
    done = demo.run(f, "install", "--cache", "only", "libdemo", cwd=f.parent)
    assert done.returncode == 1
    assert "cached artifact refused: unsigned, and [cache] require_signature is set" in done.stderr
    assert records(f) == {}


def _tag(demo: Demo, prefix: Path, url: str) -> str:
    done = demo.run(prefix, "cache", "key", "libdemo", "--json", "--cache-url", url)
    tag: str = json.loads(done.stdout)["tag"]
    return tag
