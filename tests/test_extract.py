"""mason.extract on real archives generated here, well-formed and hostile.

Every hostile archive is extracted beside planted sentinel directories; after the
refusal, the whole tree around the destination must be exactly as before and the
destination must not exist.
"""

from __future__ import annotations

import io
import os
import random
import re
import stat
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from mason.extract import (
    ArchiveRejected,
    BadArchive,
    CorruptArchive,
    DestinationExists,
    ExtractFailed,
    UnknownArchiveType,
    extract,
)


@dataclass(frozen=True)
class M:
    """One member of a generated tar: a file, dir, symlink, hard link or special node."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644


def make_tar(path: Path, members: list[M], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type, info.linkname, info.mode = m.type, m.link, m.mode
            info.size = len(m.data) if m.type == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(m.data) if m.type == tarfile.REGTYPE else None)
    return path


def make_zip(path: Path, members: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            zf.writestr(info, data)
    return path


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Everything under ``root``: type and content (or link target) by relative path."""
    out: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", oct(p.stat().st_mode))
            else:
                out[rel] = ("file", p.read_text(errors="replace") + oct(p.stat().st_mode))
    return out


@dataclass
class Area:
    """tmp_path laid out as: archives/, work/ (dest goes here), sentinels in both."""

    root: Path
    archives: Path
    dest: Path
    sentinel: Path

    def archive(self, name: str) -> Path:
        return self.archives / name


@pytest.fixture
def area(tmp_path: Path) -> Area:
    archives, work = tmp_path / "archives", tmp_path / "work"
    for d in (archives, work / "sentinel", tmp_path / "sentinel"):
        d.mkdir(parents=True)
        (d / "canary").write_text("untouched\n")
    return Area(tmp_path, archives, work / "dest", tmp_path / "sentinel")


def assert_refused(
    area: Area, archive: Path, members: list[str], error: type = ArchiveRejected
) -> BadArchive:
    """Extraction fails naming the archive and each member; nothing around it changes."""
    before = snapshot(area.root)
    with pytest.raises(error) as info:
        extract(archive, area.dest)
    msg = str(info.value)
    assert str(archive) in msg
    for member in members:
        assert repr(member) in msg
    assert not area.dest.exists()
    assert snapshot(area.root) == before
    assert isinstance(info.value, ValueError) and info.value.exit_code == 2
    return info.value


# -- well-formed archives ------------------------------------------------------------------


GOOD = [
    M("pkg-1.0/", tarfile.DIRTYPE, mode=0o755),
    M("pkg-1.0/configure", data=b"#!/bin/sh\necho hi\n", mode=0o755),
    M("pkg-1.0/lib/libx.a", data=b"lib"),
    M("pkg-1.0/lib64", tarfile.SYMTYPE, link="lib"),
    M("pkg-1.0/share/doc/README", tarfile.SYMTYPE, link="../../configure"),  # no dir member
    M("pkg-1.0/lib/alias.a", tarfile.LNKTYPE, link="pkg-1.0/lib/libx.a"),
]


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [
        (".tar", "w"),
        (".tar.gz", "w:gz"),
        (".tgz", "w:gz"),
        (".tar.bz2", "w:bz2"),
        (".tbz2", "w:bz2"),
        (".tar.xz", "w:xz"),
        (".txz", "w:xz"),
        (".tar.gz", "w:bz2"),  # mislabelled: read by its content
    ],
)
def test_tar_formats_extract_to_the_single_top_directory(
    area: Area, suffix: str, mode: str
) -> None:
    archive = make_tar(area.archive("pkg-1.0" + suffix), GOOD, mode)
    top = extract(archive, area.dest)
    assert top == area.dest / "pkg-1.0"
    assert (top / "configure").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.access(top / "configure", os.X_OK)
    assert os.readlink(top / "lib64") == "lib"
    assert (top / "lib64" / "libx.a").read_bytes() == b"lib"
    assert (top / "share" / "doc" / "README").read_bytes().startswith(b"#!/bin/sh")
    assert (top / "lib" / "alias.a").stat().st_ino == (top / "lib" / "libx.a").stat().st_ino
    assert sorted(p.name for p in area.dest.parent.iterdir()) == ["dest", "sentinel"]


