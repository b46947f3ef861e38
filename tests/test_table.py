"""The one text-table formatter of the commands (mason.commands.table)."""

from __future__ import annotations

from mason.commands.table import table_lines


def test_columns_are_padded_to_the_widest_cell_and_the_last_is_not() -> None:
    rows = [("1.", "zlib", "1.2.13", "not installed"), ("10.", "app", "2.0", "")]
    assert table_lines(rows) == ["1.   zlib  1.2.13  not installed", "10.  app   2.0"]


def test_minimum_widths_and_gap() -> None:
    rows = [("missing", "a (p)"), ("modified", "b (p): size")]
    assert table_lines(rows, min_widths=(9,), gap=1) == ["missing   a (p)", "modified  b (p): size"]
    assert table_lines([]) == []
