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
2. Tar members are written by :mod:`tarfile` with its ``"data"`` filter, which again
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
import posixpath
import secrets
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mason.errors import BadInput, MasonError
from mason.modes import process_umask, sane_mode

ArchiveFormat = Literal["tar", "zip"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_ZIP_SUFFIXES = (".zip", ".whl")
_NAME_MAX_FALLBACK = 255
_PATH_MAX = 4096
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


@dataclass(frozen=True)
class Problem:
    """One member an archive may not have, and why."""

    member: str
    reason: str


class BadArchive(BadInput):
    """An archive mason will not extract. ``archive`` is its path."""

    archive: Path


class ArchiveRejected(BadArchive):
    """The archive has unsafe or unextractable members; ``problems`` lists every one."""

    def __init__(self, archive: Path, problems: Sequence[Problem]):
        self.archive = archive
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p.member!r}: {p.reason}" for p in self.problems)
        super().__init__(
            f"{archive}: refusing to extract, unsafe members:\n{lines}",
            hint="the archive is broken or hostile; get the source from its upstream again",
        )


class CorruptArchive(BadArchive):
    """The archive cannot be read: truncated, corrupt, or not an archive at all."""

    def __init__(self, archive: Path, member: str | None, detail: str):
        self.archive = archive
        self.member = member
        self.detail = detail
        where = f" near member {member!r}" if member else ""
        super().__init__(
            f"{archive}: corrupt or truncated archive{where}: {detail}",
            hint="delete it from the upstream cache and fetch it again",
        )


class UnknownArchiveType(BadArchive):
    """The file name does not end in a suffix mason knows how to extract."""

    def __init__(self, archive: Path):
        self.archive = archive
        known = ", ".join(_TAR_SUFFIXES + _ZIP_SUFFIXES)
        super().__init__(f"{archive}: unknown archive type (known: {known})")


class ExtractFailed(MasonError):
    """Writing a member failed for a reason outside the archive (disk full, permissions)."""

    def __init__(self, archive: Path, member: str, error: OSError):
        self.archive = archive
        self.member = member
        self.error = error
        super().__init__(f"{archive}: cannot extract member {member!r}: {error.strerror or error}")


class DestinationExists(BadInput):
    """Extraction needs a fresh directory, and ``dest`` is already there."""

    def __init__(self, archive: Path, dest: Path):
        self.archive = archive
        self.dest = dest
        super().__init__(f"cannot extract {archive.name}: {dest} already exists")


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
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp


def _single_top(dest: Path) -> Path:
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest


# -- member checks, shared by tar and zip ------------------------------------------------


def _clean_name(raw: str) -> str:
    """The member's path without ``.`` and empty components ("" for the root itself)."""
    return "/".join(c for c in raw.split("/") if c not in ("", "."))


def _name_max(root: Path) -> int:
    try:
        return os.pathconf(root, "PC_NAME_MAX")
    except (OSError, ValueError):
        return _NAME_MAX_FALLBACK


def _name_problem(raw: str, name_max: int) -> str | None:
    """Why the member name itself is unacceptable, or None."""
    if raw.startswith("/"):
        return "absolute path"
    parts = raw.split("/")
    if ".." in parts:
        return "'..' component leads outside the extraction directory"
    if "\0" in raw:
        return "NUL byte in name"
    if len(os.fsencode(raw)) > _PATH_MAX:
        return f"path too long for the filesystem ({len(os.fsencode(raw))} bytes)"
    for part in parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return f"file name too long for the filesystem ({size} > {name_max} bytes)"
    return None


def _link_problem(name: str, target: str) -> str | None:
    """Why a symlink ``name -> target`` may lead outside, or None."""
    if target.startswith("/"):
        return f"absolute symlink to {target}"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"symlink to {target} leads outside the extraction directory"
    return None


def _through_symlink(name: str, symlinks: set[str]) -> str | None:
    """The symlink member that ``name`` would be written through or over, if any."""
    parts = name.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if prefix in symlinks:
            return prefix
    return None


MemberKind = Literal["dir", "file", "symlink", "hardlink", "special"]


@dataclass(frozen=True)
class _Member:
    raw: str
    kind: MemberKind
    link: str = ""
    special: str = ""


def _problems(members: Sequence[_Member], name_max: int) -> list[Problem]:
    """Every problem of the archive's members, in archive order."""
    symlinks = {_clean_name(m.raw) for m in members if m.kind == "symlink"}
    files_before: set[str] = set()
    found: list[Problem] = []
    for m in members:
        reason = _member_problem(m, name_max, symlinks, files_before)
        if reason:
            found.append(Problem(m.raw, reason))
        elif m.kind == "file":
            files_before.add(_clean_name(m.raw))
        else:  # a later member of the same name replaces the file
            files_before.discard(_clean_name(m.raw))
    return found


def _member_problem(
    m: _Member, name_max: int, symlinks: set[str], files_before: set[str]
) -> str | None:
    reason = _name_problem(m.raw, name_max)
    if reason:
        return reason
    name = _clean_name(m.raw)
    if m.kind == "special":
        return f"{m.special} members are not allowed"
    via = _through_symlink(name, symlinks - {name} if m.kind == "symlink" else symlinks)
    if via is not None:
        return f"written through or over the symlink member {via!r}"
    if m.kind == "symlink":
        return _link_problem(name, m.link)
    if m.kind == "hardlink":
        return _hardlink_problem(m.link, files_before)
    return None


def _hardlink_problem(target: str, files_before: set[str]) -> str | None:
    if target.startswith("/") or ".." in target.split("/"):
        return f"hard link to {target} outside the extraction directory"
    if _clean_name(target) not in files_before:
        return f"hard link to {target}, which is not a regular file extracted before it"
    return None


def _reject_if_any(archive: Path, members: Sequence[_Member], root: Path) -> None:
    problems = _problems(members, _name_max(root))
    if problems:
        raise ArchiveRejected(archive, problems)


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
        for info in infos:
            if _clean_name(info.name):
                _extract_tar_member(archive, tf, info, root)


def _read_members(archive: Path, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    try:
        return tf.getmembers()
    except _CORRUPT as e:
        read: list[tarfile.TarInfo] = getattr(tf, "members", [])  # those read before the error
        last = read[-1].name if read else None
        raise CorruptArchive(archive, last, str(e) or type(e).__name__) from e


def _extract_tar_member(
    archive: Path, tf: tarfile.TarFile, info: tarfile.TarInfo, root: Path
) -> None:
    try:
        if info.islnk() or info.issym():
            _make_link(info, root)
        else:
            tf.extract(info, root, filter="data")
    except tarfile.FilterError as e:
        raise ArchiveRejected(archive, [Problem(info.name, str(e))]) from e
    except _CORRUPT as e:
        raise CorruptArchive(archive, info.name, str(e) or type(e).__name__) from e
    except OSError as e:
        raise _os_error(archive, info.name, e) from e


def _make_link(info: tarfile.TarInfo, root: Path) -> None:
    """Create a (checked) symlink or hard link member, replacing a non-directory.

    Done here rather than by tarfile: when making a link fails, tarfile falls back to
    copying the member the link names, found by name, and on repeated names that
    search can recurse without end.
    """
    tarfile.data_filter(info, str(root))  # the second layer, as for other members
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


def _os_error(archive: Path, member: str, e: OSError) -> BadArchive | ExtractFailed:
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
        for info in infos:
            name = _clean_name(info.filename)
            if name:
                _extract_zip_member(archive, zf, info, root / name)


def _extract_zip_member(
    archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path
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
        raise _os_error(archive, info.filename, e) from e


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