def test_several_top_level_entries_return_the_directory_itself(area: Area) -> None:
    archive = make_tar(
        area.archive("flat.tar.gz"), [M("./a.txt", data=b"a"), M("./b/c.txt", data=b"c")]
    )
    assert extract(archive, area.dest) == area.dest
    assert (area.dest / "a.txt").read_text() == "a"
    assert (area.dest / "b" / "c.txt").read_text() == "c"


@pytest.mark.parametrize("suffix", [".zip", ".whl"])
def test_zip_and_wheel(area: Area, suffix: str) -> None:
    files = {"pkg/": b"", "pkg/__init__.py": b"x = 1\n", "pkg/run.sh": b"echo\n"}
    archive = make_zip(area.archive("pkg-1.0" + suffix), files, {"pkg/run.sh": 0o100755})
    top = extract(archive, area.dest)
    assert top == area.dest / "pkg"
    assert (top / "__init__.py").read_bytes() == b"x = 1\n"
    assert os.access(top / "run.sh", os.X_OK)
    assert not os.access(top / "__init__.py", os.X_OK)


def test_zip_keeps_member_times(area: Area) -> None:
    archive = area.archive("times.zip")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("pkg/configure.ac", (2001, 2, 3, 4, 5, 6)), b"AC_INIT\n")
        zf.writestr(zipfile.ZipInfo("pkg/configure", (2001, 2, 3, 4, 5, 8)), b"#!/bin/sh\n")
    top = extract(archive, area.dest)
    older, newer = (top / "configure.ac").stat().st_mtime, (top / "configure").stat().st_mtime
    assert time.localtime(older)[:6] == (2001, 2, 3, 4, 5, 6)
    assert newer - older == 2


def test_setuid_setgid_sticky_are_stripped_and_everything_owner_writable(area: Area) -> None:
    archive = make_tar(
        area.archive("modes.tar"),
        [
            M("pkg/", tarfile.DIRTYPE, mode=0o1777),
            M("pkg/suid", data=b"x", mode=0o4755),
            M("pkg/sgid", data=b"x", mode=0o2755),
            M("pkg/readonly", data=b"x", mode=0o444),
            M("pkg/ro-dir/", tarfile.DIRTYPE, mode=0o555),
            M("pkg/ro-dir/f", data=b"x", mode=0o400),
        ],
        "w",
    )
    top = extract(archive, area.dest)
    for p in [top, *top.rglob("*")]:
        mode = p.stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), p
        assert mode & stat.S_IWUSR and mode & stat.S_IRUSR, p
    assert os.access(top / "suid", os.X_OK)
    assert os.access(top / "ro-dir", os.W_OK | os.X_OK)


def test_destination_must_be_fresh(area: Area) -> None:
    archive = make_tar(area.archive("pkg.tar.gz"), GOOD)
    area.dest.mkdir()
    with pytest.raises(DestinationExists, match=re.escape("pkg.tar.gz")):
        extract(archive, area.dest)
    assert list(area.dest.iterdir()) == []


def test_unknown_archive_type(area: Area) -> None:
    archive = area.archive("pkg-1.0.rar")
    archive.write_bytes(b"Rar!")
    assert_refused(area, archive, [], UnknownArchiveType)


# -- hostile tar members -------------------------------------------------------------------


def test_tar_dotdot_member(area: Area) -> None:
    archive = make_tar(
        area.archive("dotdot.tar.gz"),
        [M("pkg/ok.txt", data=b"ok"), M("pkg/../../sentinel/canary", data=b"owned")],
    )
    err = assert_refused(area, archive, ["pkg/../../sentinel/canary"])
    assert "'..' component" in str(err)


def test_tar_absolute_member(area: Area) -> None:
    target = str(area.sentinel / "canary")
    archive = make_tar(area.archive("abs.tar.gz"), [M("pkg/ok.txt"), M(target, data=b"owned")])
    err = assert_refused(area, archive, [target])
    assert "absolute path" in str(err)


