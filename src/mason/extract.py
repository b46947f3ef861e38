"""Safe extraction of source archives: tar (plain, gz, bz2, xz) and zip (and wheels).

An archive is extracted into a fresh directory, all or nothing: members go into a hidden
temporary directory beside the destination, which is renamed onto it only when every
member is in and checked. On any error the temporary directory is removed and the
destination does not exist.

Three layers keep a broken or hostile archive inside its directory:

1. Before anything is written, every member is checked and every problem is collected
   (raised at once as :class:`ArchiveRejected`): absolute names, ``..`` components,
   names too long for the filesystem, symlinks that are absolute or lead out of the
   directory, members written through (or replacing) a symlink member, hard links to
   anything but a regular file extracted before them, device nodes, fifos and other
   special members.
2. Tar members are written by :mod:`tarfile` with its ``"data"`` filter
   (:mod:`mason.tarfilter`: also on Python 3.11.0-3.11.3, which lack it), which again
   refuses paths and links resolving outside the directory on the real filesystem, and
   drops owners. Zip members are written by mason itself with ``O_NOFOLLOW | O_EXCL``.
3. After writing, every symlink must resolve (``realpath``) inside the directory, which
   catches chains of individually harmless links; and every file and directory loses
   setuid/setgid/sticky bits and becomes owner-readable and -writable (directories also
   owner-searchable), the umask applied (:mod:`mason.modes`, the staged trees' policy
   too), so nothing is privileged and uninstall can always delete.

Symlinks and encrypted entries in zip archives are refused (wheels never contain them).
Zip members keep their times, as tar members do, so ``make`` sees sources in order.
"""

from __future__ import annotations

import errno
import lzma
import os
import secrets
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from mason import tarfilter
from mason.archive_errors import (
    ArchiveRejected,
    BadArchive,
    CorruptArchive,
    DestinationExists,
    ExtractFailed,
    Problem,
)
from mason.archive_members import Member as _Member
from mason.archive_members import clean_name as _clean_name
from mason.archive_members import reject_if_any as _reject_if_any
from mason.errors import DiskFull, MasonError, disk_full_is_typed, is_disk_full
from mason.modes import process_umask, sane_mode

