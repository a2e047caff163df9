"""The bead detail view (issue 21, part 3): a bead's description rendered as Markdown, its design and
acceptance criteria (Markdown too) and notes, its dependencies both ways (blocked by / blocks, parent, tracked by), its merge
requests, comments and history (:func:`core.bead_view.read`); ``e`` edits title, priority, status and
labels, ``x`` closes it with a reason, ``o`` reopens it, ``c`` adds a comment, ``enter`` opens the
dependency under the cursor, ``escape`` goes back. Every edit is a cockpit action over the ledger's
own functions, the ones ``gt bead`` calls (:class:`gastown_tui.actions.CockpitActions`).

Opened with :func:`open_bead`: the screen is built once and kept (installed, like the polecat view),
so opening a bead draws the frame at once and fills it when the worker's read comes; a bead opened
from a bead (or from a convoy opened over it) gets a screen of its own.

Everything shown is agent-written. The description, design and acceptance are drawn by Rich's
Markdown renderer as one widget each (:class:`MarkdownText`): Textual's ``Markdown`` widget mounts a
widget per block (a 4 KB description with fences was about 100 widgets and most of a second to
open). HTML is off (a ``<script>`` or ``<b>`` shows as the characters typed, never as markup, see
:func:`markdown_parser`), links are shown with their address and carry no link (nothing opens on a
click) and control characters are gone (:func:`core.plaintext.strip_controls`); ``[red]`` stays
text, since the renderer builds its text from parsed tokens, never from console markup. Titles,
comments and history go through :func:`widgets.safe_text.plain` and
:class:`widgets.tables.PlainTable`.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from markdown_it import MarkdownIt
from rich.markdown import Markdown as RichMarkdown
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from core.bead_view import BeadView
from core.events import Event
from core.plaintext import one_line, strip_controls
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.kept import push_kept
from gastown_tui.screens.ledger_dialogs import BeadEditModal, CloseBeadModal, CommentModal
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns
from widgets.text_lines import TextLines

#: Characters of one history line's detail.
DETAIL_WIDTH = 90
#: Seconds between two reads of the bead while its view is open (on the town's snapshots).
REREAD_S = 3.0
#: Name of the installed bead detail screen (:func:`open_bead`).
SCREEN = "bead-detail"
#: The Markdown parts of a bead: (widget id, heading, Issue field, text shown when it is empty; None:
#: the part is hidden when empty).
PARTS = (
    ("description", "Description", "description", "_no description_"),
    ("design", "Design", "design", None),
    ("acceptance", "Acceptance", "acceptance_criteria", "_none given_"),
)


@functools.cache
def markdown_parser() -> MarkdownIt:
    """Textual's own "gfm-like" parser (tables, strikethrough, linkified URLs) with HTML off: raw
    HTML in a description is text, not an ``html_block`` token (which a renderer would drop
    silently, hiding what the agent wrote). Built once (building it costs more than parsing a
    bead); used on the event loop only."""
    return MarkdownIt("gfm-like", {"html": False})


class SafeMarkdown(RichMarkdown):
    """Rich's ``Markdown`` renderable for agent-written ``text``, parsed by :func:`markdown_parser`
    (HTML off) instead of Rich's own parser (HTML on: a ``<b>`` would vanish), links as text with
    their address (``hyperlinks=False``: no link style, nothing to click), control characters
    stripped. ``dark``: the code fences' token colours for a dark (else light) background."""

    def __init__(self, text: str, dark: bool = True) -> None:
        # Rich's __init__ would build its own parser (costlier than parsing a bead) only to be
        # replaced: the attributes it sets are set here, the text parsed once by the shared parser
        self.markup = strip_controls(text)
        self.parsed = markdown_parser().parse(self.markup)
        self.code_theme = "ansi_dark" if dark else "ansi_light"
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None
        self.inline_code_theme = self.code_theme


class MarkdownText(Widget):
    """A bead's Markdown part drawn as one widget with Textual's line API: :class:`SafeMarkdown`
    rendered by Rich once per width and theme (wrapped to the width) and kept as strips, so a
    layout, a scroll or a redraw costs no new render. ``source`` is the text shown ("" before
    :meth:`show`); ``markdown`` its renderable (None when empty)."""

    DEFAULT_CSS = """
    MarkdownText {
        height: auto;
    }
    """

    #: Widths whose rendered lines are kept (a scrollbar coming and going changes the width by 1-2).
    WIDTHS_KEPT = 4

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source = ""
        self.markdown: SafeMarkdown | None = None
        self._dark = True
        self._strips: dict[tuple[int, Style], list[Strip]] = {}  # (width, base style) -> its lines

    def show(self, text: str) -> None:
        """Draw ``text`` (agent-written Markdown), unless it is what is shown already."""
        if text == self.source:
            return
        self.source = text
        self._dark = self.app.current_theme.dark
        self.markdown = SafeMarkdown(text, self._dark) if text else None
        self._strips.clear()
        self.refresh(layout=True)

    def notify_style_update(self) -> None:
        """The styles changed: a new theme (light or dark) colours the code fences anew; the base
        style is part of the kept lines' key."""
        super().notify_style_update()
        dark = self.app.current_theme.dark
        if self.source and dark != self._dark:
            self._dark = dark
            self.markdown = SafeMarkdown(self.source, dark)
            self._strips.clear()

    def _lines(self, width: int) -> list[Strip]:
        style = self.rich_style
        key = (width, style)
        lines = self._strips.get(key)
        if lines is None:
            lines = []
            if self.markdown is not None and width > 0:
                console = self.app.console
                rendered = console.render_lines(self.markdown, console.options.update_width(width), pad=False)
                lines = [Strip(list(Segment.apply_style(line, style))) for line in rendered]
            if len(self._strips) >= self.WIDTHS_KEPT:
                self._strips.clear()
            self._strips[key] = lines
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        lines = self._lines(width)
        if 0 <= y < len(lines):
            return lines[y].extend_cell_length(width, self.rich_style)
        return Strip.blank(width, self.rich_style)


