"""Hostile and broken inputs for the end-to-end corpus (``tests/test_hostile.py``).

Everything is generated at test time: tarballs, zips and wheels are written member by
member (``tarfile.TarInfo`` / ``zipfile.ZipInfo``), so they can hold what no well-behaved
archiver would write. Each :class:`Case` prepares its input in a :class:`Workspace` and
says which ``mason`` command line to run and what a user must see.

A workspace (one per test, copied from a session-wide base) looks like::

    <root>/prefix/             the live prefix, with packages installed beforehand
    <root>/catalog/pkgs/       the catalog (recipes of the installed packages + the case's)
    <root>/catalog/upstream/   the source cache the case's archive is put into
    <root>/staged/             staged trees for ``mason merge``
    <root>/sentinel/           files nobody may touch
    <outside>/                 a directory under /tmp that ``..`` and absolute names aim at
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from recipefactory import write_recipe
from wheelfactory import make_wheel, record_hash

Arg = str | bytes | Path

#: ``mason install``: a package failed during the run (whatever the cause).
FAILED = 1
#: Bad input refused before anything runs (catalog, names, ``mason merge``).
REFUSED = 2
MemberKind = Literal["file", "dir", "symlink", "hardlink", "chr", "blk", "fifo"]

#: The recipe script of the archive cases: the sources, as extracted, go to share/<name>/.
COPY_SOURCES = (
    'd="$SAGE_DESTDIR$SAGE_LOCAL/share/$PKG_BASE"\n'
    'mkdir -p "$d" && cp -pR src/. "$d/" || sdh_die "cannot copy the sources"\n'
)


@dataclass(frozen=True)
class Workspace:
    """Where one case runs: the prefix, its catalog, and the places nobody may write."""

    root: Path
    outside: Path

    @property
    def prefix(self) -> Path:
        return self.root / "prefix"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog" / "pkgs"

    @property
    def upstream(self) -> Path:
        return self.root / "catalog" / "upstream"

    @property
    def staged(self) -> Path:
        return self.root / "staged"

    @property
    def sentinel(self) -> Path:
        return self.root / "sentinel"

    def install(self, *packages: Arg) -> list[Arg]:
        """The command line ``mason install`` of ``packages`` in this workspace."""
        return ["install", "--catalog", self.catalog, "--prefix", self.prefix, *packages]

    def merge(self, name: Arg, version: Arg, staged: Path) -> list[Arg]:
        """The command line ``mason merge NAME VERSION DIR`` in this workspace."""
        return ["merge", "--prefix", self.prefix, name, version, staged]

    def dotdot(self, name: str) -> str:
        """A relative name that climbs from anywhere below ``/`` into :attr:`outside`."""
        return "pkg-1.0/" + "../" * 40 + str(self.outside).lstrip("/") + "/" + name


@dataclass(frozen=True)
class Member:
    """One archive member, exactly as written (no normalization of the name)."""

    name: str
    kind: MemberKind = "file"
    data: bytes = b"content\n"
    target: str = ""
    mode: int = 0o644


def tar_bytes(members: Sequence[Member]) -> bytes:
    """A gzip-compressed tar archive holding ``members`` in order."""
    kinds = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "chr": tarfile.CHRTYPE,
        "blk": tarfile.BLKTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = kinds[m.kind]
            info.mode = m.mode
            info.linkname = m.target
            info.mtime = 1_600_000_000
            if m.kind in ("chr", "blk"):
                info.devmajor, info.devminor = 1, 3
            if m.kind == "file":
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def zip_bytes(members: Mapping[str, bytes]) -> bytes:
    """A zip archive holding ``members`` (names written as given)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100644) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def source_recipe(
    ws: Workspace,
    name: str,
    archive: bytes,
    *,
    suffix: str = "tar.gz",
    script: str = COPY_SOURCES,
    sha256: str | None = None,
) -> None:
    """A normal recipe ``name`` 1.0 whose source is ``archive`` in the upstream cache."""
    ws.upstream.mkdir(parents=True, exist_ok=True)
    (ws.upstream / f"{name}-1.0.{suffix}").write_bytes(archive)
    digest = sha256 or hashlib.sha256(archive).hexdigest()
    write_recipe(
        ws.catalog,
        name,
        files={
            "checksums.ini": f"tarball={name}-VERSION.{suffix}\nsha256={digest}\n",
            "spkg-install.in": script,
        },
    )


def script_recipe(ws: Workspace, name: str, script: str, **files: str) -> None:
    """A script recipe ``name`` 1.0 running ``script``."""
    write_recipe(ws.catalog, name, files={"spkg-install.in": script, **files})


