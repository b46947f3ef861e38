"""The wheels a build stored, and which of them it asked mason to install.

SageMath's helpers keep two things apart (SageMath 9.8, ``build/bin/sage-dist-helpers``):

- ``sdh_store_wheel .`` only STORES a wheel: it moves it into
  ``$SAGE_DESTDIR$SAGE_SPKG_WHEELS``, a file of the package's staged tree like any other.
  The merge carries it into the live wheel store and the package's record claims it, so
  uninstalling the package removes it, and isolated builds of later packages find it
  (``pip wheel --find-links=$SAGE_SPKG_WHEELS``);
- ``sdh_store_and_pip_install_wheel .`` (and ``sdh_pip_install``, which calls it) stores
  the wheel AND installs it: the shell helper appends the stored wheel's file name to
  ``$MASON_WHEELS_TO_INSTALL`` (:data:`~mason.build.env.WHEELS_TO_INSTALL` in the build
  directory), one name a line; after the build mason stages each listed wheel into the
  venv part of the same staged tree.

:func:`build_wheels` reads both after the build and checks them against each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mason.build.env import BuildSpec
from mason.build.errors import BuildError
from mason.errors import BadInput


@dataclass(frozen=True)
class BuildWheels:
    """The wheels of one build: ``stored`` (every file of the staged wheel store, by name)
    and ``to_install`` (those the recipe asked to install, each once, in the order asked)."""

    stored: tuple[Path, ...]
    to_install: tuple[Path, ...]

    @property
    def stored_only(self) -> tuple[Path, ...]:
        """The wheels stored and not installed (``sdh_store_wheel`` alone)."""
        return tuple(w for w in self.stored if w not in self.to_install)


class BadWheelStore(BuildError, BadInput):
    """A build left something in the staged wheel store that is not a wheel, or asked to
    install a wheel it did not store."""

    def __init__(self, package: str, problems: Sequence[str], store: Path) -> None:
        listing = "\n  ".join(problems)
        super().__init__(
            package,
            f"{package}: the wheels of the build are wrong ({store}):\n  {listing}",
            hint=(
                "put only .whl files into $SAGE_SPKG_WHEELS, with sdh_store_wheel . or "
                "sdh_store_and_pip_install_wheel . (they move the one wheel of ./dist)"
            ),
        )
        self.problems = tuple(problems)
        self.store = store


def build_wheels(spec: BuildSpec) -> BuildWheels:
    """The wheels ``spec``'s build stored and those it listed to install; raise
    :class:`BadWheelStore` naming every problem (an entry of the staged store that is not
    a ``.whl`` file; a listed name that is not a stored wheel)."""
    store = spec.staged_wheel_store
    problems: list[str] = []
    stored: list[Path] = []
    if store.is_dir() and not store.is_symlink():
        for entry in sorted(store.iterdir()):
            if entry.name.endswith(".whl") and entry.is_file() and not entry.is_symlink():
                stored.append(entry)
            else:
                problems.append(f"{entry.name}: not a wheel file")
    elif store.is_symlink() or store.exists():
        problems.append(f"{store}: not a directory")
    wanted = _listed(spec.install_list)
    names = {w.name: w for w in stored}
    for name in wanted:
        if name not in names:
            problems.append(f"{name}: listed in {spec.install_list.name} but not stored")
    if problems:
        raise BadWheelStore(spec.package, problems, store)
    return BuildWheels(tuple(stored), tuple(names[n] for n in wanted))


def _listed(path: Path) -> list[str]:
    """The names in an install list, each once, in their first order (none: no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
