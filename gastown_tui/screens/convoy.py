"""The convoy detail view (issue 21, part 3): a convoy's tracked beads with their status, polecat and
newest merge request, its progress, when it was created and when it landed (or why it was closed),
read with :func:`core.convoys.get` as ``gt convoy show`` does. ``enter`` opens the bead under the
cursor (:class:`gastown_tui.screens.bead.BeadScreen`), ``escape`` goes back. The convoy is read
again when a snapshot shows its progress changed. Names and titles are agent-written: text, never
markup (:func:`widgets.safe_text.plain`, :class:`widgets.tables.PlainTable`).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from core.convoys import LANDED, Convoy
from core.plaintext import one_line
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from widgets.convoys import progress_bar
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns

#: Cells of the progress bar on the convoy view.
BAR_WIDTH = 30


class TrackedTable(PlainTable):
    """The tracked beads: enter opens the bead under the cursor (the footer says so)."""

    BINDINGS = bindings("convoy_beads")


class ConvoyScreen(Screen):
    """The detail of convoy ``convoy_id``; ``convoy`` is what was read last (None until then)."""

    BINDINGS = bindings("convoy")

    def __init__(self, convoy_id: str) -> None:
        super().__init__()
        self.convoy_id = convoy_id
        self.convoy: Convoy | None = None

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Convoy {self.convoy_id}"), id="convoy-title")
        yield Static("", id="convoy-summary")
        yield TrackedTable(id="convoy-beads", cursor_type="row")
        yield CockpitFooter()

    def on_mount(self) -> None:
        table = self.query_one(PlainTable)
        table.border_title = "Tracked beads"
        for label, key in (
            ("bead", "bead"),
            ("status", "status"),
            ("type", "type"),
            ("polecat", "polecat"),
            ("MR", "mr"),
            ("MR status", "mr_status"),
            ("title", "title"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.load()

    def load(self) -> None:
        """Read the convoy again (in a worker) and show it."""
        self.cockpit.actions.read_convoy(self.convoy_id, self._show)

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """Read the convoy again when ``snap`` shows other progress than the one shown (the snapshot
        holds the open convoys only: a convoy that left it has landed or been closed)."""
        if self.convoy is None:
            return
        now = next(((c.done, c.total, c.state) for c in snap.convoys if c.id == self.convoy.id), None)
        shown = (self.convoy.done, self.convoy.total, self.convoy.state)
        if now != shown and not (now is None and self.convoy.state != "open"):
            self.load()

    def _show(self, convoy: Convoy) -> None:
        if not self.is_attached:
            return
        self.convoy = convoy
        self.query_one("#convoy-title", Static).update(plain(f"{convoy.id}  {one_line(convoy.name)}", "bold"))
        summary = Text.assemble(progress_bar(convoy.done, convoy.total, BAR_WIDTH), "  ")
        if convoy.state == LANDED:
            summary.append(f"landed {convoy.closed_at}", style="bold")
        elif convoy.state == "closed":
            summary.append_text(plain(f"closed {convoy.closed_at}: {one_line(convoy.close_reason)}", "bold"))
        else:
            left = convoy.total - convoy.done
            summary.append(f"open: {left} bead{'s' if left != 1 else ''} to land")
        summary.append_text(plain(f"  ·  created {convoy.created_at}"))
        if convoy.notify:
            summary.append_text(plain(f"  ·  tells {convoy.notify} when it lands"))
        formula = convoy.metadata.get("formula")
        if formula:
            summary.append_text(plain(f"  ·  formula {formula}"))
        self.query_one("#convoy-summary", Static).update(summary)
        table = self.query_one(PlainTable)
        row = table.cursor_row
        table.clear()
        for t in convoy.tracked:
            table.add_row(
                t.id,
                t.status,
                t.issue_type,
                t.polecat or "",
                t.mr or "",
                t.mr_status or "",
                one_line(t.title),
                key=t.id,
            )
        size_columns(table)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def on_data_table_row_selected(self, event: PlainTable.RowSelected) -> None:
        """A click on the highlighted row: open the bead."""
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        """Open the tracked bead under the cursor."""
        from gastown_tui.screens.bead import BeadScreen

        bead = self.query_one(PlainTable).cursor_key
        if bead is None:
            self.notify("this convoy tracks no bead", severity="warning")
            return
        self.app.push_screen(BeadScreen(bead))
