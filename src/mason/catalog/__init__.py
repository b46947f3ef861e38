"""Reading and validating a catalog of recipes in SageMath's ``build/pkgs`` format.

``Catalog.load(path)`` reads every recipe, expands variables, and checks the whole
catalog (names, versions, types, checksums, dependencies, cycles), raising one
:class:`CatalogError` that lists every problem. See ``docs/recipes.md``.
"""

from mason.catalog.load import Catalog
from mason.catalog.model import (
    KINDS,
    NO_VERSION,
    TYPES,
    CatalogError,
    Checksums,
    Kind,
    PkgType,
    Problem,
    Recipe,
    Tree,
    UnknownPackage,
)

__all__ = [
    "KINDS",
    "NO_VERSION",
    "TYPES",
    "Catalog",
    "CatalogError",
    "Checksums",
    "Kind",
    "PkgType",
    "Problem",
    "Recipe",
    "Tree",
    "UnknownPackage",
]
