"""Convoys with progress bars: one row per open convoy, closed tracked beads out of all (DESIGN glossary)."""

from __future__ import annotations

from rich.text import Text

from core.convoys import Convoy
from widgets.tables import PlainTable, size_columns

BAR_WIDTH = 16


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> Text:
    """A text progress bar ``████░░░░ 3/8``: ``width`` cells, full cells = done/total rounded down."""
    filled = 0 if total <= 0 else min(width, done * width // total)
    text = Text("█" * filled, style="bold")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {done}/{total}")
    return text


class ConvoyList(PlainTable):
    """Open convoys: id, name (shown as text), progress bar."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._shown: tuple = ()

    def on_mount(self) -> None:
        self.add_column("convoy", key="id")
        self.add_column("progress", key="bar", width=BAR_WIDTH + 6)
        self.add_column("name", key="name")

    def update_from(self, convoys: list[Convoy]) -> None:
        """Show ``convoys`` (oldest first)."""
        shown = tuple((c.id, c.name, c.done, c.total) for c in convoys)
        if shown == self._shown:
            return
        self._shown = shown
        row = self.cursor_row
        self.clear()
        for c in convoys:
            self.add_row(c.id, progress_bar(c.done, c.total), c.name, key=c.id)
        size_columns(self)
        if convoys:
            self.move_cursor(row=min(row, len(convoys) - 1))