ArchiveFormat = Literal["tar", "zip"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_ZIP_SUFFIXES = (".zip", ".whl")
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


class UnknownArchiveType(BadArchive):
    """The file name does not end in a suffix mason knows how to extract."""

    def __init__(self, archive: Path):
        self.archive = archive
        known = ", ".join(_TAR_SUFFIXES + _ZIP_SUFFIXES)
        super().__init__(f"{archive}: unknown archive type (known: {known})")


def archive_format(archive: Path) -> ArchiveFormat:
    """``tar`` or ``zip`` from the file name; :class:`UnknownArchiveType` otherwise."""
    name = archive.name.lower()
    if name.endswith(_TAR_SUFFIXES):
        return "tar"
    if name.endswith(_ZIP_SUFFIXES):
        return "zip"
    raise UnknownArchiveType(archive)


def extract(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` into the new directory ``dest``, all or nothing.

    ``dest`` must not exist; its parent must. Returns the single top-level directory
    of the archive if it has exactly one entry and that is a directory (the caller
    renames it, e.g. to ``src``), else ``dest``. Raises :class:`ArchiveRejected`,
    :class:`CorruptArchive`, :class:`UnknownArchiveType`, :class:`DestinationExists` or
    :class:`ExtractFailed`; in each case ``dest`` is not created.
    """
    fmt = archive_format(archive)
    if dest.exists() or dest.is_symlink():
        raise DestinationExists(archive, dest)
    tmp = _fresh_dir_beside(dest)
    try:
        if fmt == "tar":
            _extract_tar(archive, tmp)
        else:
            _extract_zip(archive, tmp)
        _check_symlinks(archive, tmp)
        _sanitize_modes(tmp)
        os.rename(tmp, dest)
    except BaseException:
        _remove_tree(tmp)
        raise
    return _single_top(dest)


def _fresh_dir_beside(dest: Path) -> Path:
    """A new hidden directory next to ``dest``, created with the umask's permissions."""
    while True:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.extracting")
        try:
            with disk_full_is_typed(dest.parent, f"creating {tmp}"):
                tmp.mkdir()
        except FileExistsError:
            continue
        return tmp


def _single_top(dest: Path) -> Path:
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


# -- tar ----------------------------------------------------------------------------------


def _tar_member(info: tarfile.TarInfo) -> _Member:
    if info.isdir():
        return _Member(info.name, "dir")
    if info.isreg():
        return _Member(info.name, "file")
    if info.issym():
        return _Member(info.name, "symlink", link=info.linkname)
    if info.islnk():
        return _Member(info.name, "hardlink", link=info.linkname)
    special = {
        tarfile.CHRTYPE: "character device",
        tarfile.BLKTYPE: "block device",
        tarfile.FIFOTYPE: "fifo",
    }.get(info.type, f"type {info.type!r}")
    return _Member(info.name, "special", special=special)


_TarMode = Literal["r:", "r:gz", "r:bz2", "r:xz"]
_TAR_MODES: dict[str, _TarMode] = {".gz": "r:gz", ".tgz": "r:gz", ".xz": "r:xz", ".txz": "r:xz"}
_TAR_MODES |= {".bz2": "r:bz2", ".tbz2": "r:bz2", ".tbz": "r:bz2", ".tar": "r:"}


def _open_tar(archive: Path) -> tarfile.TarFile:
    # "r:*" also reads a mislabelled tarball; when nothing works, the error of the
    # compression the suffix names is the one worth showing.
    try:
        return tarfile.open(archive, "r:*")
    except _CORRUPT as e:
        detail = str(e) or type(e).__name__
    try:
        tarfile.open(archive, _TAR_MODES[archive.suffix.lower()]).close()
    except _CORRUPT as e:
        detail = str(e) or type(e).__name__
    raise CorruptArchive(archive, None, detail)


def _extract_tar(archive: Path, root: Path) -> None:
    with _open_tar(archive) as tf:
        infos = _read_members(archive, tf)
        _reject_if_any(archive, [_tar_member(i) for i in infos], root)
        size = sum(i.size for i in infos if i.isreg())
        for info in infos:
            if _clean_name(info.name):
                _extract_tar_member(archive, tf, info, root, size)


def _read_members(archive: Path, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    try:
        return tf.getmembers()
    except _CORRUPT as e:
        read: list[tarfile.TarInfo] = getattr(tf, "members", [])  # those read before the error
        last = read[-1].name if read else None
        raise CorruptArchive(archive, last, str(e) or type(e).__name__) from e


def _extract_tar_member(
    archive: Path, tf: tarfile.TarFile, info: tarfile.TarInfo, root: Path, size: int
) -> None:
    try:
        if info.islnk() or info.issym():
            _make_link(info, root)
        else:
            tarfilter.extract(tf, info, str(root))
    except tarfilter.Refused as e:
        raise ArchiveRejected(archive, [Problem(info.name, str(e))]) from e
    except _CORRUPT as e:
        raise CorruptArchive(archive, info.name, str(e) or type(e).__name__) from e
    except OSError as e:
        raise _os_error(archive, info.name, e, size, root) from e


def _make_link(info: tarfile.TarInfo, root: Path) -> None:
    """Create a (checked) symlink or hard link member, replacing a non-directory.

    Done here rather than by tarfile: when making a link fails, tarfile falls back to
    copying the member the link names, found by name, and on repeated names that
    search can recurse without end.
    """
    tarfilter.checked(info, str(root))  # the second layer, as for other members
    path = root / _clean_name(info.name)
    path.parent.mkdir(parents=True, exist_ok=True)  # no symlink among them: checked
    if path.is_symlink() or path.is_file():
        path.unlink()
    if info.issym():
        os.symlink(info.linkname, path)
        return
    target = root / _clean_name(info.linkname)
    try:
        os.link(target, path, follow_symlinks=False)
    except PermissionError:  # a filesystem without hard links: a copy does the same job
        shutil.copy2(target, path, follow_symlinks=False)


# The extraction directory is private: these come from the archive's own members
# (a file where a directory is needed, a directory where a link goes, ...).
_MEMBER_CONFLICTS = (errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY, errno.ELOOP)


def _os_error(archive: Path, member: str, e: OSError, size: int, root: Path) -> MasonError:
    if is_disk_full(e):
        return DiskFull(root, what=f"extracting {archive.name}", needed=size)
    if e.errno == errno.ENAMETOOLONG:
        return ArchiveRejected(archive, [Problem(member, "name too long for the filesystem")])
    if e.errno in _MEMBER_CONFLICTS:
        reason = f"conflicts with an earlier member ({e.strerror})"
        return ArchiveRejected(archive, [Problem(member, reason)])
    if e.errno is None:  # raised by a decompressor (bz2: "Invalid data stream")
        return CorruptArchive(archive, member, str(e))
    return ExtractFailed(archive, member, e)


# -- zip ----------------------------------------------------------------------------------


def _zip_member(info: zipfile.ZipInfo) -> _Member:
    # Many zips store permission bits without a file type: those are regular files.
    kind = stat.S_IFMT(info.external_attr >> 16)
    if info.flag_bits & 0x1:
        return _Member(info.filename, "special", special="encrypted")
    if info.is_dir():
        return _Member(info.filename, "dir")
    if kind == stat.S_IFLNK:
        return _Member(info.filename, "special", special="symlink (in a zip archive)")
    if kind not in (0, stat.S_IFREG):
        return _Member(info.filename, "special", special=f"file type {kind:o}")
    return _Member(info.filename, "file")


def _extract_zip(archive: Path, root: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (*_CORRUPT, OSError) as e:
        raise CorruptArchive(archive, None, str(e)) from e
    with zf:
        infos = zf.infolist()
        _reject_if_any(archive, [_zip_member(i) for i in infos], root)
        size = sum(i.file_size for i in infos)
        for info in infos:
            name = _clean_name(info.filename)
            if name:
                _extract_zip_member(archive, zf, info, root / name, size)


def _extract_zip_member(
    archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, size: int
) -> None:
    try:
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
        with zf.open(info) as src, os.fdopen(os.open(target, flags, mode), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        _set_mtime(target, info.date_time)
    except (*_CORRUPT, NotImplementedError) as e:  # NotImplementedError: compression method
        raise CorruptArchive(archive, info.filename, str(e)) from e
    except OSError as e:
        raise _os_error(archive, info.filename, e, size, target.parent) from e


def _set_mtime(target: Path, date_time: tuple[int, int, int, int, int, int]) -> None:
    """Keep the member's time, as tar does, so ``make`` sees sources in their order."""
    try:
        t = time.mktime((*date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return
    os.utime(target, (t, t))


# -- after writing ------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            yield Path(dirpath, name)


def _check_symlinks(archive: Path, root: Path) -> None:
    """Every extracted symlink must resolve inside ``root`` (catches chains of links)."""
    real_root = os.path.realpath(root)
    bad = [
        Problem(
            str(p.relative_to(root)), f"symlink resolves outside the directory ({os.readlink(p)})"
        )
        for p in _walk(root)
        if p.is_symlink() and not _inside(os.path.realpath(p), real_root)
    ]
    if bad:
        raise ArchiveRejected(archive, bad)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _sanitize_modes(root: Path) -> None:
    """The permissions of :func:`mason.modes.sane_mode` on everything but symlinks."""
    umask = process_umask()
    for path in (root, *_walk(root)):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = sane_mode(st.st_mode, is_dir=stat.S_ISDIR(st.st_mode), umask=umask)
        if mode != stat.S_IMODE(st.st_mode):
            os.chmod(path, mode)


def _remove_tree(root: Path) -> None:
    """Remove a partial extraction, even one with read-only directories."""
    for path in _dirs(root):
        os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(root, ignore_errors=True)


def _dirs(root: Path) -> Iterable[Path]:
    """``root`` and its real sub-directories, each yielded before it is listed."""
    yield root
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = Path(dirpath, d)
            if not p.is_symlink():
                yield p


__all__ = [
    "ArchiveFormat",
    "ArchiveRejected",
    "BadArchive",
    "CorruptArchive",
    "DestinationExists",
    "ExtractFailed",
    "Problem",
    "UnknownArchiveType",
    "archive_format",
    "extract",
]
