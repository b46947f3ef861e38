"""Byte-compilation of staged Python sources, deterministic and for the final location.

Each ``.pyc`` is compiled with ``PycInvalidationMode.CHECKED_HASH``: its header holds a hash
of the source instead of a timestamp, so identical sources give identical ``.pyc`` files
(two wheels shipping the same namespace ``__init__.py`` then co-own its byte-code too), and
moving the tree into the prefix does not make the byte-code stale. ``dfile`` is the path the
source will have once merged, so tracebacks name the installed file.

Byte-code is specific to the interpreter version: when the venv's Python is not the one
running mason, the venv's own interpreter compiles, in one subprocess per call.
"""

from __future__ import annotations

import json
import py_compile
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mason.python.errors import VenvError
from mason.python.venv import Venv


@dataclass(frozen=True)
class CompileJob:
    """Compile ``source`` (staged) to ``target`` (staged), naming it ``dfile`` (final)."""

    source: Path
    target: Path
    dfile: str


def pyc_name(source_name: str, cache_tag: str) -> str:
    """``mod.py`` -> ``mod.cpython-311.pyc`` (the name inside ``__pycache__``)."""
    stem = source_name[: -len(".py")] if source_name.endswith(".py") else source_name
    return f"{stem}.{cache_tag}.pyc"


def compile_sources(jobs: Sequence[CompileJob], venv: Venv) -> tuple[CompileJob, ...]:
    """Compile every job for ``venv``'s interpreter; return the jobs that compiled.

    A source that does not compile (pip skips those too: wheels ship files for other
    Python versions) is left without byte-code.
    """
    if not jobs:
        return ()
    if venv.cache_tag == sys.implementation.cache_tag:
        ok = [_compile_one(job.source, job.target, job.dfile) for job in jobs]
    else:
        ok = _compile_elsewhere(jobs, venv)
    return tuple(job for job, done in zip(jobs, ok, strict=True) if done)


def _compile_one(source: Path, target: Path, dfile: str) -> bool:
    try:
        py_compile.compile(
            str(source),
            cfile=str(target),
            dfile=dfile,
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        return False
    return True


# The same compile call, run by another interpreter (stdlib only, JSON in and out).
_REMOTE = """
import json, py_compile, sys
ok = []
for source, target, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile=target, dfile=dfile, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        ok.append(True)
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        ok.append(False)
json.dump(ok, sys.stdout)
"""


def _compile_elsewhere(jobs: Sequence[CompileJob], venv: Venv) -> list[bool]:
    payload = json.dumps([[str(j.source), str(j.target), j.dfile] for j in jobs])
    command = [str(venv.python), "-I", "-c", _REMOTE]
    done = subprocess.run(command, input=payload, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise VenvError(venv.root, f"its interpreter failed to byte-compile:\n{tail}")
    ok: list[bool] = json.loads(done.stdout)
    return ok
