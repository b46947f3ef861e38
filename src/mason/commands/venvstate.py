"""The records made true to the venv before a command reads them (:mod:`mason.reconcile`)."""

from __future__ import annotations

import sys

from mason.trees import Trees


def reconciled(trees: Trees) -> Trees:
    """Reconcile ``trees``' venv with its records; say what another installer changed."""
    from mason.reconcile import reconcile_venv

    for note in reconcile_venv(trees):
        print(f"mason: {note}", file=sys.stderr)
    return trees
