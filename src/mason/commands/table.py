"""The one formatter of the text tables the commands print (plan, list, verify)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO


def table_lines(
    rows: Sequence[Sequence[str]], *, min_widths: Sequence[int] = (), gap: int = 2
) -> list[str]:
    """Each row as one line, columns padded to their widest cell (at least ``min_widths``)
    and ``gap`` spaces apart; the last column is not padded, trailing blanks are cut."""
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [max((len(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    for i, least in enumerate(min_widths[:columns]):
        widths[i] = max(widths[i], least)
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append((" " * gap).join([*cells, row[-1]]).rstrip())
    return lines


def print_table(
    rows: Sequence[Sequence[str]],
    *,
    min_widths: Sequence[int] = (),
    gap: int = 2,
    file: TextIO | None = None,
) -> None:
    """Print :func:`table_lines` of ``rows`` (to stdout by default)."""
    for line in table_lines(rows, min_widths=min_widths, gap=gap):
        print(line, file=file or sys.stdout)
