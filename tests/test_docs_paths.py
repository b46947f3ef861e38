"""The docs point only to files that are in the repository."""

from __future__ import annotations

import re

import pytest

from conftest import REPO

ROOTS = ("src/", "examples/", "docs/", "tests/", "scripts/", "bench/")


@pytest.mark.parametrize("doc", ["docs/recipes.md", "docs/config.md", "README.md"])
def test_every_repository_path_named_in_the_docs_exists(doc: str) -> None:
    text = (REPO / doc).read_text()
    named = {m for m in re.findall(r"`([^`\s]+)`", text) if m.startswith(ROOTS)}
    missing = sorted(p for p in named if not (REPO / p.rstrip("/")).exists())
    assert missing == [], f"{doc} names files that are not in the repository"
