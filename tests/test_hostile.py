"""Hostile and broken inputs, end to end through the real ``mason`` command line (SPEC 12).

Each case of :data:`hostile_corpus.CORPUS` runs ``mason install`` or ``mason merge`` on a
prefix that already holds a few packages (a merged ``base``, a script package ``alpha``,
a normal package ``libfoo`` built from a tarball, and the venv), then checks what a user
would: the exit status, stderr naming the package and the problem, the prefix identical
(every path's type, mode, content hash and link target, records and ownership index
included; only ``var/log/mason`` and ``var/tmp/mason``, where a failed build keeps its log
and build directory, are left out), and nothing changed around it: the prefix's parent
(catalog, upstream cache, sentinel files) and a directory under /tmp that the ``..`` and
absolute names aim at. Cases that mason accepts after sanitizing (setuid bits, an absolute
symlink into ``DESTDIR``) must succeed and change only the package's own paths.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile_corpus import CORPUS, Arg, Case, Member, Workspace, source_recipe, tar_bytes
from recipefactory import write_recipe

#: Where a failed build keeps its log and its build directory (excluded from "unchanged").
MASON_SCRATCH = ("var/log/mason", "var/tmp/mason")
#: What a successful merge adds besides the package's files: its record and claims.
BOOKKEEPING = ("var/lib/mason", "var/lock")


def run_mason(argv: list[Arg], cwd: Path) -> tuple[int, str]:
    """Run the real ``python -m mason``; return its exit status and its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASON_")}
    proc = subprocess.run(
        [sys.executable, "-m", "mason", *argv],
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


def digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every path under ``root``: type, mode, and content hash or link target."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [
            d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in skip
        ]
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                what = ""
            out[rel] = f"{kind:o} {stat.S_IMODE(st.st_mode):o} {what}"
    return out


def differences(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Paths added, removed or changed."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


# -- the base prefix, built once per session ------------------------------------------------


def _build_base(ws: Workspace) -> None:
    ws.sentinel.mkdir(parents=True)
    (ws.sentinel / "secret").write_text("do not touch\n")
    (ws.sentinel / "readonly").write_text("read-only\n")
    os.chmod(ws.sentinel / "readonly", 0o444)
    os.symlink("secret", ws.sentinel / "link")
    (ws.outside / "keep").write_text("outside the prefix\n")
    base = ws.staged / "base"
    for rel, text in {
        "share/base/data.txt": "base data\n",
        "lib/libbase.so": "elf\n",
        "include/base.h": "int base(void);\n",
        "bin/basetool": "#!/bin/sh\necho base\n",
    }.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)
    os.chmod(base / "bin/basetool", 0o755)
    os.symlink("lib", base / "lib64")
    _ok(run_mason(ws.merge("base", "1.0", base), ws.root))
    write_recipe(
        ws.catalog,
        "alpha",
        files={
            "spkg-install.in": 'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/alpha" && '
            'echo alpha > "$SAGE_DESTDIR$SAGE_LOCAL/share/alpha/alpha.txt"\n'
        },
    )
    source_recipe(ws, "libfoo", tar_bytes([Member("libfoo-1.0/foo.txt", data=b"foo\n")]))
    _ok(run_mason(ws.install("alpha", "libfoo"), ws.root))


def _ok(result: tuple[int, str]) -> None:
    status, stderr = result
    assert status == 0, stderr


@pytest.fixture(scope="session")
def hostile_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(session directory holding ``base/``, the outside directory under /tmp)."""
    session = tmp_path_factory.mktemp("hostile")
    outside = Path(tempfile.mkdtemp(prefix="mason-hostile-", dir="/tmp"))
    # Built where every case's workspace will be (the venv and records name the prefix's
    # path), then moved aside and copied back for each case.
    _build_base(Workspace(session / "case", outside))
    (session / "case").rename(session / "base")
    yield session, outside
    shutil.rmtree(outside, ignore_errors=True)


@pytest.fixture
def workspace(hostile_base: tuple[Path, Path]) -> Workspace:
    session, outside = hostile_base
    root = session / "case"
    if root.exists():
        shutil.rmtree(root)
    subprocess.run(["cp", "-a", str(session / "base"), str(root)], check=True)
    for entry in outside.iterdir():
        if entry.name != "keep":
            entry.unlink() if not entry.is_dir() else shutil.rmtree(entry)
    return Workspace(root, outside)


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CORPUS])
def test_hostile_input(case: Case, workspace: Workspace) -> None:
    ws = workspace
    argv = case.setup(ws)
    prefix_before = digest(ws.prefix, MASON_SCRATCH)
    # Around the prefix: catalog, upstream cache, sentinels (and, for a refused merge,
    # the staged tree, which mason moves only on success), and the /tmp target.
    around_skip = ("prefix",) if case.exit_code else ("prefix", "staged")
    around_before = digest(ws.root, around_skip), digest(ws.outside)

    status, stderr = run_mason(argv, ws.root)

    assert status == case.exit_code, stderr
    for text in case.expect:
        assert text in stderr, f"{text!r} not in stderr:\n{stderr}"
    assert (digest(ws.root, around_skip), digest(ws.outside)) == around_before
    changed = differences(prefix_before, digest(ws.prefix, MASON_SCRATCH))
    if case.exit_code == 0:
        assert case.check is not None
        case.check(ws)
        assert {p for p in changed if not p.startswith(BOOKKEEPING)} <= case.changes(ws)
    else:
        assert changed == case.changes(ws), "a refused input must leave the prefix as it was"
        _only_scratch_left(ws)


def _only_scratch_left(ws: Workspace) -> None:
    """A failed run leaves its build directory and log, nothing else, in mason's scratch."""
    tmp = ws.prefix / "var/tmp/mason"
    if tmp.is_dir():
        for entry in tmp.iterdir():
            assert entry.is_dir() and not entry.is_symlink(), entry


def test_corpus_is_large_and_unique() -> None:
    ids = [c.id for c in CORPUS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30
    assert any(c.exit_code == 0 for c in CORPUS), "sanitized-and-accepted cases are covered"


@pytest.mark.parametrize(
    ("script", "report"),
    [
        ('rm -f "$SAGE_LOCAL/share/base/data.txt"\n', "missing   share/base/data.txt (base)"),
        (
            'echo hacked > "$SAGE_LOCAL/share/base/data.txt"\n',
            "modified  share/base/data.txt (base)",
        ),
    ],
    ids=["deleted", "modified"],
)
def test_verify_reports_another_package_file_a_recipe_touched(
    workspace: Workspace, script: str, report: str
) -> None:
    """A recipe deleting or rewriting another package's file without the sandbox: ``mason
    verify`` reports it whatever the install said (the install's stray-write check also
    fails that build: see the corpus case ``recipe_deletes_other_package_file``)."""
    ws = workspace
    write_recipe(
        ws.catalog,
        "vandal",
        files={"spkg-install.in": 'mkdir -p "$SAGE_DESTDIR$SAGE_LOCAL/share/vandal"\n' + script},
    )
    run_mason([*ws.install("vandal"), "--sandbox", "off"], ws.root)  # the sandbox stops it
    verify = subprocess.run(
        [sys.executable, "-m", "mason", "verify", "--prefix", str(ws.prefix)],
        capture_output=True,
        text=True,
        cwd=ws.root,
    )
    assert verify.returncode == 1
    assert report in verify.stdout
