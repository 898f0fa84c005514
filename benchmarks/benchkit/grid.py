"""A table with named columns, for figures that form a matrix (say trace shape x controller)
rather than one measurement per line as in `report.print_table`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

GridRow = Sequence[str] | str
"""A row of cells, or a plain string: a section heading, printed after a blank line."""


def print_grid(
    title: str,
    columns: Sequence[str],
    rows: Sequence[GridRow],
    align: str = "",
    out: TextIO = sys.stdout,
) -> None:
    """Print `rows` under `columns`, aligned; `align` has one letter per column, `l` or `r`
    (missing letters mean `l` for the first column and `r` for the others)."""
    cells = [list(row) for row in rows if not isinstance(row, str)]
    for row in cells:
        if len(row) != len(columns):
            raise ValueError(f"{len(row)} cells for {len(columns)} columns: {row}")
    sides = [align[i] if i < len(align) else ("l" if i == 0 else "r") for i in range(len(columns))]
    width = [max(len(row[i]) for row in [list(columns), *cells]) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(size) if side == "r" else cell.ljust(size)
            for cell, size, side in zip(row, width, sides, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(title, file=out)
    print(line(columns), file=out)
    for row in rows:
        if isinstance(row, str):
            print(f"\n{row}", file=out)
        else:
            print(line(row), file=out)


__all__ = ["GridRow", "print_grid"]