def test_tar_write_through_an_outside_symlink(area: Area) -> None:
    archive = make_tar(
        area.archive("through.tar.gz"),
        [
            M("pkg/link", tarfile.SYMTYPE, link=str(area.sentinel)),
            M("pkg/link/canary", data=b"owned"),
        ],
    )
    err = assert_refused(area, archive, ["pkg/link", "pkg/link/canary"])
    assert "absolute symlink" in str(err)
    assert "written through or over the symlink member 'pkg/link'" in str(err)


def test_tar_write_through_a_relative_symlink_leading_out(area: Area) -> None:
    archive = make_tar(
        area.archive("through-rel.tar.gz"),
        [M("pkg/up", tarfile.SYMTYPE, link="../../sentinel"), M("pkg/up/canary", data=b"owned")],
    )
    err = assert_refused(area, archive, ["pkg/up", "pkg/up/canary"])
    assert "leads outside" in str(err)


def test_tar_write_through_even_an_inside_symlink(area: Area) -> None:
    # Only real directories are written into: a link inside is allowed, writing through it is not.
    archive = make_tar(
        area.archive("through-inside.tar"),
        [
            M("pkg/real/", tarfile.DIRTYPE),
            M("pkg/alias", tarfile.SYMTYPE, link="real"),
            M("pkg/alias/f"),
        ],
        "w",
    )
    assert_refused(area, archive, ["pkg/alias/f"])


def test_tar_file_replacing_a_symlink(area: Area) -> None:
    archive = make_tar(
        area.archive("replace.tar"),
        [M("pkg/f", tarfile.SYMTYPE, link="g"), M("pkg/f", data=b"owned")],
        "w",
    )
    assert_refused(area, archive, ["pkg/f"])


@pytest.mark.parametrize("b_first", [True, False], ids=["caught-after", "caught-while"])
def test_tar_symlink_chain_resolving_outside(area: Area, b_first: bool) -> None:
    # Each link alone stays inside by name; together "b" -> "a/.." is the root's parent.
    # With "b" first, "a" does not exist when "b" is written: only the final realpath
    # check sees it. With "a" first, tarfile's data filter refuses "b" already.
    a, b = M("a", tarfile.SYMTYPE, link="."), M("b", tarfile.SYMTYPE, link="a/..")
    archive = make_tar(area.archive("chain.tar"), [b, a] if b_first else [a, b], "w")
    err = assert_refused(area, archive, ["b"])
    assert ("resolves outside" if b_first else "outside the destination") in str(err)


def test_tar_hard_link_to_a_file_outside(area: Area) -> None:
    archive = make_tar(
        area.archive("hardlink-out.tar.gz"),
        [
            M("pkg/h1", tarfile.LNKTYPE, link=str(area.sentinel / "canary")),
            M("pkg/h2", tarfile.LNKTYPE, link="../sentinel/canary"),
        ],
    )
    err = assert_refused(area, archive, ["pkg/h1", "pkg/h2"])
    assert str(err).count("outside the extraction directory") == 2
    assert (area.sentinel / "canary").stat().st_nlink == 1


def test_tar_hard_link_to_a_later_or_missing_member(area: Area) -> None:
    archive = make_tar(
        area.archive("hardlink-order.tar.gz"),
        [
            M("pkg/early", tarfile.LNKTYPE, link="pkg/file"),
            M("pkg/file", data=b"data"),
            M("pkg/ghost", tarfile.LNKTYPE, link="pkg/nothing"),
            M("pkg/sym", tarfile.SYMTYPE, link="file"),
            M("pkg/via-sym", tarfile.LNKTYPE, link="pkg/sym"),
        ],
    )
    err = assert_refused(area, archive, ["pkg/early", "pkg/ghost", "pkg/via-sym"])
    assert "not a regular file extracted before it" in str(err)


