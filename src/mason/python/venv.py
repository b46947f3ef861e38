"""The venv Python packages install into (SPEC section 6).

``ensure_venv`` creates the venv once (stdlib ``venv``, no pip: mason installs wheels
itself), asks its interpreter once where each install scheme lives, and caches the answer
in ``var/lib/mason/venv.json`` of the venv (or of the prefix holding it). The cache is
keyed by the bytes of ``pyvenv.cfg``, so a venv re-made with another interpreter is asked
again.

Two processes calling ``ensure_venv`` at once are serialized by an exclusive ``flock`` on
``var/lock/mason-venv.lock`` beside it; the loser finds the venv made and just reads it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv as stdlib_venv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from mason.errors import disk_full_is_typed
from mason.layout import VENV_CACHE, VENV_LOCK
from mason.python.errors import VenvError

SchemeName = Literal["purelib", "platlib", "scripts", "data", "headers"]
SCHEME_NAMES: tuple[SchemeName, ...] = ("purelib", "platlib", "scripts", "data", "headers")

CACHE_FILE = Path(VENV_CACHE)
LOCK_FILE = Path(VENV_LOCK)
CACHE_VERSION = 2

# Run by the venv's own interpreter: where its schemes are, in its own opinion. Headers
# follow pip's venv layout (include/site/pythonX.Y/<dist>); sysconfig's "include" is the
# base interpreter's, where nothing may be installed.
# The wheel tags it accepts come from mason's own `packaging` (pure Python, put first on
# the path just for this): a venv has no packages of its own yet.
_QUERY = """
import json, sys, sysconfig
p = sysconfig.get_paths()
v = sys.version_info
try:
    sys.path.insert(0, PACKAGING_DIR)
    from packaging import tags
    supported = [str(t) for t in tags.sys_tags()]
except Exception:
    supported = None
