"""Applying a recipe's ``patches/*.patch`` to the extracted sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mason.build.errors import PatchFailed


def recipe_patches(recipe_dir: Path) -> list[Path]:
    """The recipe's patches, in the order they are applied (by file name)."""
    patch_dir = recipe_dir / "patches"
    if not patch_dir.is_dir():
        return []
    return sorted((p for p in patch_dir.glob("*.patch") if p.is_file()), key=lambda p: p.name)


def apply_patches(package: str, recipe_dir: Path, src_dir: Path) -> list[Path]:
    """Apply every patch of ``recipe_dir`` with ``patch -p1`` inside ``src_dir``.

    Returns the patches applied. Raises :class:`PatchFailed` naming the first patch that
    does not apply, with patch's output; the patches before it stay applied.
    """
    patches = recipe_patches(recipe_dir)
    for patch in patches:
        result = subprocess.run(
            ["patch", "-p1", "--batch", "--forward", "--input", str(patch.resolve())],
            cwd=src_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PatchFailed(package, patch, result.stdout)
    return patches
