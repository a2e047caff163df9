"""Convoys with progress bars: one row per open convoy, closed tracked beads out of all (DESIGN glossary),
and what its beads have cost so far (:mod:`core.costs`)."""

from __future__ import annotations

from rich.text import Text

from core.convoys import Convoy
from core.costs import money
from widgets.listfilter import matches
from widgets.tables import PlainTable, size_columns

BAR_WIDTH = 10


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> Text:
    """A text progress bar ``████░░░░ 3/8``: ``width`` cells, full cells = done/total rounded down."""
    filled = 0 if total <= 0 else min(width, done * width // total)
    text = Text("█" * filled, style="bold")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {done}/{total}")
    return text


class ConvoyList(PlainTable):
    """Open convoys: id, progress bar, cost, name (shown as text); ``filter``: the ``/`` filter
    (:func:`widgets.listfilter.matches` on id and name)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.filter = ""
        self._convoys: list[Convoy] = []
        self._costs: dict[str, float | None] = {}
        self._shown: tuple = ()

    def on_mount(self) -> None:
        self.add_column("convoy", key="id")
        self.add_column("progress", key="bar", width=BAR_WIDTH + 5)
        self.add_column("cost", key="cost")
        self.add_column("name", key="name")

    def update_from(self, convoys: list[Convoy], costs: dict[str, float | None] | None = None) -> None:
        """Show ``convoys`` (oldest first) that pass the filter, with what each has cost so far
        (``costs``: convoy id -> US dollars, None when unknown; a convoy not in it has no recorded
        usage), keeping the cursor on the same convoy."""
        self._convoys, self._costs = list(convoys), dict(costs or {})
        costs = self._costs
        convoys = [c for c in convoys if matches(self.filter, c.id, c.name)]
        shown = tuple((c.id, c.name, c.done, c.total, costs.get(c.id, 0.0)) for c in convoys)
        if shown == self._shown:
            return
        self._shown = shown
        keep, row = self.cursor_key, self.cursor_row
        self.clear()
        for c in convoys:
            cost = money(costs[c.id]) if c.id in costs else ""
            self.add_row(c.id, progress_bar(c.done, c.total), cost, c.name, key=c.id)
        size_columns(self)
        if keep is not None and keep in {c.id for c in convoys}:
            self.move_cursor(row=self.get_row_index(keep))
        elif convoys:
            self.move_cursor(row=min(row, len(convoys) - 1))

    def set_filter(self, text: str) -> None:
        """Show only the convoys matching ``text`` (the ``/`` filter; "" shows them all)."""
        self.filter = text
        self.update_from(self._convoys, self._costs)
