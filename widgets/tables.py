"""The cockpit's tables: every cell shown as text, never markup, and sized when filled, not later.

:class:`PlainTable` is a Textual ``DataTable`` whose cells, row labels and column labels all go
through :func:`widgets.safe_text.plain`: a ``DataTable`` parses a ``str`` cell as console markup, so a
bead title such as ``Handle [/usr/local] prefix`` raised ``MarkupError`` and ``[@click=app.quit]x[/]``
became a live action (issue 15). Every table of the cockpit is one.

A Textual DataTable widens its auto-width columns to their cells only when it is next idle. A table
filled just before a dialog opens over it (or a screenshot is taken) is drawn with columns as wide as
their labels, cutting ids off. :func:`size_columns` does the same widening at once.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from widgets.listfilter import LIST_BINDINGS
from widgets.safe_text import plain


class PlainTable(DataTable):
    """A ``DataTable`` that shows every cell as text (:func:`widgets.safe_text.plain`): a ``str`` is
    never parsed as markup, control characters are dropped, and no style of a ``Text`` cell links or
    runs an action. ``j``/``k`` move the cursor (:data:`widgets.listfilter.LIST_BINDINGS`). Arguments
    are DataTable's; cells are stored as the ``Text`` shown."""

    BINDINGS = LIST_BINDINGS

    @property
    def cursor_key(self) -> str | None:
        """The row key under the cursor, or None when the table is empty (or refilling)."""
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # noqa: BLE001 - cursor outside the rows while the table refills
            return None

    def add_column(
        self, label: object, *, width: int | None = None, key: str | None = None, default: object | None = None
    ) -> ColumnKey:
        """DataTable's ``add_column``, the label and default cell shown as text."""
        return super().add_column(
            plain(label), width=width, key=key, default=None if default is None else plain(default)
        )

    def add_row(
        self, *cells: object, height: int | None = 1, key: str | None = None, label: object | None = None
    ) -> RowKey:
        """DataTable's ``add_row``, every cell (and the row label) shown as text."""
        return super().add_row(
            *(plain(c) for c in cells), height=height, key=key, label=None if label is None else plain(label)
        )

    def update_cell(
        self, row_key: RowKey | str, column_key: ColumnKey | str, value: object, *, update_width: bool = False
    ) -> None:
        """DataTable's ``update_cell`` (``update_cell_at`` calls it), the value shown as text."""
        super().update_cell(row_key, column_key, plain(value), update_width=update_width)


def _cell_len(cell: object) -> int:
    """Cells of ``cell`` as a :class:`PlainTable` renders it on one line."""
    return (cell if isinstance(cell, Text) else plain(cell)).cell_len


def size_columns(table: DataTable) -> None:
    """Widen every auto-width column of ``table`` to its widest cell now (never narrower, as
    DataTable itself does when idle), then redraw it."""
    for key, column in table.columns.items():
        if column.auto_width:
            widest = max((_cell_len(c) for c in table.get_column(key)), default=0)
            column.content_width = max(column.content_width, widest)
    table.refresh()
