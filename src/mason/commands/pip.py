"""Handler of ``mason pip ARGS...``: pip on the prefix's venv, under the venv's lock.

Like SageMath's ``sage -pip``: the venv's store lock is held exclusively for the whole
pip run, so pip never overlaps a merge, an uninstall or another ``mason pip``; still under
it, the records are reconciled with what pip did (:mod:`mason.reconcile`). The exit
status is pip's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from mason.config import load_settings
from mason.errors import UsageError
from mason.trees import Trees


def pip_command(venv: Path, sites: tuple[str, ...], store: Path) -> list[str]:
    """The venv's own pip when a package installed one, else this interpreter's pip
    pointed at the venv's interpreter."""
    python = venv / "bin" / "python"
    if any((store / site / "pip" / "__init__.py").is_file() for site in sites):
        return [str(python), "-m", "pip"]
    return [sys.executable, "-m", "pip", "--python", str(python)]


def _status(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by a signal: the shell's number


def pip(args: argparse.Namespace) -> int:
    """``mason pip ARGS...``: run pip for the venv, then reconcile; pip's exit status."""
    from mason.reconcile import reconciler_of

    settings = load_settings(catalog=args.catalog, prefix=args.prefix)
    trees = Trees.open(settings.prefix, settings.venv)
    venv = trees.place.root
    if not (venv / "pyvenv.cfg").is_file():
        raise UsageError(
            f"the prefix {trees.prefix.root} has no venv yet ({venv / 'pyvenv.cfg'} is missing)",
            hint="install a Python package with mason first (mason install PKG)",
        )
    store = trees.store("venv")
    reconciler = reconciler_of(trees)
    command = [*pip_command(venv, reconciler.sites, store.root), *args.pip_args]
    with store.write_locked() as index:
        try:
            code = subprocess.call(command)
        except OSError as e:
            raise UsageError(f"cannot run pip ({command[0]}): {e}") from e
        notes = store.reconcile_locked(index, reconciler)
    for note in notes:
        print(f"mason: {note}", file=sys.stderr)
    return _status(code)
