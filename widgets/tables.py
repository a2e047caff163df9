"""Sizing the cockpit's tables when they are filled, not later.

A Textual DataTable widens its auto-width columns to their cells only when it is next idle. A table
filled just before a dialog opens over it (or a screenshot is taken) is drawn with columns as wide as
their labels, cutting ids off. :func:`size_columns` does the same widening at once.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable


def _cell_len(cell: object) -> int:
    """Cells of ``cell`` as DataTable renders it on one line (strings are console markup)."""
    if isinstance(cell, Text):
        return cell.cell_len
    text = str(cell)
    try:
        return Text.from_markup(text).cell_len
    except Exception:  # noqa: BLE001 - not valid markup: DataTable shows it as it is
        return Text(text).cell_len


def size_columns(table: DataTable) -> None:
    """Widen every auto-width column of ``table`` to its widest cell now (never narrower, as
    DataTable itself does when idle), then redraw it."""
    for key, column in table.columns.items():
        if column.auto_width:
            widest = max((_cell_len(c) for c in table.get_column(key)), default=0)
            column.content_width = max(column.content_width, widest)
    table.refresh()
