"""The file that says where a prefix's venv is: :data:`~mason.layout.VENV_LOCATION`.

A venv inside the prefix is written relative to it (``.``: the prefix itself), so a copied
or moved prefix keeps its own venv and never reaches back into the original. A venv
outside the prefix is written absolute, with the ``home`` of its ``pyvenv.cfg`` once it
exists: a venv gone or re-made since is refused (:class:`VenvGone`) before anything is
written. :mod:`mason.trees` decides with it where the venv is.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import NotRequired, TypedDict

from mason.errors import BadInput
from mason.layout import VENV_LOCATION

LOCATION_FORMAT = 2


class VenvLocation(TypedDict):
    """On-disk form of :data:`~mason.layout.VENV_LOCATION` (version ``LOCATION_FORMAT``;
    format 1 held only an absolute ``venv``)."""

    format: int
    venv: str  # relative to the prefix ("." is the prefix) when inside it, else absolute
    home: NotRequired[str | None]  # pyvenv.cfg's home of a venv outside the prefix


class VenvGone(BadInput):
    """The prefix's venv lies outside it and is gone, or is another venv now."""

    def __init__(self, prefix: Path, venv: Path, why: str) -> None:
        self.prefix = prefix
        self.venv = venv
        super().__init__(
            f"the prefix {prefix} has its venv at {venv}, but {why}",
            hint=f"bring the venv back to {venv}, or start a new prefix",
        )


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def read_location(prefix: Path) -> tuple[Path, str | None] | None:
    """The venv ``prefix`` (absolute, normalized) remembers and, for one outside it, the
    home recorded; the prefix itself if it is a venv made before the file existed;
    ``None`` when it has none yet."""
    try:
        data = json.loads((prefix / VENV_LOCATION).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return (prefix, None) if (prefix / "pyvenv.cfg").is_file() else None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(
            f"{prefix / VENV_LOCATION}: unreadable: {e}",
            hint="it names the prefix's venv; fix or remove it",
        ) from e
    if not isinstance(data, dict) or data.get("format") not in (1, LOCATION_FORMAT):
        data = {}
    venv, home = data.get("venv"), data.get("home")
    absolute = data.get("format") == 1  # format 1 knew only absolute paths
    if (
        not isinstance(venv, str)
        or not isinstance(home, str | None)
        or (absolute and not os.path.isabs(venv))
    ):
        raise BadInput(
            f"{prefix / VENV_LOCATION}: not format {LOCATION_FORMAT} with a 'venv' path",
            hint="it names the prefix's venv; fix or remove it",
        )
    return _normal(prefix / venv), home


def venv_home(root: Path) -> str | None:
    """The ``home`` of ``root``'s ``pyvenv.cfg`` (``None``: no venv there)."""
    try:
        lines = (root / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    cfg = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in lines)}
    return cfg.get("home", "")


def check_outside(prefix: Path, root: Path, home: str | None) -> None:
    """Refuse a remembered venv outside ``prefix`` that existed once and is gone or was
    re-made with another interpreter (:class:`VenvGone`)."""
    if root.is_relative_to(prefix) or home is None:
        return  # inside: it moves with the prefix; no home: never made yet
    now = venv_home(root)
    if now is None:
        raise VenvGone(prefix, root, f"{root / 'pyvenv.cfg'} does not exist")
    if now != home:
        raise VenvGone(prefix, root, f"its pyvenv.cfg names another home ({now}, was {home})")


def write_location(prefix: Path, venv: str, home: str | None, *, replace: bool) -> bool:
    """Write the location durably: a new file only if there is none (``False``: another
    process wrote one first), or over the old one when ``replace``."""
    target = prefix / VENV_LOCATION
    location = VenvLocation(format=LOCATION_FORMAT, venv=venv)
    if os.path.isabs(venv):
        location["home"] = home
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".venv-location.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(location, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if another process wrote it meanwhile
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True
