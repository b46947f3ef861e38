"""mason's Python side (SPEC section 6): the venv, staging wheels, pip packages.

Python packages are installed by staging: a wheel is unpacked into a tree laid out like the
venv, byte-compiled there, with pip-compatible metadata; the store then merges that tree
into the venv like any other staged tree.

Decisions where the spec is silent:

- ``INSTALLER`` says ``mason``; ``pip list``, ``show``, ``check`` and ``uninstall`` all
  accept such distributions (tested).
- Byte-code: optimization level 0 only (as pip), ``CHECKED_HASH`` so identical sources give
  identical ``.pyc`` files, listed in ``RECORD`` with their hashes (as pip). A source that
  does not compile keeps no ``.pyc`` (as pip).
- Headers go to ``include/site/pythonX.Y/<distribution>`` (pip's venv layout).
- A wheel whose tags the venv's interpreter does not accept is refused.
- The venv has no pip of its own (created ``--without-pip``, faster); pip runs from the
  interpreter running mason, with ``--python`` when the venv's interpreter is another.
  ``find_links`` without an index URL means ``--no-index``.
- mason keeps ``var/lib/mason/venv.json`` (scheme paths, wheel tags) and
  ``var/lock/mason-venv.lock`` inside the venv.
"""

from mason.python.compilepool import CompilePool
from mason.python.venv import Venv, ensure_venv
from mason.python.wheels import StagedWheel, stage_wheel

__all__ = ["CompilePool", "StagedWheel", "Venv", "ensure_venv", "stage_wheel"]