@pytest.mark.parametrize(
    ("kind", "type_"),
    [
        ("character device", tarfile.CHRTYPE),
        ("block device", tarfile.BLKTYPE),
        ("fifo", tarfile.FIFOTYPE),
    ],
)
def test_tar_special_members(area: Area, kind: str, type_: bytes) -> None:
    archive = make_tar(area.archive("special.tar.gz"), [M("pkg/ok"), M("pkg/node", type_)])
    err = assert_refused(area, archive, ["pkg/node"])
    assert f"{kind} members are not allowed" in str(err)


def test_tar_name_too_long_for_the_filesystem(area: Area) -> None:
    name = "pkg/" + "a" * 300
    archive = make_tar(area.archive("long.tar.gz"), [M("pkg/ok"), M(name, data=b"x")])
    err = assert_refused(area, archive, [name])
    assert "file name too long for the filesystem (300 > 255 bytes)" in str(err)


def test_tar_members_that_conflict(area: Area) -> None:
    archive = make_tar(area.archive("conflict.tar"), [M("pkg/a", data=b"x"), M("pkg/a/b")], "w")
    err = assert_refused(area, archive, ["pkg/a/b"])
    assert "conflicts with an earlier member (Not a directory)" in str(err)


def test_every_problem_is_reported_at_once(area: Area) -> None:
    archive = make_tar(
        area.archive("many.tar.gz"),
        [M("/etc/x"), M("../y"), M("pkg/fifo", tarfile.FIFOTYPE), M("pkg/fine")],
    )
    err = assert_refused(area, archive, ["/etc/x", "../y", "pkg/fifo"])
    assert isinstance(err, ArchiveRejected)
    assert [p.member for p in err.problems] == ["/etc/x", "../y", "pkg/fifo"]


# -- hostile zip entries --------------------------------------------------------------------


def test_zip_dotdot_entries(area: Area) -> None:
    archive = make_zip(area.archive("dotdot.zip"), {"pkg/ok": b"", "../sentinel/canary": b"owned"})
    assert_refused(area, archive, ["../sentinel/canary"])


def test_zip_absolute_entries(area: Area) -> None:
    target = str(area.sentinel / "canary")
    archive = make_zip(area.archive("abs.whl"), {"pkg/ok": b"", target: b"owned"})
    err = assert_refused(area, archive, [target])
    assert "absolute path" in str(err)


def test_zip_symlink_entries(area: Area) -> None:
    archive = make_zip(area.archive("link.zip"), {"pkg/l": b"/etc"}, {"pkg/l": 0o120777})
    assert_refused(area, archive, ["pkg/l"])


def test_zip_encrypted_entries(area: Area) -> None:
    archive = make_zip(area.archive("secret.zip"), {"pkg/secret": b"not really encrypted"})
    raw = bytearray(archive.read_bytes())
    # zipfile never writes encrypted entries: set bit 0 of the flags in both headers.
    raw[raw.index(b"PK\x03\x04") + 6] |= 0x1
    raw[raw.index(b"PK\x01\x02") + 8] |= 0x1
    archive.write_bytes(bytes(raw))
    err = assert_refused(area, archive, ["pkg/secret"])
    assert "encrypted members are not allowed" in str(err)


def test_zip_name_too_long(area: Area) -> None:
    name = "pkg/" + "b" * 300
    archive = make_zip(area.archive("long.zip"), {name: b"x"})
    assert_refused(area, archive, [name])


# -- broken archives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".tar", "w"), (".tar.gz", "w:gz"), (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")],
)
def test_truncated_tar(area: Area, suffix: str, mode: str) -> None:
    payload = os.urandom(64 * 1024)
    full = make_tar(
        area.archive("full" + suffix), [M("pkg/a", data=payload), M("pkg/b", data=payload)], mode
    )
    cut = area.archive("cut" + suffix)
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 3 // 4])
    full.unlink()
    err = assert_refused(area, cut, [], CorruptArchive)
    assert "corrupt or truncated archive" in str(err)


def test_truncated_zip(area: Area) -> None:
    full = make_zip(area.archive("full.zip"), {"pkg/a": os.urandom(10_000)})
    cut = area.archive("cut.zip")
    cut.write_bytes(full.read_bytes()[:5000])
    assert_refused(area, cut, [], CorruptArchive)


