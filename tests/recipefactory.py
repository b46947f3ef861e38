"""Write small recipe directories in SageMath's ``build/pkgs`` format for tests.

``write_recipe(catalog, "zlib", version="1.2.11.p0", deps="| xz", tarball=True)`` creates
``catalog/zlib/`` with ``type``, ``package-version.txt``, ``dependencies`` and a
``checksums.ini``; ``files`` adds (or, with ``None``, removes) any other file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SHA1 = "0" * 40


def write_recipe(
    catalog: Path,
    name: str,
    *,
    version: str | None = "1.0",
    type: str = "standard",
    deps: str | None = None,
    tarball: bool | str = False,
    files: Mapping[str, str | bytes | None] | None = None,
) -> Path:
    """Create ``catalog/name/`` and return it."""
    recipe = catalog / name
    recipe.mkdir(parents=True, exist_ok=True)
    content: dict[str, str | bytes | None] = {"type": f"{type}\n"}
    if version is not None:
        content["package-version.txt"] = f"{version}\n"
    if deps is not None:
        content["dependencies"] = (
            f"{deps}\n\n----------\nAll lines of this file are ignored except the first.\n"
        )
    if tarball:
        name_pattern = tarball if isinstance(tarball, str) else f"{name}-VERSION.tar.gz"
        content["checksums.ini"] = f"tarball={name_pattern}\nsha1={SHA1}\n"
    content.update(files or {})
    for rel, data in content.items():
        path = recipe / rel
        if data is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return recipe
