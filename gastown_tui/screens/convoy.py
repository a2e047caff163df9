"""The convoy detail view (issue 21, part 3): a convoy's tracked beads with their status, polecat and
newest merge request, its progress, when it was created and when it landed (or why it was closed),
read with :func:`core.convoys.get` as ``gt convoy show`` does, and for a bead whose merge request
failed or conflicted, why (the MR's note, the words the merge request view shows: ``test gate failed
(exit 1): ...``), read next in a worker of its own. ``enter`` opens the bead under the cursor
(:func:`gastown_tui.screens.bead.open_bead`), ``escape`` goes back. The screen is built once and
kept (:func:`open_convoy`); the convoy is read each time it is shown and again when a snapshot shows
its progress changed. Names, titles and notes are agent-written: text, never markup
(:func:`widgets.safe_text.plain`, :class:`widgets.tables.PlainTable`).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from core import mq
from core.beads.store import BeadStore
from core.convoys import LANDED, Convoy
from core.errors import NotFound
from core.plaintext import one_line
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.kept import push_kept
from widgets.convoys import progress_bar
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns

#: Cells of the progress bar on the convoy view.
BAR_WIDTH = 30
#: Name of the installed convoy detail screen (:func:`open_convoy`).
SCREEN = "convoy-detail"
#: Merge request statuses whose note says why the bead did not land.
STUCK = ("failed", "conflict")


def open_convoy(app: App, convoy_id: str) -> None:
    """Show the detail of convoy ``convoy_id`` on the kept screen
    (:func:`gastown_tui.screens.kept.push_kept`)."""
    push_kept(app, SCREEN, ConvoyScreen, lambda: ConvoyScreen(convoy_id), lambda screen: screen.retarget(convoy_id))


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
        #: Why each failed or conflicting MR of the tracked beads did not merge (MR id -> its note).
        self.reasons: dict[str, str] = {}

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
            ("why", "why"),
        ):
            table.add_column(label, key=key)

    def on_screen_resume(self) -> None:
        """Each time the view is shown: a fresh read of the convoy, the tracked beads focused."""
        self.query_one(PlainTable).focus()
        self.load()

    def retarget(self, convoy_id: str) -> None:
        """Show convoy ``convoy_id`` from now on (the kept screen, :func:`open_convoy`): what the view
        showed of the previous one is cleared until the read comes."""
        self.convoy_id, self.convoy, self.reasons = convoy_id, None, {}
        self.query_one("#convoy-title", Static).update(plain(f"Convoy {convoy_id}"))
        self.query_one("#convoy-summary", Static).update("")
        table = self.query_one(PlainTable)
        table.clear()
        table.move_cursor(row=0)

    def load(self) -> None:
        """Read the convoy again (in a worker) and show it (unless the view moved to another one)."""
        asked = self.convoy_id
        self.cockpit.actions.read_convoy(asked, lambda convoy: self._show(convoy) if asked == self.convoy_id else None)

    @work(thread=True, exclusive=True, group="convoy-reasons")
    def load_reasons(self, convoy_id: str, mr_ids: list[str]) -> None:
        """Read the notes of merge requests ``mr_ids`` (in a thread) and show them."""
        reasons: dict[str, str] = {}
        with BeadStore(self.cockpit.town) as store:
            for mr_id in mr_ids:
                try:
                    reasons[mr_id] = mq.get(store.db, mr_id).reason or ""
                except NotFound:
                    continue
        self.app.call_from_thread(self._show_reasons, convoy_id, reasons)

    def _show_reasons(self, convoy_id: str, reasons: dict[str, str]) -> None:
        if convoy_id != self.convoy_id or self.convoy is None:
            return
        self.reasons = reasons
        table = self.query_one(PlainTable)
        for t in self.convoy.tracked:
            if t.mr in reasons and t.id in table.rows:
                table.update_cell(t.id, "why", one_line(reasons[t.mr]))
        size_columns(table)  # widened now: DataTable's own update_width waits for an idle moment

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
                one_line(self.reasons.get(t.mr, "")) if t.mr and t.mr_status in STUCK else "",
                key=t.id,
            )
        size_columns(table)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        stuck = [t.mr for t in convoy.tracked if t.mr and t.mr_status in STUCK]
        if stuck:
            self.load_reasons(convoy.id, stuck)

    def on_data_table_row_selected(self, event: PlainTable.RowSelected) -> None:
        """A click on the highlighted row: open the bead."""
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        """Open the tracked bead under the cursor."""
        from gastown_tui.screens.bead import open_bead

        bead = self.query_one(PlainTable).cursor_key
        if bead is None:
            self.notify("this convoy tracks no bead", severity="warning")
            return
        open_bead(self.app, bead)