print(json.dumps({
    "version": [v.major, v.minor],
    "cache_tag": sys.implementation.cache_tag,
    "purelib": p["purelib"], "platlib": p["platlib"],
    "scripts": p["scripts"], "data": p["data"],
    "headers": sys.prefix + "/include/site/python%d.%d" % (v.major, v.minor),
    "tags": supported,
}))
"""


class VenvCache(TypedDict):
    """On-disk form of ``venv.json`` (version ``CACHE_VERSION``)."""

    format: int
    pyvenv_cfg_sha256: str
    version: list[int]
    cache_tag: str
    schemes: dict[str, str]
    tags: list[str] | None


@dataclass(frozen=True)
class SchemePaths:
    """The install schemes of a venv, as paths relative to its root."""

    purelib: Path
    platlib: Path
    scripts: Path
    data: Path
    headers: Path

    def get(self, name: SchemeName) -> Path:
        """The relative path of scheme ``name``."""
        path: Path = getattr(self, name)
        return path


@dataclass(frozen=True)
class Venv:
    """A ready venv: its interpreter and where each install scheme lives.

    ``relative`` holds the scheme paths relative to ``root``; :meth:`scheme` gives them
    absolute. ``cache_tag`` (``cpython-311``) names the byte-code files. ``tags`` are the
    wheel tags the interpreter accepts, best first (``None``: unknown, accept any wheel).
    """

    root: Path
    python: Path
    version: tuple[int, int]
    cache_tag: str
    relative: SchemePaths
    tags: tuple[str, ...] | None = field(default=None, repr=False)

    def accepts(self, wheel_tags: Iterable[str]) -> bool:
        """Whether a wheel with any of ``wheel_tags`` (``py3-none-any``) can run here."""
        if self.tags is None:
            return True
        return not set(self.tags).isdisjoint(wheel_tags)

    def scheme(self, name: SchemeName) -> Path:
        """The absolute path of scheme ``name``."""
        return self.root / self.relative.get(name)

    @property
    def site_packages(self) -> Path:
        """The absolute purelib directory (``lib/pythonX.Y/site-packages``)."""
        return self.scheme("purelib")


def ensure_venv(path: Path, python: str | None = None, *, state: Path | None = None) -> Venv:
    """Return the venv at ``path``, creating it with ``python`` (default: this one) if needed.

    Idempotent and safe when several processes call it at once. An existing venv made with
    another Python version than ``python`` is an error, never silently replaced. mason's
    cache and lock file live under ``state`` (default: the venv; the prefix when the venv
    is a directory inside it, so that they stay in the prefix's bookkeeping).
    """
    root = path.absolute()
    keep = state.absolute() if state is not None else root
    found = _load(root, keep)
    if found is None:
        with _venv_lock(keep):
            found = _load(root, keep)
            if found is None:
                found = _make(root, python, keep)
    if python is not None:
        _check_version(found, python)
    return found


def _make(root: Path, python: str | None, state: Path) -> Venv:
    if not (root / "pyvenv.cfg").is_file() or not _bin_python(root).exists():
        _create(root, python)
    schemes = _query_schemes(root)
    _write_cache(state, schemes)
    return _from_cache(root, schemes)


def _bin_python(root: Path) -> Path:
    return root / "bin" / "python"


def _create(root: Path, python: str | None) -> None:
    exe = resolve_python(root, python) if python is not None else None
    if exe is None or is_running_python(exe):
        try:
            with disk_full_is_typed(root, "creating the venv"):
                stdlib_venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
        except (OSError, ValueError) as e:  # ValueError: the path exists and is no directory
            raise VenvError(root, f"cannot create it: {e}") from e
        return
    run_checked(root, [exe, "-m", "venv", "--without-pip", str(root)], "cannot create it")


def resolve_python(root: Path, python: str) -> str:
    exe = shutil.which(python)
    if exe is None:
        raise VenvError(
            root,
            f"interpreter {python!r} not found",
            hint="pass --python as a path or a command on PATH",
        )
    return exe


def is_running_python(exe: str) -> bool:
    running = getattr(sys, "_base_executable", sys.executable)
    return os.path.realpath(exe) == os.path.realpath(running)


def run_checked(root: Path, command: list[str], what: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as e:
        raise VenvError(root, f"{what}: {command[0]}: {e}") from e
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise VenvError(root, f"{what}: {' '.join(command)} exited {done.returncode}\n{tail}")
    return done.stdout


def _query_schemes(root: Path) -> VenvCache:
    if _made_by_this_python(root):
        raw = _ask_here(root)
    else:
        query = f"PACKAGING_DIR = {_packaging_dir()!r}\n{_QUERY}"
        out = run_checked(
            root, [str(_bin_python(root)), "-I", "-c", query], "cannot ask its interpreter"
        )
        raw = json.loads(out)
    schemes: dict[str, str] = {}
    for name in SCHEME_NAMES:
        schemes[name] = str(_relative_to_root(root, Path(raw[name]), name))
    return VenvCache(
        format=CACHE_VERSION,
        pyvenv_cfg_sha256=_cfg_digest(root),
        version=[int(x) for x in raw["version"]],
        cache_tag=str(raw["cache_tag"]),
        schemes=schemes,
        tags=raw.get("tags"),
    )


def _made_by_this_python(root: Path) -> bool:
    """Whether ``pyvenv.cfg`` names the interpreter running mason (same binary, version)."""
    try:
        lines = (root / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return False
    cfg = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in lines)}
    running = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    exe = cfg.get("executable")
    return (
        exe is not None
        and os.path.realpath(exe) == running
        and cfg.get("version") == platform.python_version()
    )


def _ask_here(root: Path) -> dict[str, Any]:
    """What :data:`_QUERY` answers, computed in this process for a venv of this very
    interpreter (the 'venv' install scheme, which a venv's interpreter uses): a fresh
    prefix is then ready without starting a Python."""
    from packaging import tags

    v = sys.version_info
    where = {"base": str(root), "platbase": str(root)}
    where |= {"installed_base": str(root), "installed_platbase": str(root)}
    paths = sysconfig.get_paths(scheme="venv", vars=where)
    return {
        "version": [v.major, v.minor],
        "cache_tag": sys.implementation.cache_tag,
        **{name: paths[name] for name in ("purelib", "platlib", "scripts", "data")},
        "headers": f"{root}/include/site/python{v.major}.{v.minor}",
        "tags": [str(t) for t in tags.sys_tags()],
    }


def _packaging_dir() -> str:
    import packaging

    return str(Path(packaging.__file__).parent.parent)


def _relative_to_root(root: Path, where: Path, name: str) -> Path:
    # The interpreter may see the venv through resolved symlinks (/tmp -> /private/tmp).
    for base in (root, root.resolve()):
        if where.is_relative_to(base):
            return where.relative_to(base)
    raise VenvError(root, f"its {name} scheme {where} is outside the venv")


def _cfg_digest(root: Path) -> str:
    try:
        return hashlib.sha256((root / "pyvenv.cfg").read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def _load(root: Path, state: Path) -> Venv | None:
    try:
        cache = cast(VenvCache, json.loads((state / CACHE_FILE).read_text()))
    except (OSError, ValueError):
        return None
    if cache.get("format") != CACHE_VERSION or cache.get("pyvenv_cfg_sha256") != _cfg_digest(root):
        return None
    if not _bin_python(root).exists():
        return None
    return _from_cache(root, cache)


def _from_cache(root: Path, cache: VenvCache) -> Venv:
    major, minor = cache["version"]
    paths = {name: Path(cache["schemes"][name]) for name in SCHEME_NAMES}
    return Venv(
        root=root,
        python=_bin_python(root),
        version=(major, minor),
        cache_tag=cache["cache_tag"],
        relative=SchemePaths(**paths),
        tags=None if (tags := cache.get("tags")) is None else tuple(tags),
    )


def _write_cache(state: Path, cache: VenvCache) -> None:
    target = state / CACHE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".venv.json.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_version(found: Venv, python: str) -> None:
    exe = resolve_python(found.root, python)
    if is_running_python(exe):
        major, minor = sys.version_info[:2]
    else:
        code = "import sys; print(*sys.version_info[:2])"
        out = run_checked(found.root, [exe, "-I", "-c", code], f"cannot ask {python} its version")
        major, minor = (int(x) for x in out.split())
    if (major, minor) != found.version:
        have = "{}.{}".format(*found.version)
        raise VenvError(
            found.root,
            f"it was made with Python {have}, but {python} is Python {major}.{minor}",
            hint="remove the venv to re-create it, or choose a matching --python",
        )


@contextmanager
def _venv_lock(root: Path) -> Iterator[None]:
    """Exclusive flock on the venv's lock file; the kernel drops it if we die."""
    lock = root / LOCK_FILE
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise VenvError(root, f"cannot create its lock file {lock}: {e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