def test_corrupt_member_data_in_zip(area: Area) -> None:
    data = b"A" * 5000
    archive = make_zip(area.archive("bad.zip"), {"pkg/a": data})  # stored, not deflated
    raw = bytearray(archive.read_bytes())
    raw[raw.index(data) + 100] ^= 0xFF
    archive.write_bytes(bytes(raw))
    err = assert_refused(area, archive, ["pkg/a"], CorruptArchive)
    assert "Bad CRC-32" in str(err)


def test_not_an_archive_at_all(area: Area) -> None:
    junk = area.archive("pkg-1.0.tar.gz")
    junk.write_bytes(b"<html>404 Not Found</html>\n")
    assert_refused(area, junk, [], CorruptArchive)


def test_destination_gets_the_umask_permissions(area: Area) -> None:
    archive = make_tar(area.archive("flat.tar"), [M("a.txt", data=b"a"), M("b.txt")], "w")
    old = os.umask(0o027)
    try:
        extract(archive, area.dest)
    finally:
        os.umask(old)
    assert stat.S_IMODE(area.dest.stat().st_mode) == 0o750


def test_non_utf8_member_names(area: Area) -> None:
    name = os.fsdecode(b"pkg/caf\xe9.txt")  # latin-1 name, as old tarballs have
    archive = make_tar(area.archive("latin1.tar"), [M(name, data=b"x")], "w")
    top = extract(archive, area.dest)
    assert (top / os.fsdecode(b"caf\xe9.txt")).read_bytes() == b"x"


# -- random archives: whatever happens, nothing escapes ------------------------------------

_PARTS = ["a", "b", "c", "pkg", "a", "b", "..", ".", ""]


def _random_path(rng: random.Random, area: Area) -> str:
    if rng.random() < 0.05:
        return str(area.sentinel / rng.choice(["canary", "new"]))
    return "/".join(rng.choice(_PARTS) for _ in range(rng.randint(1, 4))) or "a"


def _random_member(rng: random.Random, area: Area) -> M:
    name = _random_path(rng, area)
    kind = rng.choice([tarfile.REGTYPE] * 4 + [tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE])
    if rng.random() < 0.03:
        kind = rng.choice([tarfile.FIFOTYPE, tarfile.CHRTYPE])
    link = _random_path(rng, area) if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    mode = rng.choice([0o644, 0o755, 0o4755, 0o2755, 0o1777, 0o000, 0o444])
    return M(name, kind, data=b"owned" if kind == tarfile.REGTYPE else b"", link=link, mode=mode)


def _assert_contained(dest: Path) -> None:
    real = os.path.realpath(dest)
    for p in [dest, *dest.rglob("*")]:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            assert os.path.realpath(p).startswith(real + os.sep) or os.path.realpath(p) == real
            continue
        assert stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode), p
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), p
        assert st.st_mode & stat.S_IRUSR and st.st_mode & stat.S_IWUSR, p


def _fuzz(area: Area, seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    outcomes = {"extracted": 0, "refused": 0}
    for i in range(rounds):
        members = [_random_member(rng, area) for _ in range(rng.randint(1, 6))]
        archive = make_tar(area.archive(f"fuzz{i}.tar"), members, "w")
        dest = area.dest.with_name(f"dest{i}")
        before = snapshot(area.sentinel)
        try:
            extract(archive, dest)
        except (BadArchive, ExtractFailed) as e:
            assert not isinstance(e, ExtractFailed), e  # nothing here is the disk's fault
            assert not dest.exists()
            outcomes["refused"] += 1
        else:
            _assert_contained(dest)
            outcomes["extracted"] += 1
        assert snapshot(area.sentinel) == before
        assert sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(".")) == []
    assert outcomes["extracted"] > rounds // 20 and outcomes["refused"] > rounds // 20


def test_random_archives_never_escape(area: Area) -> None:
    _fuzz(area, seed=0, rounds=150)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 11))
def test_random_archives_never_escape_stress(area: Area, seed: int) -> None:
    _fuzz(area, seed=seed, rounds=1000)
