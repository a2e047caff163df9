"""The bead detail view (issue 21, part 3): a bead's description rendered as Markdown, its acceptance
criteria and notes, its dependencies both ways (blocked by / blocks, parent, tracked by), its merge
requests, comments and history (:func:`core.bead_view.read`); ``e`` edits title, priority, status and
labels, ``x`` closes it with a reason, ``o`` reopens it, ``c`` adds a comment, ``enter`` opens the
dependency under the cursor, ``escape`` goes back. Every edit is a cockpit action over the ledger's
own functions, the ones ``gt bead`` calls (:class:`gastown_tui.actions.CockpitActions`).

Everything shown is agent-written. The description and acceptance go to Textual's ``Markdown``
widget with HTML off (a ``<script>`` or ``<b>`` shows as the characters typed, never as markup, see
:func:`markdown_parser`), links that open nothing (``open_links=False``: a click is ignored) and no
control characters (:func:`core.plaintext.strip_controls`); ``[red]`` stays text, since the widget
builds its text from parsed tokens, never from console markup. Titles, comments and history go
through :func:`widgets.safe_text.plain` and :class:`widgets.tables.PlainTable`.
"""

from __future__ import annotations

import time
from typing import Any

from markdown_it import MarkdownIt
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Markdown, Static

from core.bead_view import BeadView
from core.events import Event
from core.plaintext import one_line, strip_controls
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.ledger_dialogs import BeadEditModal, CloseBeadModal, CommentModal
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns

#: Characters of one history line's detail.
DETAIL_WIDTH = 90
#: Seconds between two reads of the bead while its view is open (on the town's snapshots).
REREAD_S = 3.0


def markdown_parser() -> MarkdownIt:
    """Textual's own "gfm-like" parser (tables, strikethrough, linkified URLs) with HTML off: raw
    HTML in a description is text, not an ``html_block`` token (which the widget would drop
    silently, hiding what the agent wrote)."""
    return MarkdownIt("gfm-like", {"html": False})


def safe_markdown(text: str, *, id: str | None = None) -> Markdown:
    """A ``Markdown`` widget for agent-written ``text``: HTML off, links inert, controls stripped."""
    return Markdown(strip_controls(text), id=id, parser_factory=markdown_parser, open_links=False)


def event_detail(e: Event) -> str:
    """One line about bead event ``e``'s payload: field changes as ``field old -> new``, the rest as
    ``key value`` (empty values left out), at most :data:`DETAIL_WIDTH` characters."""
    parts: list[str] = []
    for key, value in e.payload.items():
        if key == "fields" and isinstance(value, dict):
            parts += [f"{f} {c.get('old')!s} -> {c.get('new')!s}" for f, c in value.items() if isinstance(c, dict)]
        elif value not in (None, "", [], {}, False):
            parts.append(f"{key} {', '.join(map(str, value)) if isinstance(value, list) else value}")
    line = one_line("; ".join(parts))
    return line if len(line) <= DETAIL_WIDTH else line[: DETAIL_WIDTH - 1] + "…"


class DepsTable(PlainTable):
    """The dependencies table: enter opens the bead at the other end (the footer says so)."""

    BINDINGS = bindings("bead_deps")


