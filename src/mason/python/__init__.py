"""mason's Python side (SPEC section 6): the venv, staging wheels, pip packages.

Python packages are installed by staging: a wheel is unpacked into a tree laid out like the
venv, byte-compiled there, with pip-compatible metadata; the store then merges that tree
into the venv like any other staged tree.
"""

from mason.python.venv import Venv, ensure_venv
from mason.python.wheels import StagedWheel, stage_wheel, stage_wheels

__all__ = ["StagedWheel", "Venv", "ensure_venv", "stage_wheel", "stage_wheels"]
