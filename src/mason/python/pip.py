"""Getting wheels with pip: pip packages (``requirements.txt``) and ``sdh_pip_install``.

mason never lets pip install anything: pip only downloads or builds wheels into a
directory, and mason stages them (:mod:`mason.python.wheels`). The venv has no pip of its
own, so the running interpreter's pip is used; ``--python`` makes it resolve (and build)
for the venv's interpreter when that is another one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mason.catalog.requirements import parse_requirements
from mason.python.errors import BadRequirement, BadRequirementsFile, PipFailed, WrongWheelCount

_QUIET_ENV = {
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PIP_NO_COLOR": "1",
    "PIP_PROGRESS_BAR": "off",
}


def pip_command(python: str | Path | None = None) -> list[str]:
    """The pip to run for ``python`` (default: the running interpreter)."""
    command = [sys.executable, "-m", "pip"]
    if python is not None and not _same_python(str(python)):
        command += ["--python", str(python)]
    return command


def _same_python(python: str) -> bool:
    # Not realpath: a venv's bin/python is a symlink to the base interpreter, yet it sees
    # other packages (build back-ends for --no-build-isolation).
    exe = shutil.which(python) or python
    return os.path.abspath(exe) == os.path.abspath(sys.executable)


def _sources(index_url: str | None, find_links: Sequence[str | Path]) -> list[str]:
    args = [f"--find-links={link}" for link in find_links]
    if index_url is not None:
        args.append(f"--index-url={index_url}")
    elif find_links:
        args.append("--no-index")  # find-links alone: never reach out to PyPI
    return args


def run_pip(what: str, args: Sequence[str], python: str | Path | None = None) -> str:
    """Run pip with ``args``; return its output, or raise :class:`PipFailed` naming ``what``."""
    command = [*pip_command(python), *args]
    env = {**os.environ, **_QUIET_ENV}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except OSError as e:
        raise PipFailed(what, command, -1, str(e)) from e
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise PipFailed(what, command, done.returncode, output)
    return output


def download_wheels(
    requirements: Path | Sequence[str],
    dest: Path,
    *,
    python: str | Path | None = None,
    index_url: str | None = None,
    find_links: Sequence[str | Path] = (),
    build_sdists: bool = False,
) -> tuple[Path, ...]:
    """Fetch the wheels of ``requirements`` (a ``requirements.txt`` or requirement strings).

    A file is read with :func:`read_requirements`. Dependencies are not followed (mason's
    catalog lists them). Only wheels are accepted (``pip download --only-binary=:all:``)
    unless ``build_sdists``, where ``pip wheel`` builds what has no wheel. Wheels land in
    ``dest``; returns those of this call, sorted.
    """
    if isinstance(requirements, Path):
        what = f"getting {requirements}"
        requirements = read_requirements(requirements)
    else:
        what = f"getting {' '.join(requirements)}"
    if not requirements:
        return ()
    reqs = _positional(requirements)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".pip-") as tmp:
        if build_sdists:
            verb = ["wheel", "--no-deps", f"--wheel-dir={tmp}"]
        else:
            verb = ["download", "--no-deps", "--only-binary=:all:", f"--dest={tmp}"]
        run_pip(what, [*verb, *_sources(index_url, find_links), *reqs], python)
        return _move_wheels(Path(tmp), dest)


def read_requirements(path: Path) -> list[str]:
    """The requirements of the file ``path`` and its ``-r`` includes (next to it, never
    above its directory), as :mod:`mason.catalog.requirements` reads them; raise
    :class:`BadRequirementsFile` listing every line that is not one."""

    def read(rel: str) -> str | None:
        try:
            return (path.parent / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    text = read(path.name)
    if text is None:
        raise BadRequirementsFile(path, ["cannot be read"])
    parsed = parse_requirements(text, path.name, read)
    if parsed.problems:
        raise BadRequirementsFile(path, [str(p) for p in parsed.problems])
    return parsed.requirements


def _positional(requirements: Sequence[str]) -> list[str]:
    """``requirements`` after ``--``, so that pip never reads one as an option of its own
    (``--dest=/elsewhere`` in a recipe's ``requirements.txt`` would write there)."""
    options = [r for r in requirements if r.lstrip().startswith("-")]
    if options:
        raise BadRequirement(options)
    return ["--", *requirements]


def build_wheel(
    src_dir: Path,
    out_dir: Path,
    python: str | Path | None = None,
    find_links: Sequence[str | Path] = (),
    *,
    build_isolation: bool = True,
) -> Path:
    """Build the one wheel of the project in ``src_dir`` into ``out_dir`` (``sdh_pip_install``).

    No index is used: build requirements come from ``find_links``, or from ``python``'s
    environment when ``build_isolation`` is off. Raises :class:`WrongWheelCount` unless
    exactly one wheel comes out.
    """
    args = ["wheel", "--no-index", "--no-deps", *[f"--find-links={x}" for x in find_links]]
    if not build_isolation:
        args.append("--no-build-isolation")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".build-") as tmp:
        run_pip(
            f"building a wheel of {src_dir}", [*args, f"--wheel-dir={tmp}", str(src_dir)], python
        )
        built = sorted(p.name for p in Path(tmp).glob("*.whl"))
        if len(built) != 1:
            raise WrongWheelCount(src_dir, built)
        (wheel,) = _move_wheels(Path(tmp), out_dir)
    return wheel


def _move_wheels(tmp: Path, dest: Path) -> tuple[Path, ...]:
    moved = []
    for wheel in sorted(tmp.glob("*.whl")):
        target = dest / wheel.name
        os.replace(wheel, target)  # same name, same project/version/tags: newest wins
        moved.append(target)
    return tuple(moved)
