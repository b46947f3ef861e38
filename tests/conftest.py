from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mason.python.venv import Venv

if TYPE_CHECKING:
    from ociregistry import RunningRegistry

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SAGE_CATALOG = SHARED / "catalogs" / "sage-9.8" / "pkgs"
DEMO_CATALOG = REPO / "examples" / "demo" / "pkgs"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """mason's user cache (byte-code shared by prefixes) in a directory of this test run."""
    before = os.environ.get("MASON_CACHE")
    os.environ["MASON_CACHE"] = str(tmp_path_factory.mktemp("mason-cache"))
    yield
    if before is None:
        os.environ.pop("MASON_CACHE", None)
    else:
        os.environ["MASON_CACHE"] = before


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    """A real venv of the running interpreter, made by mason (``tmp_path/prefix``)."""
    from mason.python import ensure_venv

    return ensure_venv(tmp_path / "prefix")


@pytest.fixture
def sage_catalog() -> Path:
    if not SAGE_CATALOG.is_dir():
        pytest.skip(f"the sage-9.8 catalog is not at {SAGE_CATALOG} (../shared is missing)")
    return SAGE_CATALOG


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A real OCI registry on loopback, one per test module (``tests/ociregistry.py``)."""
    from ociregistry import running_registry

    with running_registry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry


@pytest.fixture
def registry(shared_registry: RunningRegistry, request: pytest.FixtureRequest) -> RunningRegistry:
    """The module's registry, with a repository of this test's own."""
    from ociregistry import with_repository

    return with_repository(shared_registry, request)