def open_bead(app: App, bead: str) -> None:
    """Show the detail of ``bead`` (an id or a unique partial id) on the kept screen
    (:func:`gastown_tui.screens.kept.push_kept`; a bead opened from a bead gets a screen of its own)."""
    push_kept(app, SCREEN, BeadScreen, lambda: BeadScreen(bead), lambda screen: screen.retarget(bead))


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
        self._tables: dict[str, tuple[Any, ...]] = {}  # table id -> the rows it shows
        self._loaded_at = 0.0
        self._fresh = True  # not shown since built or retargeted: focus the dependencies when shown

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Bead {self.bead}"), id="bead-view-title")
        yield Static("", id="bead-view-meta")
        with Horizontal(id="bead-view-body"):
            with VerticalScroll(id="bead-view-text"):
                for part, heading, _field, _empty in PARTS:
                    yield Static(heading, classes="bead-view-heading", id=f"bead-view-{part}-heading")
                    yield MarkdownText(id=f"bead-view-{part}", classes="bead-view-markdown")
                yield Static("Notes", classes="bead-view-heading", id="bead-view-notes-heading")
                yield Static("", id="bead-view-notes")
                yield Static("Comments", classes="bead-view-heading")
                yield Static("", id="bead-view-comments")
            with Vertical(id="bead-view-side"):
                yield DepsTable(id="bead-view-deps", cursor_type="row")
                yield Static("", id="bead-view-mrs")
                yield TextLines(id="bead-view-history")
        yield CockpitFooter()

    def on_mount(self) -> None:
        deps = self.query_one("#bead-view-deps", PlainTable)
        deps.border_title = "Dependencies"
        for label, key in (("relation", "relation"), ("bead", "bead"), ("status", "status"), ("title", "title")):
            deps.add_column(label, key=key)
        self.query_one("#bead-view-history", TextLines).border_title = "History"
        for part, _heading, _field, empty in PARTS:
            if empty is None:
                self.query_one(f"#bead-view-{part}-heading").display = False
                self.query_one(f"#bead-view-{part}").display = False

    def on_screen_resume(self) -> None:
        """Each time the view is shown (first, after :meth:`retarget`, back from a dialog or another
        bead): a fresh read of the bead; the dependencies focused when it is a new one."""
        if self._fresh:
            self._fresh = False
            self.query_one("#bead-view-deps", PlainTable).focus()
            self.query_one("#bead-view-text", VerticalScroll).scroll_home(animate=False)
        self.load()

    def retarget(self, bead: str) -> None:
        """Show ``bead`` from now on (the kept screen, :func:`open_bead`): what the view showed of the
        previous one is cleared until the read comes."""
        self.bead, self.view, self._tables, self._fresh = bead, None, {}, True
        self.query_one("#bead-view-title", Static).update(plain(f"Bead {bead}"))
        for part in ("#bead-view-meta", "#bead-view-notes", "#bead-view-comments", "#bead-view-mrs"):
            self.query_one(part, Static).update("")
        for part, *_ in PARTS:
            self.query_one(f"#bead-view-{part}", MarkdownText).show("")
        self.query_one("#bead-view-deps", PlainTable).clear()
        self.query_one("#bead-view-history", TextLines).set_lines([])

    def load(self) -> None:
        """Read the bead again (in a worker) and show it (unless the view moved to another bead)."""
        self._loaded_at = time.monotonic()
        asked = self.bead
        self.cockpit.actions.read_bead(asked, lambda view: self._show(view) if asked == self.bead else None)

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
        for part, _heading, name, empty in PARTS:
            text = getattr(issue, name) or (empty or "")
            self.query_one(f"#bead-view-{part}", MarkdownText).show(text)
            if empty is None:
                self.query_one(f"#bead-view-{part}-heading").display = bool(text)
                self.query_one(f"#bead-view-{part}").display = bool(text)
        self._show_comments(view)
        self._show_deps(view)
        self._show_history(view)

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
        """The bead's events, oldest first, one line each (when, who, event, :func:`event_detail`) in
        aligned columns, scrolled to the newest: a :class:`widgets.text_lines.TextLines`, which
        renders only the lines in view (a table renders every visible cell anew on each fill)."""
        if self._unchanged("history", tuple(e.id for e in view.history)):
            return
        rows = [
            (
                time.strftime("%m-%d %H:%M:%S", time.localtime(e.ts)),
                one_line(e.actor),
                one_line(e.type),
                event_detail(e),
            )
            for e in view.history
        ]
        who = max((len(r[1]) for r in rows), default=0)
        kind = max((len(r[2]) for r in rows), default=0)
        lines: list[Text | str] = [
            Text.assemble(
                (when, "dim"),
                "  ",
                plain(actor.ljust(who)),
                "  ",
                plain(event.ljust(kind), "bold"),
                "  ",
                plain(detail),
                end="",
            )
            for when, actor, event, detail in rows
        ]
        history = self.query_one("#bead-view-history", TextLines)
        history.set_lines(lines)
        history.scroll_end(animate=False, immediate=True)

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
        open_bead(self.app, key.split(":", 1)[1])

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
