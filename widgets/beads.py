"""The ready beads: open, unblocked, workable beads (``BeadStore.ready``), with multi-select.

``space`` marks a bead, ``s`` slings the marked beads (or the one under the cursor), ``c`` makes a
convoy of them, ``b`` files a new bead (the actions live on the screen; these bindings put them in
the footer while this panel has the focus).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from core.beads.model import Issue
from widgets.listfilter import matches
from widgets.tables import PlainTable, size_columns

MARK = "◆"
#: The key that marks or unmarks the bead under the cursor (the cockpit's key table lists it).
MARK_KEY = "space"


class ReadyBeads(PlainTable):
    """Ready beads, one row each (mark, id, priority, type, title, all shown as text); ``marked``: the
    ids marked with space; ``filter``: the ``/`` filter (:func:`widgets.listfilter.matches` on id,
    priority, type and title; "" shows every bead). The cockpit adds its own keys (sling, convoy, new bead) in a subclass
    (:mod:`gastown_tui.screens.panels`)."""

    BINDINGS = [Binding(MARK_KEY, "toggle_mark", "Mark", id="mark")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.marked: list[str] = []
        self.filter = ""
        self._beads: list[Issue] = []
        self._shown: tuple = ()

    def on_mount(self) -> None:
        self.add_column(" ", key="mark", width=1)
        self.add_column("bead", key="id")
        self.add_column("P", key="p", width=2)
        self.add_column("type", key="type")
        self.add_column("title", key="title")

    def update_from(self, beads: list[Issue]) -> None:
        """Show ``beads`` (in order) that pass the filter, keeping the cursor on the same bead; marks
        of gone beads drop (a bead the filter hides stays marked)."""
        self._beads = list(beads)
        ids = {b.id for b in beads}
        self.marked = [m for m in self.marked if m in ids]
        beads = [b for b in beads if matches(self.filter, b.id, f"P{b.priority}", b.issue_type, b.title)]
        ids = {b.id for b in beads}
        shown = tuple((b.id, b.priority, b.issue_type, b.title) for b in beads)
        if shown == self._shown:
            return
        self._shown = shown
        keep = self.cursor_bead
        self.clear()
        for b in beads:
            self.add_row(self._mark(b.id), b.id, f"P{b.priority}", b.issue_type, b.title, key=b.id)
        size_columns(self)
        if keep in ids:
            self.move_cursor(row=self.get_row_index(keep))

    def set_filter(self, text: str) -> None:
        """Show only the beads matching ``text`` (the ``/`` filter; "" shows them all)."""
        self.filter = text
        self.update_from(self._beads)

    @property
    def cursor_bead(self) -> str | None:
        """The bead under the cursor, or None when the list is empty."""
        return self.cursor_key

    def chosen(self) -> list[str]:
        """The marked beads, else the bead under the cursor, else []."""
        if self.marked:
            return list(self.marked)
        bead = self.cursor_bead
        return [bead] if bead else []

    def action_toggle_mark(self) -> None:
        """Mark or unmark the bead under the cursor, then move down."""
        bead = self.cursor_bead
        if bead is None:
            return
        if bead in self.marked:
            self.marked.remove(bead)
        else:
            self.marked.append(bead)
        self.update_cell(bead, "mark", self._mark(bead))
        self.action_cursor_down()

    def clear_marks(self) -> None:
        """Unmark every bead."""
        for bead in self.marked:
            if bead in self.rows:
                self.update_cell(bead, "mark", self._mark(""))
        self.marked = []

    def _mark(self, bead: str) -> Text:
        return Text(MARK if bead in self.marked else " ", style="bold")
