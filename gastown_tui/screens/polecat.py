"""The polecat detail view (issue 21, part 3): its bead, branch, commits ahead of its base, the diff
against that base (syntax highlighted with Rich's ``diff`` lexer), its transcript with scrollback
and search, its state history (the witness's verdicts with their reasons) and its cost.

Opened with ``d`` on the agents panel or in the problems view (:func:`open_polecat`); ``escape`` goes
back. The data is one :func:`core.inspect.polecat_detail` read in a thread worker each time the view
is shown (``R`` reads it again); the diff is a :class:`widgets.text_lines.TextLines`, which draws only
the lines in view. Everything in it
that an agent wrote (commit subjects, the diff, the transcript, reasons) is shown as text, never
markup: the core read strips control characters and the widgets here take ``Text``, ``Syntax`` or a
read-only ``TextArea``, none of which parses markup.
"""

from __future__ import annotations

from datetime import datetime

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane, TextArea
from textual.widgets.text_area import Selection

from core.beads.store import BeadStore
from core.costs import money
from core.errors import GtError
from core.inspect import PolecatDetail, polecat_detail
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from widgets.safe_text import plain
from widgets.text_lines import TextLines

#: Name of the installed polecat detail screen (:func:`open_polecat`).
SCREEN = "polecat-detail"

#: Where a search match is: (row, first column, end column) in the transcript.
Match = tuple[int, int, int]


def find_matches(text: str, query: str) -> list[Match]:
    """Every case-insensitive occurrence of ``query`` in ``text``, as (row, start column, end column),
    in reading order ([] for an empty query)."""
    needle = query.casefold()
    if not needle:
        return []
    out: list[Match] = []
    for row, line in enumerate(text.split("\n")):
        hay = line.casefold()
        start = hay.find(needle)
        while start != -1:
            out.append((row, start, start + len(needle)))
            start = hay.find(needle, start + max(1, len(needle)))
    return out


def open_polecat(app: App, rig: str, name: str) -> None:
    """Show the detail of polecat ``rig``/``name``. The screen is built once and kept (installed, like
    the help screen): opening it again only reads the polecat and draws it."""
    if app.is_screen_installed(SCREEN):
        screen = app.get_screen(SCREEN)
        assert isinstance(screen, PolecatScreen)
        screen.retarget(rig, name)
    else:
        app.install_screen(PolecatScreen(rig, name), SCREEN)
    app.push_screen(SCREEN)


