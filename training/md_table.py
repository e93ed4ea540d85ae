"""Markdown tables for the evaluation reports (``verified.md``, ``anchor.md``, the naming
suite's table): one way to write a header, its rule and the rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _line(cells: Sequence[object]) -> str:
    # an empty cell is one space wide: "| a | | b |"
    return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"


def table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, right_from: int | None = None
) -> list[str]:
    """The lines of a Markdown table: ``columns`` as its header, then one line per row
    (each cell written with ``str``). Columns from index ``right_from`` on are aligned
    right (numbers); by default every column is aligned left."""
    rule = ["---:" if right_from is not None and i >= right_from else "---" for i in range(len(columns))]
    return [_line(columns), "|" + "|".join(rule) + "|", *(_line(r) for r in rows)]
