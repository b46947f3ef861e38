from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SAGE_CATALOG = SHARED / "catalogs" / "sage-9.8" / "pkgs"
DEMO_CATALOG = REPO / "examples" / "demo" / "pkgs"


@pytest.fixture
def sage_catalog() -> Path:
    if not SAGE_CATALOG.is_dir():
        pytest.skip(f"the sage-9.8 catalog is not at {SAGE_CATALOG} (../shared is missing)")
    return SAGE_CATALOG