def wheel_recipe(ws: Workspace, name: str, wheel: Path) -> None:
    """A wheel recipe ``name`` 1.0 whose source is ``wheel`` (moved into the cache)."""
    ws.upstream.mkdir(parents=True, exist_ok=True)
    data = wheel.read_bytes()
    wheel.unlink()
    (ws.upstream / wheel.name).write_bytes(data)
    tarball = wheel.name.replace("-1.0-", "-VERSION-")
    digest = hashlib.sha256(data).hexdigest()
    write_recipe(ws.catalog, name, files={"checksums.ini": f"tarball={tarball}\nsha256={digest}\n"})


def staged_tree(ws: Workspace, name: str, files: Mapping[str, str]) -> Path:
    """A staged tree ``staged/<name>`` with text ``files`` (paths relative to the prefix)."""
    root = ws.staged / name
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    root.mkdir(parents=True, exist_ok=True)
    return root


# -- the cases ------------------------------------------------------------------------------

Setup = Callable[[Workspace], list[Arg]]
Check = Callable[[Workspace], None]


@dataclass(frozen=True)
class Case:
    """One hostile or broken input and what the user must see.

    ``exit_code`` 0 means the input is accepted after sanitizing (``check`` says what the
    result must be); any other code means refused, with the prefix unchanged. ``expect``
    are the texts stderr must contain (the package and the problem).
    """

    id: str
    setup: Setup
    exit_code: int
    expect: tuple[str, ...]
    check: Check | None = None
    xfail: str | None = None
    changes: Callable[[Workspace], frozenset[str]] = field(default=lambda ws: frozenset())


def _archive_case(
    id: str, members: Callable[[Workspace], list[Member]], *expect: str, code: int = FAILED
) -> Case:
    def setup(ws: Workspace) -> list[Arg]:
        source_recipe(ws, id, tar_bytes(members(ws)))
        return ws.install(id)

    return Case(id, setup, code, (id, *expect))


def _top(*members: Member) -> Callable[[Workspace], list[Member]]:
    return lambda ws: [Member("pkg-1.0/README"), *members]


ARCHIVES: list[Case] = [
    _archive_case(
        "tar_dotdot",
        lambda ws: [Member("pkg-1.0/README"), Member(ws.dotdot("evil"))],
        "..",
    ),
    _archive_case(
        "tar_absolute",
        lambda ws: [Member("pkg-1.0/README"), Member(f"{ws.outside}/evil")],
        "absolute",
    ),
    _archive_case(
        "tar_symlink_then_through",
        lambda ws: [
            Member("pkg-1.0/out", "symlink", target=str(ws.outside)),
            Member("pkg-1.0/out/evil"),
        ],
        "pkg-1.0/out",
        "absolute symlink",
    ),
    _archive_case(
        "tar_relative_symlink_escape",
        lambda ws: [
            Member("pkg-1.0/up", "symlink", target="../" * 40 + str(ws.outside).lstrip("/")),
            Member("pkg-1.0/up/evil"),
        ],
        "pkg-1.0/up",
        "leads outside",
    ),
    _archive_case(
        "tar_symlink_inside_then_through",
        _top(Member("pkg-1.0/here", "symlink", target="."), Member("pkg-1.0/here/x")),
        "pkg-1.0/here",
        "through or over the symlink",
    ),
    _archive_case(
        "tar_symlink_chain_escape",
        _top(
            Member("pkg-1.0/a", "symlink", target="."),
            Member("pkg-1.0/b", "symlink", target="a/../.."),
        ),
        "pkg-1.0/b",
        "outside the destination",
    ),
    _archive_case(
        "tar_hardlink_absolute",
        lambda ws: [
            Member("pkg-1.0/README"),
            Member("pkg-1.0/h", "hardlink", target=f"{ws.outside}/keep"),
        ],
        "pkg-1.0/h",
        "hard link",
    ),
    _archive_case(
        "tar_hardlink_dotdot",
        lambda ws: [
            Member("pkg-1.0/README"),
            Member("pkg-1.0/h", "hardlink", target=ws.dotdot("keep").removeprefix("pkg-1.0/")),
        ],
        "pkg-1.0/h",
        "hard link",
    ),
    _archive_case(
        "tar_char_device", _top(Member("pkg-1.0/null", "chr")), "pkg-1.0/null", "character device"
    ),
    _archive_case(
        "tar_block_device", _top(Member("pkg-1.0/disk", "blk")), "pkg-1.0/disk", "block device"
    ),
    _archive_case("tar_fifo", _top(Member("pkg-1.0/pipe", "fifo")), "pkg-1.0/pipe", "fifo"),
    _archive_case(
        "tar_non_utf8_name",
        _top(Member("pkg-1.0/caf\udce9")),
        "share/tar_non_utf8_name/b'caf\\xe9'",
        "not valid UTF-8",
    ),
    _archive_case(
        "tar_newline_name",
        _top(Member("pkg-1.0/new\nline")),
        "share/tar_newline_name/",
        "newline",
    ),
    _archive_case(
        "tar_file_then_dir",
        _top(Member("pkg-1.0/x"), Member("pkg-1.0/x/y")),
        "pkg-1.0/x",
    ),
    _archive_case(
        "tar_long_name",
        _top(Member("pkg-1.0/" + "n" * 300)),
        "n" * 40,
        "too long",
    ),
]