class PolecatScreen(Screen):
    """The detail of polecat ``rig``/``name``: facts and history on the left, diff and transcript
    tabs on the right. ``detail`` holds the last read (None before the first)."""

    BINDINGS = bindings("polecat")

    def __init__(self, rig: str, name: str) -> None:
        super().__init__()
        self.rig = rig
        self.polecat = name
        self.detail: PolecatDetail | None = None
        self.matches: list[Match] = []
        self.match_index = -1
        self._transcript_shown = False

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Polecat {self.rig}/{self.polecat}"), id="polecat-title")
        with Horizontal(id="polecat-body"):
            with VerticalScroll(id="polecat-info"):
                yield Static("reading...", id="polecat-summary")
                yield Static("", id="polecat-commits")
                yield Static("", id="polecat-history")
            with TabbedContent(initial="diff", id="polecat-tabs"):
                with TabPane("Diff", id="diff"):
                    yield TextLines(id="polecat-diff")
                with TabPane("Transcript", id="transcript"), Vertical():
                    with Horizontal(id="transcript-find"):
                        yield Input(placeholder="search the transcript, enter finds", id="transcript-search")
                        yield Static("", id="transcript-matches")
                    yield TextArea(
                        "",
                        read_only=True,
                        show_cursor=True,
                        soft_wrap=False,
                        id="transcript-text",
                        tab_behavior="focus",
                    )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#polecat-commits", Static).border_title = "Commits ahead of base"
        self.query_one("#polecat-history", Static).border_title = "State history"

    def on_screen_resume(self) -> None:
        """Each time the view is shown: the diff tab, then a fresh read of the polecat."""
        self.query_one("#transcript-find").display = False
        self.query_one(TabbedContent).active = "diff"
        self.query_one("#polecat-diff").focus()
        self.load()

    def retarget(self, rig: str, name: str) -> None:
        """Show polecat ``rig``/``name`` from now on (the kept screen, :func:`open_polecat`): what the
        view showed of the previous one is cleared until the read comes."""
        self.rig, self.polecat, self.detail = rig, name, None
        self._transcript_shown = False
        self.matches, self.match_index = [], -1
        self.query_one("#polecat-title", Static).update(plain(f"Polecat {rig}/{name}"))
        for part in ("#polecat-commits", "#polecat-history"):
            self.query_one(part, Static).update("")
        self.query_one("#polecat-summary", Static).update("reading...")
        self.query_one("#polecat-diff", TextLines).set_lines([])
        self.query_one("#transcript-text", TextArea).load_text("")

    # ---- data -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="polecat-detail")
    def load(self) -> None:
        """Read the polecat (in a thread) and show it."""
        try:
            with BeadStore(self.cockpit.town) as store:
                detail = polecat_detail(store, self.cockpit.host, self.rig, self.polecat)
        except GtError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self.show, detail)

    def _failed(self, why: str) -> None:
        self.query_one("#polecat-summary", Static).update(plain(why))
        self.notify(why, severity="error")

    def show(self, d: PolecatDetail) -> None:
        """Render ``d`` in every part of the view."""
        self.detail = d
        self._title()
        self.query_one("#polecat-summary", Static).update(self._summary(d))
        self.query_one("#polecat-commits", Static).update(self._commits(d))
        self.query_one("#polecat-history", Static).update(self._history(d))
        self.query_one("#polecat-diff", TextLines).set_lines(self._diff(d))
        self.matches, self.match_index = [], -1
        self._transcript_shown = False
        if self.query_one(TabbedContent).active == "transcript":
            self._show_transcript()

    def _show_transcript(self) -> None:
        """Put the transcript in its tab, the cursor on the newest output: only once the tab is
        shown (a long transcript costs its load, which opening the view need not wait for)."""
        if self._transcript_shown or self.detail is None:
            return
        self._transcript_shown = True
        area = self.query_one("#transcript-text", TextArea)
        area.load_text(self.detail.transcript or "(the session has printed nothing yet)")
        area.move_cursor((area.document.line_count - 1, 0))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "transcript":
            self._show_transcript()

    def _title(self) -> None:
        """The title line: the polecat, its state as the agents tree shows it (the witness's rule, in
        the cockpit's last snapshot; the stored row's state before one), its agent."""
        d = self.detail
        if d is None:
            return
        snap = self.cockpit.snapshot
        agent = snap.agent(d.key) if snap is not None else None
        state = agent.state if agent is not None else d.state
        title = Text.assemble(
            "Polecat ", plain(d.key, "bold"), " · ", plain(state), " · agent ", plain(d.agent or "?"), end=""
        )
        shown = self.query_one("#polecat-title", Static)
        if title != shown.content:  # a snapshot comes every second: redraw only a change
            shown.update(title)

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """A new snapshot of the town (the app hands it to the screen shown): its state in the title."""
        self._title()

    @staticmethod
    def _summary(d: PolecatDetail) -> Text:
        rows: list[tuple[str, Text]] = [
            ("bead", plain(f"{d.bead} [{d.bead_status}]" if d.bead else "nothing hooked")),
            ("title", plain(d.bead_title)),
            ("branch", plain(d.branch or "-")),
            ("worktree", plain(d.worktree or "(none)")),
            ("base", plain(d.base[:10] if d.base else "unknown")),
            ("session", plain(d.session)),
            (
                "cost",
                plain(
                    f"{money(d.cost)} (this bead {money(d.bead_cost)})" if d.cost_known else "not known yet",
                ),
            ),
        ]
        text = Text(end="")
        for label, value in rows:
            text.append(f"{label:<9}", style="bold")
            text.append_text(value)
            text.append("\n")
        for note in d.notes:
            text.append_text(plain(f"! {note}\n", "italic"))
        text.rstrip()
        return text

    @staticmethod
    def _commits(d: PolecatDetail) -> Text:
        if not d.commits:
            return Text("no commits ahead of base", style="italic", end="")
        text = Text(end="")
        for c in d.commits:
            text.append(c.short, style="bold")
            text.append(" ")
            text.append_text(plain(c.subject))
            text.append("\n")
        text.rstrip()
        return text

    @staticmethod
    def _history(d: PolecatDetail) -> Text:
        if not d.history:
            return Text("no events yet", style="italic", end="")
        text = Text(end="")
        for h in d.history:
            text.append(datetime.fromtimestamp(h.ts).strftime("%m-%d %H:%M:%S "), style="dim")
            text.append_text(plain(h.state, "bold"))
            if h.reason:
                text.append(" · ")
                text.append_text(plain(h.reason))
            text.append("\n")
        text.rstrip()
        return text

    def _diff(self, d: PolecatDetail) -> list[Text]:
        """The diff's lines highlighted by Rich's ``diff`` lexer (Pygments), token colours only: the
        panel's own background shows through, in either theme."""
        if not d.diff:
            return [Text("no changes against the base", style="italic", end="")]
        code = d.diff + ("… diff cut here: it is longer than the view keeps\n" if d.diff_truncated else "")
        theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
        text = Syntax(code, "diff", theme=theme).highlight(code)
        text.rstrip()
        return list(text.split("\n", allow_blank=True))

    # ---- actions --------------------------------------------------------------------------------
    def action_close(self) -> None:
        """Escape: close the search box first, else go back."""
        find = self.query_one("#transcript-find")
        if find.display and self.query_one("#transcript-search", Input).has_focus:
            find.display = False
            self.query_one("#transcript-text", TextArea).focus()
            return
        self.app.pop_screen()

    def action_show_tab(self, tab: str) -> None:
        """Show tab ``tab`` (``diff`` or ``transcript``) and focus what scrolls in it."""
        self.query_one(TabbedContent).active = tab
        if tab == "transcript":
            self._show_transcript()
        self.query_one("#polecat-diff" if tab == "diff" else "#transcript-text").focus()

    def action_search(self) -> None:
        """``/``: the transcript tab with its search box, emptied for a new search."""
        self.query_one(TabbedContent).active = "transcript"
        self._show_transcript()
        self.query_one("#transcript-find").display = True
        search = self.query_one("#transcript-search", Input)
        search.value = ""
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the search box: find every match and go to the last one (the newest output)."""
        event.stop()
        area = self.query_one("#transcript-text", TextArea)
        self.matches = find_matches(area.text, event.value)
        self.match_index = len(self.matches)
        area.focus()
        self.action_next_match(-1)

    def action_next_match(self, step: int) -> None:
        """Go to the next (``step`` 1) or previous (-1) match, wrapping around; select it."""
        status = self.query_one("#transcript-matches", Static)
        if not self.matches:
            status.update("no match")
            return
        self.match_index = (self.match_index + step) % len(self.matches)
        row, start, end = self.matches[self.match_index]
        area = self.query_one("#transcript-text", TextArea)
        area.selection = Selection((row, start), (row, end))
        area.scroll_cursor_visible(center=True)
        status.update(f"{self.match_index + 1}/{len(self.matches)} · n next · N previous")

    def action_refresh(self) -> None:
        """Read the polecat again (new commits, diff, output)."""
        self.load()
