"""Installing packages: a run of many under one job budget, and the pipeline of one.

- :mod:`~mason.install.run`: :class:`Installer`, the run (job budget, scheduler, events,
  switch interval, trash);
- :mod:`~mason.install.pipeline`: one package, fetch -> extract -> patches -> scripts ->
  staged tree -> merge -> post-install (:mod:`~mason.install.steps`,
  :mod:`~mason.install.staging` hold its steps);
- :mod:`~mason.install.guard`: the stray-write guard (one interface, inotify watch or
  snapshot) and the check of what it saw;
- :mod:`~mason.install.python`: the Python session (venv, wheel pool, wheel store);
- :mod:`~mason.install.context`: what the packages of a run share;
- :mod:`~mason.install.options`: options, :class:`InstallFailed`, recipe facts.
"""

from __future__ import annotations

from mason.install.options import (
    InstallFailed,
    InstallOptions,
    default_upstream,
    needs_python,
    source_spec,
)
from mason.install.run import Installer

__all__ = [
    "InstallFailed",
    "InstallOptions",
    "Installer",
    "default_upstream",
    "needs_python",
    "source_spec",
]
