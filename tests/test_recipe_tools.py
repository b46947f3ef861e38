"""``mason new``, ``mason fix-checksum`` and ``mason update`` as a recipe author runs them."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from httpserver import serve
from mason.catalog import Catalog
from mason.cli import main

MAKEFILE = (
    "all:\n\ttrue\ninstall:\n\tmkdir -p $(DESTDIR)$(PREFIX)/bin\n"
    "\tcp greet $(DESTDIR)$(PREFIX)/bin/\n"
)
TREES = {
    "autotools": {"configure": "#!/bin/sh\n", "Makefile.in": ""},
    "autoreconf": {"configure.ac": "AC_INIT([x], [1])\n"},
    "cmake": {"CMakeLists.txt": "project(x)\n"},
    "python": {"pyproject.toml": "[project]\nname = 'x'\n", "Makefile": ""},
    "make": {"Makefile": MAKEFILE, "greet": "#!/bin/sh\necho hello from greet\n"},
    "unknown": {"README": "no build system\n"},
}


def make_tarball(path: Path, top: str, files: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def work(cli_dir: Path) -> Path:
    return cli_dir


@pytest.mark.parametrize("system", sorted(TREES))
def test_new_guesses_the_build_system(
    work: Path, capsys: pytest.CaptureFixture[str], system: str
) -> None:
    source = make_tarball(work / "dl" / "greet-2.5.1.tar.gz", "greet-2.5.1", TREES[system])
    code, out, _ = run(capsys, "new", "greet", "--catalog", "pkgs", "--source", str(source))
    assert code == 0, out
    recipe = work / "pkgs/greet"
    assert f"({system} build, version 2.5.1)" in out
    assert (recipe / "package-version.txt").read_text() == "2.5.1\n"
    assert (recipe / "type").read_text() == "optional\n"
    ini = (recipe / "checksums.ini").read_text()
    assert ini == f"tarball=greet-VERSION.tar.gz\nsha256={sha256(source)}\n"
    assert (work / "upstream/greet-2.5.1.tar.gz").read_bytes() == source.read_bytes()
    install = (recipe / "spkg-install.in").read_text()
    first_step = {
        "autotools": "sdh_configure",
        "autoreconf": "autoreconf -fi",
        "cmake": "sdh_cmake",
        "python": "sdh_pip_install .",
        "make": 'sdh_make PREFIX="$SAGE_INST_LOCAL"',
        "unknown": "sdh_die",
    }[system]
    assert install.splitlines()[0] == "cd src"
    assert install.splitlines()[-1 if system == "unknown" else 1].startswith(first_step)
    assert (recipe / "install-requires.txt").exists() == (system == "python")
    recipe_read = Catalog.load(work / "pkgs")["greet"]
    assert (recipe_read.kind, recipe_read.version) == ("normal", "2.5.1")


def test_a_new_make_recipe_builds_and_installs(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_tarball(work / "greet-1.0.tar.gz", "greet-1.0", TREES["make"])
    assert run(capsys, "new", "greet", "--catalog", "pkgs", "--source", str(source))[0] == 0
    code, out, err = run(capsys, "install", "--catalog", "pkgs", "greet")
    assert code == 0, out + err
    done = subprocess.run([work / "local/bin/greet"], capture_output=True, text=True, check=True)
    assert done.stdout == "hello from greet\n"


def test_new_from_a_url(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_tarball(work / "site/greet-3.0.tar.gz", "greet-3.0", TREES["make"])
    with serve(work / "site") as server:
        url = f"{server.url}/greet-3.0.tar.gz"
        code, out, _ = run(capsys, "new", "greet", "--catalog", "pkgs", "--source", url)
    assert code == 0, out
    ini = (work / "pkgs/greet/checksums.ini").read_text().splitlines()
    assert ini[2] == f"upstream_url={server.url}/greet-VERSION.tar.gz"
    assert sha256(work / "upstream/greet-3.0.tar.gz") == ini[1].removeprefix("sha256=")


def test_new_without_a_source_is_a_script_recipe(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "new", "tool", "--catalog", "pkgs", "--type", "standard")
    assert code == 0
    assert "(no source, version 1.0)" in out
    recipe = Catalog.load(work / "pkgs")["tool"]
    assert (recipe.kind, recipe.type) == ("script", "standard")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new", "Bad-Name"], "bad package name 'Bad-Name'"),
        (["new", "greet"], "a recipe greet already exists"),
        (["new", "other", "--source", "dl/greet.tar.gz"], "cannot tell the version"),
        (["new", "other", "--source", "dl/none-1.0.tar.gz"], "cannot read source"),
    ],
)
def test_new_refuses_bad_input(
    work: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    make_tarball(work / "dl/greet.tar.gz", "greet", TREES["make"])
    assert run(capsys, "new", "greet", "--catalog", "pkgs")[0] == 0
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    code, _, err = run(capsys, *argv, "--catalog", "pkgs")
    assert code == 2
    assert message in err
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def write_versioned(work: Path, version: str, ini: str) -> Path:
    recipe = work / "pkgs/greet"
    recipe.mkdir(parents=True, exist_ok=True)
    (recipe / "type").write_text("standard\n")
    (recipe / "package-version.txt").write_text(f"{version}\n")
    (recipe / "checksums.ini").write_text(ini)
    (recipe / "spkg-install.in").write_text("true\n")
    return recipe


def test_fix_checksum_rewrites_from_upstream(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = "# keep me\ntarball=greet-VERSION.tar.gz\n"
    ini += f"sha1={'1' * 40}\nsha256={'2' * 64}\nmd5={'3' * 32}\n"
    recipe = write_versioned(work, "1.0.p1", ini)
    source = make_tarball(work / "upstream/greet-1.0.tar.gz", "greet-1.0", TREES["make"])
    code, out, _ = run(capsys, "fix-checksum", "--catalog", "pkgs", "greet")
    assert code == 0
    digest = hashlib.sha1(source.read_bytes()).hexdigest()
    assert f"[greet] sha1: {'1' * 40} -> {digest}" in out.splitlines()
    assert f"[greet] sha256: {'2' * 64} -> {sha256(source)}" in out.splitlines()
    assert "[greet] md5: dropped (it described another file)" in out.splitlines()
    assert (recipe / "checksums.ini").read_text() == (
        f"# keep me\ntarball=greet-VERSION.tar.gz\nsha1={digest}\nsha256={sha256(source)}\n"
    )
    code, out, _ = run(capsys, "fix-checksum", "--catalog", "pkgs", "greet")
    assert (code, out) == (0, f"[greet] checksums.ini already matches {source}\n")


def test_fix_checksum_without_the_file_changes_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = f"tarball=greet-VERSION.tar.gz\nsha256={'2' * 64}\n"
    recipe = write_versioned(work, "1.0", ini)
    code, _, err = run(capsys, "fix-checksum", "--catalog", "pkgs", "greet")
    assert code == 2
    assert f"greet: no source file {work / 'upstream/greet-1.0.tar.gz'}" in err
    assert (recipe / "checksums.ini").read_text() == ini


def test_update_with_a_source_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = make_tarball(work / "upstream/greet-1.0.tar.gz", "greet-1.0", TREES["make"])
    recipe = write_versioned(work, "1.0", f"tarball=greet-VERSION.tar.gz\nsha256={sha256(old)}\n")
    new = make_tarball(work / "dl/greet-1.1.tar.gz", "greet-1.1", {"Makefile": "all:\n"})
    code, out, _ = run(capsys, "update", "--catalog", "pkgs", "greet", "1.1", "--source", str(new))
    assert code == 0
    assert out.splitlines() == [
        f"[greet] sha256: {sha256(old)} -> {sha256(new)}",
        "[greet] version: 1.0 -> 1.1",
    ]
    assert (recipe / "package-version.txt").read_text() == "1.1\n"
    assert (work / "upstream/greet-1.1.tar.gz").read_bytes() == new.read_bytes()
    assert old.is_file()  # the old version's source stays
    recipe_read = Catalog.load(work / "pkgs")["greet"]
    assert recipe_read.checksums is not None
    assert (recipe_read.checksums.tarball, recipe_read.checksums.sha256) == (
        "greet-1.1.tar.gz",
        sha256(new),
    )


def test_update_fetches_the_upstream_url(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = make_tarball(work / "site/greet-2.0.tar.gz", "greet-2.0", TREES["make"])
    with serve(work / "site") as server:
        ini = f"tarball=greet-VERSION.tar.gz\nsha256={'2' * 64}\n"
        recipe = write_versioned(
            work, "1.0", ini + f"upstream_url={server.url}/greet-VERSION.tar.gz\n"
        )
        code, out, _ = run(capsys, "update", "--catalog", "pkgs", "greet", "2.0.p0")
    assert code == 0, out
    assert server.requests == ["/greet-2.0.tar.gz"]
    assert f"sha256={sha256(new)}" in (recipe / "checksums.ini").read_text().splitlines()
    assert (recipe / "package-version.txt").read_text() == "2.0.p0\n"


def test_update_without_a_source_changes_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ini = f"tarball=greet-VERSION.tar.gz\nsha256={'2' * 64}\n"
    recipe = write_versioned(work, "1.0", ini)
    code, _, err = run(capsys, "update", "--catalog", "pkgs", "greet", "2.0")
    assert code == 2
    assert f"greet: no source file {work / 'upstream/greet-2.0.tar.gz'}" in err
    assert (recipe / "package-version.txt").read_text() == "1.0\n"
    assert (recipe / "checksums.ini").read_text() == ini