class BeadScreen(Screen):
    """The detail of bead ``bead`` (an id); ``view`` is what was read last (None until then)."""

    BINDINGS = bindings("bead")

    def __init__(self, bead: str) -> None:
        super().__init__()
        self.bead = bead
        self.view: BeadView | None = None
        self._markdown: dict[str, str] = {}  # Markdown box -> the text it shows
        self._tables: dict[str, tuple[Any, ...]] = {}  # table id -> the rows it shows
        self._loaded_at = 0.0

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Bead {self.bead}"), id="bead-view-title")
        yield Static("", id="bead-view-meta")
        with Horizontal(id="bead-view-body"):
            with VerticalScroll(id="bead-view-text"):
                yield Static("Description", classes="bead-view-heading")
                yield Vertical(id="bead-view-description", classes="bead-view-markdown")
                yield Static("Acceptance", classes="bead-view-heading")
                yield Vertical(id="bead-view-acceptance", classes="bead-view-markdown")
                yield Static("Notes", classes="bead-view-heading", id="bead-view-notes-heading")
                yield Static("", id="bead-view-notes")
                yield Static("Comments", classes="bead-view-heading")
                yield Static("", id="bead-view-comments")
            with Vertical(id="bead-view-side"):
                yield DepsTable(id="bead-view-deps", cursor_type="row")
                yield Static("", id="bead-view-mrs")
                yield PlainTable(id="bead-view-history", cursor_type="row")
        yield CockpitFooter()

    def on_mount(self) -> None:
        deps = self.query_one("#bead-view-deps", PlainTable)
        deps.border_title = "Dependencies"
        for label, key in (("relation", "relation"), ("bead", "bead"), ("status", "status"), ("title", "title")):
            deps.add_column(label, key=key)
        history = self.query_one("#bead-view-history", PlainTable)
        history.border_title = "History"
        for label, key in (("when", "when"), ("who", "who"), ("event", "event"), ("detail", "detail")):
            history.add_column(label, key=key)
        deps.focus()
        self.load()

    def load(self) -> None:
        """Read the bead again (in a worker) and show it."""
        self._loaded_at = time.monotonic()
        self.cockpit.actions.read_bead(self.bead, self._show)

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """A new snapshot of the town: read the bead again, at most every :data:`REREAD_S` seconds (an
        agent may comment or close it meanwhile; what did not change is not redrawn)."""
        if time.monotonic() - self._loaded_at >= REREAD_S:
            self.load()

    def _unchanged(self, table: str, shown: tuple[Any, ...]) -> bool:
        """True when ``table`` already shows ``shown`` (else remembers it)."""
        if self._tables.get(table) == shown:
            return True
        self._tables[table] = shown
        return False

    def _show(self, view: BeadView) -> None:
        if not self.is_attached:
            return
        self.view = view
        issue = view.issue
        self.query_one("#bead-view-title", Static).update(plain(f"{issue.id}  {one_line(issue.title)}", "bold"))
        meta = [issue.status, f"P{issue.priority}", issue.issue_type]
        if issue.assignee:
            meta.append(f"assignee {issue.assignee}")
        if issue.labels:
            meta.append(f"labels {', '.join(issue.labels)}")
        if view.blockers:
            meta.append(f"blocked now by {', '.join(view.blockers)}")
        if issue.close_reason:
            meta.append(f"closed: {issue.close_reason}")
        self.query_one("#bead-view-meta", Static).update(plain(one_line("  ·  ".join(meta))))
        self.query_one("#bead-view-notes-heading").display = bool(issue.notes)
        notes = self.query_one("#bead-view-notes", Static)
        notes.display = bool(issue.notes)
        notes.update(plain(issue.notes))
        self._show_comments(view)
        self._show_deps(view)
        self._show_history(view)
        for box, text in (
            ("#bead-view-description", issue.description or "_no description_"),
            ("#bead-view-acceptance", issue.acceptance_criteria or "_none given_"),
        ):
            if self._markdown.get(box) == text:
                continue  # mounting a Markdown's blocks is most of the view's cost: only when it changed
            self._markdown[box] = text
            # a new widget each time (a Markdown updated in place kept the height of its first blocks),
            # not awaited: both Markdowns mount side by side while the rest of the view is drawn
            holder = self.query_one(box, Vertical)
            if holder.children:
                holder.remove_children()
            holder.mount(safe_markdown(text))

    def _show_comments(self, view: BeadView) -> None:
        text = Text()
        for c in view.issue.comments:
            text.append_text(plain(f"{c.author} · {c.created_at}", "bold"))
            text.append("\n")
            text.append_text(plain(c.text.rstrip("\n")))
            text.append("\n\n")
        self.query_one("#bead-view-comments", Static).update(
            text if text.plain else Text("no comments yet", style="dim")
        )

    def _show_deps(self, view: BeadView) -> None:
        links = [*view.depends_on, *view.dependents]
        if not self._unchanged("deps", tuple(links)):
            table = self.query_one("#bead-view-deps", PlainTable)
            row = table.cursor_row
            table.clear()
            for n, link in enumerate(links):
                table.add_row(link.relation, link.bead, link.status, one_line(link.title), key=f"{n}:{link.bead}")
            size_columns(table)
            if table.row_count:
                table.move_cursor(row=min(row, table.row_count - 1))
        mrs = [f"{m.id} {m.status}{f' ({one_line(m.reason)})' if m.reason else ''}" for m in view.mrs]
        self.query_one("#bead-view-mrs", Static).update(plain("merge requests: " + ("; ".join(mrs) if mrs else "none")))

    def _show_history(self, view: BeadView) -> None:
        if self._unchanged("history", tuple(e.id for e in view.history)):
            return
        table = self.query_one("#bead-view-history", PlainTable)
        table.clear()
        for e in view.history:
            when = time.strftime("%m-%d %H:%M:%S", time.localtime(e.ts))
            table.add_row(when, e.actor, e.type, event_detail(e), key=str(e.id))
        size_columns(table)
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)

    # ---- actions --------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: PlainTable.RowSelected) -> None:
        """A click on a dependency's highlighted row: open that bead."""
        event.stop()
        if event.data_table.id == "bead-view-deps":
            self.action_open()

    def action_open(self) -> None:
        """Open the bead at the other end of the dependency under the cursor."""
        key = self.query_one("#bead-view-deps", PlainTable).cursor_key
        if key is None:
            self.notify("no dependency under the cursor", severity="warning")
            return
        self.app.push_screen(BeadScreen(key.split(":", 1)[1]))

    def _changed(self, result: object) -> None:
        """A dialog closed: read the bead again when it changed something (None: cancelled)."""
        if result is not None:
            self.load()

    def action_edit(self) -> None:
        """Edit title, priority, status and labels."""
        if self.view is None:
            return
        bead = self.view.issue.id
        actions = self.cockpit.actions
        self.app.push_screen(
            BeadEditModal(
                self.view.issue,
                lambda edit, done, refused: actions.edit_bead(bead, edit, done, refused),
                self.view.statuses,
            ),
            self._changed,
        )

    def action_close_bead(self) -> None:
        """Close the bead with a reason (refused while it is blocked: the dialog says so)."""
        if self.view is None:
            return
        bead = self.view.issue.id
        actions = self.cockpit.actions
        self.app.push_screen(
            CloseBeadModal(bead, lambda reason, done, refused: actions.close_bead(bead, reason, done, refused)),
            self._changed,
        )

    def action_reopen(self) -> None:
        """Reopen the closed bead."""
        if self.view is None:
            return
        self.cockpit.actions.reopen_bead(self.view.issue.id, self._changed)

    def action_comment(self) -> None:
        """Add a comment."""
        if self.view is None:
            return
        bead = self.view.issue.id
        actions = self.cockpit.actions
        self.app.push_screen(
            CommentModal(bead, lambda text, done, refused: actions.comment_bead(bead, text, done, refused)),
            self._changed,
        )
