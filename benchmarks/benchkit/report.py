"""Benchmark output as TESTING.md asks: a table, then one `key=value` line as the LAST line;
`--json FILE` writes the same figures (and every run's) as JSON."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from benchkit.measure import Stat


@dataclass(frozen=True)
class Row:
    """One line of the table; a row with only a label is a section heading."""

    label: str
    value: str = ""
    spread: str = ""
    target: str = ""
    verdict: str = ""
    note: str = ""


_COLUMNS = ("label", "value", "spread", "target", "verdict", "note")
_HEADINGS = Row("measurement", "median", "runs min..max", "target", "", "")


def number(value: float, digits: int = 3, scaled: bool = True) -> str:
    """`value` to `digits` significant digits; large numbers with k / M / G when `scaled`
    (counts and rates), else whole with thousands separators (seconds, MiB)."""
    if not math.isfinite(value):
        return str(value)
    if not scaled:
        return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def stat_row(
    label: str, stat: Stat, unit: str = "", target: str = "", verdict: str = "", note: str = ""
) -> Row:
    """A row showing a median and the spread of the runs behind it; rates (`/s`) and counts
    get k / M / G, seconds and MiB do not."""
    scaled = unit == "" or unit.startswith("/")
    suffix = unit if unit.startswith("/") else f" {unit}" if unit else ""

    def text(value: float) -> str:
        return number(value, scaled=scaled)

    spread = f"{text(stat.low)}..{text(stat.high)}" if len(stat.values) > 1 else ""
    return Row(label, text(stat.median) + suffix, spread, target, verdict, note)


def verdict(value: float, limit: float) -> str:
    """`ok` when `value` is at most `limit`, else `over target` (information only)."""
    return "ok" if value <= limit else "over target"


def _is_heading(row: Row) -> bool:
    return not any(getattr(row, name) for name in _COLUMNS[1:])


def print_table(title: str, rows: Sequence[Row], out: TextIO = sys.stdout) -> None:
    """A plain-text table with aligned columns; a heading row gets a blank line before it."""
    lines = [_HEADINGS, *(row for row in rows if not _is_heading(row))]
    width = [max(len(getattr(row, name)) for row in lines) for name in _COLUMNS]
    print(title, file=out)
    for row in [_HEADINGS, *rows]:
        if _is_heading(row):
            print(f"\n{row.label}", file=out)
            continue
        parts = [getattr(row, name).ljust(size) for name, size in zip(_COLUMNS, width, strict=True)]
        parts[1] = row.value.rjust(width[1])
        print("  ".join(parts).rstrip(), file=out)


def summary_line(values: Mapping[str, Any]) -> str:
    """`key=value ...`: floats to 4 significant digits, None as `skipped`."""

    def text(value: Any) -> str:
        if value is None:
            return "skipped"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace(" ", "_")

    return " ".join(f"{key}={text(value)}" for key, value in values.items())


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import numpy as np

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