def _zip_symlink(ws: Workspace) -> list[Arg]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pkg-1.0/README", b"x")
        info = zipfile.ZipInfo("pkg-1.0/link", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, str(ws.outside))
    source_recipe(ws, "zip_symlink", buf.getvalue(), suffix="zip")
    return ws.install("zip_symlink")


def _truncated(ws: Workspace) -> list[Arg]:
    whole = tar_bytes([Member("pkg-1.0/README", data=os.urandom(64 * 1024))])
    source_recipe(ws, "truncated_tarball", whole[: len(whole) // 2])
    return ws.install("truncated_tarball")


def _not_an_archive(ws: Workspace) -> list[Arg]:
    source_recipe(ws, "not_an_archive", b"<html>404 Not Found</html>\n" * 10)
    return ws.install("not_an_archive")


def _zip(name: str, members: Callable[[Workspace], dict[str, bytes]]) -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        source_recipe(ws, name, zip_bytes(members(ws)), suffix="zip")
        return ws.install(name)

    return setup


BROKEN_ARCHIVES: list[Case] = [
    Case(
        "truncated_tarball",
        _truncated,
        FAILED,
        ("truncated_tarball", "truncated_tarball-1.0.tar.gz"),
    ),
    Case(
        "not_an_archive", _not_an_archive, FAILED, ("not_an_archive", "not_an_archive-1.0.tar.gz")
    ),
    Case(
        "zip_dotdot",
        _zip("zip_dotdot", lambda ws: {"pkg-1.0/README": b"x", ws.dotdot("evil"): b"x"}),
        FAILED,
        ("zip_dotdot", ".."),
    ),
    Case(
        "zip_absolute",
        _zip("zip_absolute", lambda ws: {"pkg-1.0/README": b"x", f"{ws.outside}/evil": b"x"}),
        FAILED,
        ("zip_absolute", "absolute"),
    ),
    Case("zip_symlink", _zip_symlink, FAILED, ("zip_symlink", "pkg-1.0/link", "symlink")),
    Case(
        "zip_long_name",
        _zip("zip_long_name", lambda ws: {"pkg-1.0/" + "z" * 300: b"x"}),
        FAILED,
        ("zip_long_name", "z" * 40, "too long"),
    ),
]


# -- checksums ------------------------------------------------------------------------------

#: A recipe whose build would leave a mark outside: it must never run.
MARK_OUTSIDE = 'touch "{outside}/built-$PKG_BASE"\n' + COPY_SOURCES


def _bad_checksum(ws: Workspace) -> list[Arg]:
    # Served by a mirror, not planted in the cache: a bad file in the cache is discarded
    # (that is the cache working), and this case checks that nothing around changes.
    archive = tar_bytes([Member("pkg-1.0/README")])
    script = MARK_OUTSIDE.format(outside=ws.outside)
    source_recipe(ws, "bad_checksum", archive, script=script, sha256="0" * 64)
    mirror = ws.root / "mirror"
    mirror.mkdir()
    (ws.upstream / "bad_checksum-1.0.tar.gz").rename(mirror / "bad_checksum-1.0.tar.gz")
    return [*ws.install("bad_checksum"), "--mirror", mirror]


def _tarball_dotdot_name(ws: Workspace) -> list[Arg]:
    write_recipe(
        ws.catalog,
        "tarball_escape",
        files={
            "checksums.ini": f"tarball=../../../../{ws.outside}/keep\nsha256={'0' * 64}\n",
            "spkg-install.in": COPY_SOURCES,
        },
    )
    return ws.install("tarball_escape")


CHECKSUMS: list[Case] = [
    Case("bad_checksum", _bad_checksum, FAILED, ("bad_checksum", "sha256 mismatch")),
    Case("tarball_name_escape", _tarball_dotdot_name, FAILED, ("tarball_escape", "keep")),
]


# -- wheels ---------------------------------------------------------------------------------


def _wheel_case(
    id: str, build: Callable[[Workspace, Path], Path], *expect: str, code: int = FAILED
) -> Case:
    def setup(ws: Workspace) -> list[Arg]:
        wheel_recipe(ws, id, build(ws, ws.root / "wheels"))
        return ws.install(id)

    return Case(id, setup, code, (id, *expect))


def _wheel_with(
    extra: Callable[[Workspace], dict[str, bytes]],
) -> Callable[[Workspace, Path], Path]:
    def build(ws: Workspace, directory: Path) -> Path:
        init = {"hostile/__init__.py": "X = 1\n"}
        return make_wheel(directory, "hostile", "1.0", init, extra=extra(ws))

    return build


def _wheel_record_lists_dotdot(ws: Workspace, directory: Path) -> Path:
    wheel = make_wheel(directory, "hostile", "1.0", {"hostile/__init__.py": "X = 1\n"})
    # Rewrite RECORD to claim a file above site-packages that the wheel does carry
    # under an innocent name: installers that trust RECORD paths would write it there.
    with zipfile.ZipFile(wheel) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    record = "hostile-1.0.dist-info/RECORD"
    evil = "../../../../" + "bin/evil"
    members[record] += f"{evil},{record_hash(b'x')},1\n".encode()
    members[evil] = b"x"
    wheel.write_bytes(zip_bytes(members))
    return wheel


def _wheel_record_only_dotdot(ws: Workspace, directory: Path) -> Path:
    wheel = make_wheel(directory, "hostile", "1.0", {"hostile/__init__.py": "X = 1\n"})
    # RECORD names a file above site-packages that the wheel does not carry at all.
    with zipfile.ZipFile(wheel) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["hostile-1.0.dist-info/RECORD"] += (
        f"../../../../bin/evil,{record_hash(b'x')},1\n".encode()
    )
    wheel.write_bytes(zip_bytes(members))
    return wheel


def _wheel_truncated(ws: Workspace, directory: Path) -> Path:
    wheel = make_wheel(directory, "hostile", "1.0", {"hostile/__init__.py": "X = 1\n" * 500})
    data = wheel.read_bytes()
    wheel.write_bytes(data[: len(data) // 2])
    return wheel


def _pip_option_line(ws: Workspace) -> list[Arg]:
    links = ws.root / "links"
    make_wheel(links, "hostile", "1.0", {"hostile/__init__.py": "X = 1\n"})
    requirements = f"--dest={ws.outside}/pip\nhostile==1.0\n"
    write_recipe(ws.catalog, "pip_option", files={"requirements.txt": requirements})
    return [*ws.install("pip_option"), "--find-links", links]


WHEELS: list[Case] = [
    _wheel_case(
        "wheel_dotdot_entry",
        _wheel_with(lambda ws: {"../../../../../evil.py": b"x"}),
        "..",
        "escapes the venv",
    ),
    _wheel_case(
        "wheel_absolute_entry",
        _wheel_with(lambda ws: {f"{ws.outside}/evil.py": b"x"}),
        "evil.py",
        "escapes the venv",
    ),
    _wheel_case(
        "wheel_record_hash_mismatch",
        lambda ws, d: make_wheel(
            d,
            "hostile",
            "1.0",
            {"hostile/__init__.py": "X = 1\n"},
            record_overrides={"hostile/__init__.py": record_hash(b"something else")},
        ),
        "hostile/__init__.py",
        "match RECORD",
    ),
    _wheel_case("wheel_record_lists_dotdot", _wheel_record_lists_dotdot, "bin/evil", "escapes"),
    _wheel_case("wheel_record_only_dotdot", _wheel_record_only_dotdot, "bin/evil", "escapes"),
    _wheel_case(
        "wheel_entry_point_dotdot",
        lambda ws, d: make_wheel(
            d,
            "hostile",
            "1.0",
            {"hostile/__init__.py": "def main() -> None: pass\n"},
            entry_points={"console_scripts": {"../../../../evil": "hostile:main"}},
        ),
        "../../../../evil",
        "escapes the scripts directory",
    ),
    Case(
        "pip_requirement_is_an_option",
        _pip_option_line,
        FAILED,
        ("pip_option", "--dest=", "pip options"),
    ),
    _wheel_case("wheel_truncated", _wheel_truncated, "hostile-1.0-py3-none-any.whl", "zip"),
]


# -- staged trees through `mason merge` -----------------------------------------------------


def _merge_with_link(name: str, target: Callable[[Workspace], str]) -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        root = staged_tree(ws, name, {"share/x/file": "x\n"})
        os.symlink(target(ws), root / "share/x/link")
        return ws.merge(name, "1.0", root)

    return setup


def _merge_fifo(ws: Workspace) -> list[Arg]:
    root = staged_tree(ws, "staged_fifo", {"share/x/file": "x\n"})
    os.mkfifo(root / "share/x/pipe")
    return ws.merge("staged_fifo", "1.0", root)


def _merge_reserved(ws: Workspace) -> list[Arg]:
    root = staged_tree(
        ws, "staged_bookkeeping", {"var/lib/mason/installed/base-1.0": '{"files": []}\n'}
    )
    return ws.merge("staged_bookkeeping", "1.0", root)


def _merge_collision(ws: Workspace) -> list[Arg]:
    root = staged_tree(ws, "staged_collision", {"share/base/data.txt": "not base's\n"})
    return ws.merge("staged_collision", "1.0", root)


def _merge_suid(ws: Workspace) -> list[Arg]:
    root = staged_tree(ws, "staged_suid", {"bin/suid": "#!/bin/sh\n", "share/sgid/d/f": "x"})
    os.chmod(root / "bin/suid", 0o6755)
    os.chmod(root / "share/sgid/d", 0o2775)
    return ws.merge("staged_suid", "1.0", root)


def _check_suid(ws: Workspace) -> None:
    for rel in ("bin/suid", "share/sgid/d"):
        mode = os.lstat(ws.prefix / rel).st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID), (rel, oct(mode))
    assert os.access(ws.prefix / "bin/suid", os.X_OK), "the plain x bits stay"


def _merge_abs_into_staging(ws: Workspace) -> list[Arg]:
    root = staged_tree(ws, "staged_abs_link", {"lib/libreal.so.1": "elf\n"})
    os.symlink(root / "lib/libreal.so.1", root / "lib/libreal.so")
    return ws.merge("staged_abs_link", "1.0", root)


def _check_abs_link(ws: Workspace) -> None:
    link = ws.prefix / "lib/libreal.so"
    assert os.readlink(link) == str(ws.prefix / "lib/libreal.so.1")
    assert link.read_text() == "elf\n"


def _check_added(*paths: str) -> Callable[[Workspace], frozenset[str]]:
    return lambda ws: frozenset(paths)


def _check_stray(*paths: str) -> Callable[[Workspace], frozenset[str]]:
    """A build's stray writes: none reach the prefix where builds are sandboxed (the
    default where bubblewrap works); without the sandbox they stay, reported."""
    return lambda ws: frozenset() if _sandboxed() else frozenset(paths)


def _sandboxed() -> bool:
    from mason.build.sandbox import Sandbox, probe

    return isinstance(probe(os.environ.get("PATH")), Sandbox)


def _merge_name(name: Arg, version: Arg = "1.0") -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        root = staged_tree(ws, "odd", {"share/odd/file": "x\n"})
        return ws.merge(name, version, root)

    return setup


def _merge_bad_names(ws: Workspace) -> list[Arg]:
    root = staged_tree(ws, "staged_names", {"share/names/ok": "x\n"})
    for name in (b"caf\xe9", b"new\nline"):
        open(os.path.join(os.fsencode(root / "share/names"), name), "wb").close()
    return ws.merge("staged_names", "1.0", root)


def _merge_hardlink_outside(ws: Workspace) -> list[Arg]:
    root = staged_tree(ws, "staged_hardlink", {"share/hl/ok": "x\n"})
    os.link(ws.sentinel / "readonly", root / "share/hl/readonly")
    return ws.merge("staged_hardlink", "1.0", root)


def _merge_inside_prefix(ws: Workspace) -> list[Arg]:
    return ws.merge("staged_inside", "1.0", ws.prefix / "share/base")


def _merge_around_prefix(ws: Workspace) -> list[Arg]:
    return ws.merge("staged_around", "1.0", ws.root)


def _merge_link_chain(ws: Workspace) -> list[Arg]:
    # Each link stays inside when read alone (the lexical check); followed on the disk,
    # share/deep/up is the prefix itself, so share/escape is the prefix's grandparent.
    root = staged_tree(ws, "staged_chain", {"share/chain/file": "x\n"})
    (root / "share/deep").mkdir()
    os.symlink("../..", root / "share/deep/up")
    os.symlink("deep/up/../../..", root / "share/escape")
    return ws.merge("staged_chain", "1.0", root)


STAGED: list[Case] = [
    Case(
        "staged_relative_escape",
        _merge_with_link("staged_escape", lambda ws: "../../../../" + str(ws.outside)),
        REFUSED,
        ("staged_escape", "share/x/link", "outside the prefix"),
    ),
    Case(
        "staged_absolute_outside",
        _merge_with_link("staged_abs_out", lambda ws: f"{ws.outside}/keep"),
        REFUSED,
        ("staged_abs_out", "share/x/link", "outside the prefix"),
    ),
    Case("staged_fifo", _merge_fifo, REFUSED, ("staged_fifo", "share/x/pipe")),
    Case(
        "staged_into_bookkeeping",
        _merge_reserved,
        REFUSED,
        ("staged_bookkeeping", "var/lib/mason"),
    ),
    Case(
        "staged_collision",
        _merge_collision,
        REFUSED,
        ("staged_collision", "share/base/data.txt", "base"),
    ),
    Case(
        "staged_bad_file_names",
        _merge_bad_names,
        REFUSED,
        ("staged_names", "not valid UTF-8", "newline"),
    ),
    Case(
        "staged_symlink_chain_escape",
        _merge_link_chain,
        REFUSED,
        ("staged_chain", "share/escape", "outside the prefix"),
    ),
    Case(
        "staged_absolute_dotdot_escape",
        _merge_with_link("staged_abs_dotdot", lambda ws: f"{ws.prefix}/../sentinel/secret"),
        REFUSED,
        ("staged_abs_dotdot", "share/x/link", "outside the prefix"),
    ),
    Case(
        "staged_hardlink_outside",
        _merge_hardlink_outside,
        REFUSED,
        ("staged_hardlink", "share/hl/readonly"),
    ),
    Case(
        "staged_dir_inside_prefix",
        _merge_inside_prefix,
        REFUSED,
        ("staged_inside", "share/base"),
    ),
    Case(
        "staged_dir_contains_prefix",
        _merge_around_prefix,
        REFUSED,
        ("staged_around", "prefix"),
    ),
    Case(
        "staged_setuid_stripped",
        _merge_suid,
        0,
        (),
        check=_check_suid,
        changes=_check_added("bin/suid", "share/sgid", "share/sgid/d", "share/sgid/d/f"),
    ),
    Case(
        "staged_absolute_link_rewritten",
        _merge_abs_into_staging,
        0,
        (),
        check=_check_abs_link,
        changes=_check_added("lib/libreal.so", "lib/libreal.so.1"),
    ),
]

# -- names and versions ---------------------------------------------------------------------


def _catalog_dir(dirname: bytes) -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        recipe = Path(os.fsdecode(bytes(ws.catalog) + b"/" + dirname))
        recipe.mkdir()
        (recipe / "type").write_text("standard\n")
        (recipe / "package-version.txt").write_text("1.0\n")
        (recipe / "spkg-install.in").write_text(f'touch "{ws.outside}/ran"\n')
        return ws.install(dirname)

    return setup


def _catalog_version(name: str, version: bytes) -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        script_recipe(ws, name, f'touch "{ws.outside}/ran"\n')
        (ws.catalog / name / "package-version.txt").write_bytes(version + b"\n")
        return ws.install(name)

    return setup


def _catalog_deps(name: str, deps: str) -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        script_recipe(ws, name, f'touch "{ws.outside}/ran"\n')
        (ws.catalog / name / "dependencies").write_text(deps.format(outside=ws.outside) + "\n")
        return ws.install(name)

    return setup


def _install_unknown(name: bytes) -> Setup:
    return lambda ws: ws.install(name)


NAMES: list[Case] = [
    Case(
        "install_name_metachar",
        _install_unknown(b"alpha;touch pwn"),
        REFUSED,
        ("alpha;touch pwn",),
    ),
    Case("install_name_slash", _install_unknown(b"../alpha"), REFUSED, ("../alpha",)),
    Case(
        "catalog_dir_metachar",
        _catalog_dir(b"x$(touch pwn)"),
        REFUSED,
        ("x$(touch pwn)",),
    ),
    Case("catalog_dir_space", _catalog_dir(b"two words"), REFUSED, ("two words",)),
    Case("catalog_dir_non_utf8", _catalog_dir(b"caf\xe9"), REFUSED, ("caf",)),
    Case(
        "catalog_version_metachar",
        _catalog_version("version_metachar", b"1.0$(touch pwn)"),
        REFUSED,
        ("version_metachar", "package-version.txt"),
    ),
    Case(
        "catalog_version_slash",
        _catalog_version("version_slash", b"1.0/../../../x"),
        REFUSED,
        ("version_slash", "package-version.txt"),
    ),
    Case(
        "catalog_version_non_utf8",
        _catalog_version("version_bytes", b"1.0\xff"),
        REFUSED,
        ("version_bytes", "package-version.txt"),
    ),
    Case(
        "catalog_dependency_make_function",
        _catalog_deps("deps_shell", "$(shell touch {outside}/ran) alpha"),
        REFUSED,
        ("deps_shell/dependencies", "$(shell"),
    ),
    Case("merge_name_slash", _merge_name("../escape"), REFUSED, ("../escape",)),
    Case("merge_name_space", _merge_name("two words"), REFUSED, ("two words",)),
    Case("merge_name_metachar", _merge_name("a;touch pwn"), REFUSED, ("a;touch pwn",)),
    Case("merge_name_non_utf8", _merge_name(b"caf\xe9"), REFUSED, ("caf",)),
    Case(
        "merge_version_slash",
        _merge_name("odd", "../../../../escape"),
        REFUSED,
        ("odd", "../../../../escape"),
    ),
    Case("merge_version_space", _merge_name("odd", "1.0 beta"), REFUSED, ("odd", "1.0 beta")),
    Case("merge_version_non_utf8", _merge_name("odd", b"1.0\xff"), REFUSED, ("odd", "version")),
]

# -- recipes --------------------------------------------------------------------------------


def _recipe(name: str, script: str) -> Setup:
    def setup(ws: Workspace) -> list[Arg]:
        script_recipe(ws, name, script.format(outside=ws.outside))
        return ws.install(name)

    return setup


D = '"$SAGE_DESTDIR$SAGE_LOCAL"'

RECIPES: list[Case] = [
    Case(
        "recipe_writes_prefix",
        _recipe(
            "writes_prefix",
            f"mkdir -p {D}/share/writes_prefix && echo ok > {D}/share/writes_prefix/ok\n"
            'echo stray > "$SAGE_LOCAL/share/stray.txt"\n',
        ),
        FAILED,
        ("writes_prefix", "share/stray.txt"),
        changes=_check_stray("share/stray.txt"),
    ),
    Case(
        "recipe_writes_prefix_var",
        _recipe(
            "writes_var",
            f"mkdir -p {D}/share/writes_var && echo ok > {D}/share/writes_var/ok\n"
            'mkdir -p "$SAGE_LOCAL/var/cache/writes_var" && '
            'echo stray > "$SAGE_LOCAL/var/cache/writes_var/stray"\n',
        ),
        FAILED,
        ("writes_var", "var/cache/writes_var/stray"),
        changes=_check_stray("var/cache", "var/cache/writes_var", "var/cache/writes_var/stray"),
    ),
    Case(
        "recipe_deletes_other_package_file",
        _recipe(
            "deletes_other",
            f"mkdir -p {D}/share/deletes_other && echo ok > {D}/share/deletes_other/ok\n"
            'rm -f "$SAGE_LOCAL/share/base/data.txt"\n',
        ),
        FAILED,
        ("deletes_other", "share/base/data.txt"),
        changes=_check_stray("share/base/data.txt"),
    ),
    Case(
        "recipe_modifies_other_package_file",
        _recipe(
            "modifies_other",
            f"mkdir -p {D}/share/modifies_other && echo ok > {D}/share/modifies_other/ok\n"
            'echo hacked > "$SAGE_LOCAL/share/base/data.txt"\n',
        ),
        FAILED,
        ("modifies_other", "share/base/data.txt"),
        changes=_check_stray("share/base/data.txt"),
    ),
    Case(
        "recipe_symlink_escape",
        _recipe(
            "link_escape",
            f"mkdir -p {D}/share/link_escape && ln -s ../../../../../../{{outside}}/keep "
            f"{D}/share/link_escape/keep\n",
        ),
        FAILED,
        ("link_escape", "share/link_escape/keep", "outside the prefix"),
    ),
    Case(
        "recipe_absolute_link_into_destdir",
        _recipe(
            "link_destdir",
            f"mkdir -p {D}/lib && echo elf > {D}/lib/liblinked.so.1 && "
            f"ln -s {D}/lib/liblinked.so.1 {D}/lib/liblinked.so\n",
        ),
        0,
        (),
        check=lambda ws: _check_link_into_prefix(ws, "lib/liblinked.so", "lib/liblinked.so.1"),
        changes=_check_added("lib/liblinked.so", "lib/liblinked.so.1"),
    ),
    Case(
        "recipe_setuid_stripped",
        _recipe(
            "setuid_recipe",
            f"mkdir -p {D}/bin && printf '#!/bin/sh\\n' > {D}/bin/setuid_tool && "
            f"chmod 6755 {D}/bin/setuid_tool\n",
        ),
        0,
        (),
        check=lambda ws: _check_no_suid(ws, "bin/setuid_tool"),
        changes=_check_added("bin/setuid_tool"),
    ),
    Case(
        "recipe_hardlink_outside",
        _recipe(
            "hardlink_out",
            f'mkdir -p {D}/share/hardlink_out && ln "$SAGE_LOCAL/../sentinel/readonly" '
            f"{D}/share/hardlink_out/readonly\n",
        ),
        FAILED,
        ("hardlink_out", "share/hardlink_out/readonly"),
    ),
    Case(
        "recipe_outside_destdir",
        _recipe(
            "outside_destdir", 'mkdir -p "$SAGE_DESTDIR/etc" && echo x > "$SAGE_DESTDIR/etc/x"\n'
        ),
        FAILED,
        ("outside_destdir", "etc"),
    ),
    Case(
        "recipe_shebang",
        _recipe("shebang", "#!/bin/sh\ntouch {outside}/ran\n"),
        REFUSED,
        ("shebang", "spkg-install.in"),
    ),
    Case(
        "recipe_fails",
        _recipe(
            "fails",
            f"mkdir -p {D}/share/fails && echo half > {D}/share/fails/x\n"
            "false || sdh_die 'broken build'\n",
        ),
        FAILED,
        ("fails", "broken build"),
    ),
    Case(
        "recipe_collides",
        _recipe("collides", f"mkdir -p {D}/share/base && echo mine > {D}/share/base/data.txt\n"),
        FAILED,
        ("collides", "share/base/data.txt", "base"),
    ),
]


def _hostile_patch(ws: Workspace) -> list[Arg]:
    target = "../" * 12 + str(ws.outside).lstrip("/") + "/patched"
    patch = f"--- /dev/null\n+++ b/{target}\n@@ -0,0 +1 @@\n+evil\n"
    source_recipe(ws, "hostile_patch", tar_bytes([Member("pkg-1.0/README")]))
    (ws.catalog / "hostile_patch/patches").mkdir()
    (ws.catalog / "hostile_patch/patches/evil.patch").write_text(patch)
    return ws.install("hostile_patch")


RECIPES.append(
    Case(
        "patch_dotdot",
        _hostile_patch,
        FAILED,
        ("hostile_patch", "evil.patch", "dangerous file name"),
    ),
)


def _check_link_into_prefix(ws: Workspace, link: str, target: str) -> None:
    assert os.readlink(ws.prefix / link) == str(ws.prefix / target)  # rewritten, absolute
    assert (ws.prefix / link).read_text() == "elf\n"


def _check_no_suid(ws: Workspace, rel: str) -> None:
    mode = os.lstat(ws.prefix / rel).st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID), oct(mode)
    assert mode & stat.S_IXUSR


def _tar_setuid(ws: Workspace) -> list[Arg]:
    archive = tar_bytes(
        [
            Member("pkg-1.0/tool", data=b"#!/bin/sh\n", mode=0o6755),
            Member("pkg-1.0/sticky", "dir", mode=0o3777),
            Member("pkg-1.0/sticky/f"),
        ]
    )
    source_recipe(ws, "tar_setuid", archive)
    return ws.install("tar_setuid")


def _check_tar_setuid(ws: Workspace) -> None:
    for rel in ("share/tar_setuid/tool", "share/tar_setuid/sticky"):
        mode = os.lstat(ws.prefix / rel).st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), (rel, oct(mode))
    assert os.access(ws.prefix / "share/tar_setuid/tool", os.X_OK)


ARCHIVES.append(
    Case(
        "tar_setuid_stripped",
        _tar_setuid,
        0,
        (),
        check=_check_tar_setuid,
        changes=_check_added(
            "share/tar_setuid",
            "share/tar_setuid/tool",
            "share/tar_setuid/sticky",
            "share/tar_setuid/sticky/f",
        ),
    )
)

#: Every case, in a stable order.
CORPUS: list[Case] = [*ARCHIVES, *BROKEN_ARCHIVES, *CHECKSUMS, *WHEELS, *STAGED, *NAMES, *RECIPES]
