"""Writing recipes: a new recipe directory, a new version, checksums from a source file.

The counterpart of the reader for ``mason new``, ``mason update`` and
``mason fix-checksum`` (SageMath's ``sage --package create/update/fix-checksum``). Every
file is written atomically (a temporary file in the same directory, fsync'd, renamed over),
a new recipe appears with one rename of a complete directory, and a source file enters the
upstream cache the same way, so an interrupted command leaves the catalog as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from mason import __version__
from mason.errors import BadInput

TIMEOUT_SECONDS = 30.0
#: the digests ``checksums.ini`` can carry that mason recomputes
DIGESTS = ("sha256", "sha1")
#: the older digests a rewrite drops instead of leaving them stale
STALE = ("md5", "cksum")


class RecipeExists(BadInput):
    """``mason new`` for a name the catalog already has."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"a recipe {path.name} already exists: {path}",
            hint=f"bump it with `mason update {path.name} VERSION`, or pick another name",
        )


class NoTarball(BadInput):
    """The package has no source file to take checksums of."""

    def __init__(self, package: str, recipe: Path) -> None:
        self.package = package
        super().__init__(
            f"{package}: {recipe / 'checksums.ini'} names no tarball (a recipe without sources)",
            hint=f"add a source with `mason update {package} VERSION --source FILE|URL`",
        )


class SourceMissing(BadInput):
    """The source file a recipe names is not in the upstream cache."""

    def __init__(self, package: str, path: Path) -> None:
        self.package = package
        self.path = path
        super().__init__(
            f"{package}: no source file {path}",
            hint=f"put the file there, pass --source FILE|URL, or run `mason download {package}`",
        )


class SourceUnavailable(BadInput):
    """A ``--source`` file or URL could not be read."""

    def __init__(self, source: str, why: str) -> None:
        self.source = source
        super().__init__(f"cannot read source {source}: {why}")


class SourceConflict(BadInput):
    """The upstream cache already holds a different file of the same name."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        super().__init__(
            f"{path} already exists and differs from {source}",
            hint="move the old file away (mason never overwrites a source) and try again",
        )


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "file://"))


def source_basename(source: str) -> str:
    """The file name a ``--source`` path or URL ends with."""
    if is_url(source):
        return urllib.parse.unquote(urllib.parse.urlsplit(source).path.rsplit("/", 1)[-1])
    return Path(source).name


def file_digests(path: Path, algorithms: tuple[str, ...] = DIGESTS) -> dict[str, str]:
    """The hex digests of a file, read once."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def write_text(path: Path, text: str) -> None:
    """Replace ``path``'s content atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_recipe(catalog: Path, name: str, files: Mapping[str, str]) -> Path:
    """Write the recipe directory ``catalog/name`` with ``files``, all at once."""
    target = catalog / name
    if target.exists() or target.is_symlink():
        raise RecipeExists(target)
    catalog.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=catalog, prefix=f".{name}.new-"))
    try:
        for rel, text in files.items():
            (tmp / rel).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o755)
        if target.exists():
            raise RecipeExists(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def rewrite_checksums(text: str, digests: Mapping[str, str], tarball: str | None = None) -> str:
    """``checksums.ini`` with new digests (and tarball), comments and other keys kept.

    Every digest in ``digests`` replaces its line (or is added); ``md5`` and ``cksum``
    lines are dropped, as they would no longer match.
    """
    values = {**digests, **({"tarball": tarball} if tarball else {})}
    out: list[str] = []
    seen: set[str] = set()
    for raw in text.splitlines():
        key = raw.partition("=")[0].strip()
        if key in STALE:
            continue
        if key in values and "=" in raw:
            out.append(f"{key}={values[key]}")
            seen.add(key)
        else:
            out.append(raw)
    out += [f"{key}={value}" for key, value in values.items() if key not in seen]
    return "\n".join(out) + "\n"


def _download(url: str, out: Path) -> None:
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": f"mason/{__version__}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp, out.open("wb") as f:
        shutil.copyfileobj(resp, f, 1 << 20)


def obtain(source: str, upstream: Path, filename: str) -> Path:
    """Copy or download ``source`` into ``upstream/filename`` (kept if it is the same file)."""
    made = not upstream.exists()
    upstream.mkdir(parents=True, exist_ok=True)
    try:
        return _obtain(source, upstream / filename)
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                upstream.rmdir()  # left as it was: absent (unless someone wrote to it meanwhile)
        raise


def _obtain(source: str, target: Path) -> Path:
    upstream, filename = target.parent, target.name
    fd, tmp_name = tempfile.mkstemp(dir=upstream, prefix=f".{filename}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            if is_url(source):
                _download(source, tmp)
            else:
                shutil.copyfile(source, tmp)
        except OSError as e:  # URLError, HTTPError, timeouts and missing files are OSErrors
            raise SourceUnavailable(source, str(e)) from e
        if target.exists():
            if file_digests(target, ("sha256",)) != file_digests(tmp, ("sha256",)):
                raise SourceConflict(target, source)
            return target
        os.chmod(tmp, 0o644)
        os.link(tmp, target)  # no-replace: a file of that name appearing meanwhile stays
        return target
    finally:
        tmp.unlink(missing_ok=True)
