"""The polecat detail view (issue 21, part 3): its bead, branch, commits ahead of its base, the diff
against that base (syntax highlighted with Rich's ``diff`` lexer), its transcript with scrollback
and search, its state history (the witness's verdicts with their reasons) and its cost; ``e`` opens
its worktree in ``$VISUAL`` / ``$EDITOR`` (:func:`editor_argv`), the cockpit suspended meanwhile.

Opened with ``d`` on the agents panel or in the problems view (:func:`open_polecat`); ``escape`` goes
back. The screen is built once and kept; each time it is shown its frame is drawn at once and the
data comes from thread workers: one :func:`core.inspect.polecat_detail` read (``R`` reads it again),
and the transcript (:func:`core.inspect.polecat_transcript`, 256 KB) only once its tab is shown. The
diff is a :class:`widgets.text_lines.TextLines` of ``str`` lines, each highlighted when it is first
drawn (:func:`diff_styler`), so a 5,000-line diff costs what the lines in view cost. Everything in
it that an agent wrote (commit subjects, the diff, the transcript, reasons) is shown as text, never
markup: the core read strips control characters and the widgets here take ``Text``, ``Syntax``
tokens or a read-only ``TextArea``, none of which parses markup.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from datetime import datetime

from pygments.lexers.diff import DiffLexer
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static, TabbedContent, TabPane, TextArea
from textual.widgets.text_area import Selection

from core.beads.store import BeadStore
from core.costs import money
from core.errors import GtError
from core.inspect import PolecatDetail, polecat_detail, polecat_transcript
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.kept import push_kept
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.text_lines import Styler, TextLines

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


def diff_styler(dark: bool) -> Styler:
    """A :class:`widgets.text_lines.TextLines` styler for a diff's lines: one line (no newline) to
    its ``Text``, highlighted by Rich's ``Syntax`` with Pygments' diff lexer (line-based, so a line
    alone is coloured as in the whole diff), token colours only (``ansi_dark`` or ``ansi_light``
    theme: the panel's own background shows through). The line's characters are kept as they are."""
    syntax = Syntax("", DiffLexer(stripnl=False, ensurenl=True), theme="ansi_dark" if dark else "ansi_light")

    def style(line: str) -> Text:
        text = syntax.highlight(line)
        text.rstrip()
        text.end = ""
        return text

    return style


def editor_argv(env: Mapping[str, str], path: str) -> list[str]:
    """The command that opens ``path`` in the user's editor: ``$VISUAL``, else ``$EDITOR`` (from
    ``env``), split as a shell would split words (:func:`shlex.split`, so ``code --wait`` works) but
    never run by a shell, with ``path`` as its last argument. Raises GtError when neither is set (or
    one does not split: an unclosed quote)."""
    for name in ("VISUAL", "EDITOR"):
        value = env.get(name, "").strip()
        if value:
            try:
                words = shlex.split(value)
            except ValueError as exc:
                raise GtError(f"${name} is not a command line ({exc}): {value}") from None
            if words:
                return [*words, path]
    raise GtError("set $VISUAL or $EDITOR to open a worktree in your editor")


def open_polecat(app: App, rig: str, name: str) -> None:
    """Show the detail of polecat ``rig``/``name`` on the kept screen
    (:func:`gastown_tui.screens.kept.push_kept`): opening it again only reads the polecat and draws it."""
    push_kept(app, SCREEN, PolecatScreen, lambda: PolecatScreen(rig, name), lambda screen: screen.retarget(rig, name))


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
        #: The transcript shown, None until its read came (it is read when its tab is first shown).
        self.transcript: str | None = None
        self._transcript_asked = False
        self._pending_search: str | None = None

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
        yield CockpitFooter()

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
        self.transcript, self._transcript_asked, self._pending_search = None, False, None
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
                detail = polecat_detail(store, self.rig, self.polecat)
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
        self._show_diff(d)
        if self._transcript_asked:  # a refresh: the transcript tab was shown, read its new end too
            self.load_transcript(d.session)

    def _show_diff(self, d: PolecatDetail) -> None:
        lines: list[Text | str]
        if not d.diff:
            lines = [Text("no changes against the base", style="italic", end="")]
        else:
            lines = list(d.diff.rstrip("\n").split("\n"))
            if d.diff_truncated:
                lines.append(Text("… diff cut here: it is longer than the view keeps", style="italic", end=""))
        self.query_one("#polecat-diff", TextLines).set_lines(lines, diff_styler(self.app.current_theme.dark))

    def _show_transcript(self) -> None:
        """The transcript tab is shown: read the transcript (once per read of the polecat; a long
        transcript costs its read and its load, which opening the view need not wait for)."""
        if self._transcript_asked or self.detail is None:
            return
        self._transcript_asked = True
        self.load_transcript(self.detail.session)

    @work(thread=True, exclusive=True, group="polecat-transcript")
    def load_transcript(self, session: str) -> None:
        """Read the session's transcript (in a thread) and put it in its tab."""
        text = polecat_transcript(self.cockpit.host, session)
        self.app.call_from_thread(self._transcript_read, session, text)

    def _transcript_read(self, session: str, text: str) -> None:
        """Show ``text``, the cursor on the newest output (unless the view moved to another polecat);
        a search typed while it was read runs now."""
        if self.detail is None or self.detail.session != session:
            return
        self.transcript = text
        self.matches, self.match_index = [], -1
        area = self.query_one("#transcript-text", TextArea)
        area.load_text(text or "(the session has printed nothing yet)")
        area.move_cursor((area.document.line_count - 1, 0))
        if self._pending_search is not None:
            query, self._pending_search = self._pending_search, None
            self._search(query)

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
        """Enter in the search box: find every match and go to the last one (the newest output); while
        the transcript is still being read, once it is shown."""
        event.stop()
        area = self.query_one("#transcript-text", TextArea)
        area.focus()
        if self.transcript is None:
            self._pending_search = event.value
            self.query_one("#transcript-matches", Static).update("reading...")
            return
        self._search(event.value)

    def _search(self, query: str) -> None:
        area = self.query_one("#transcript-text", TextArea)
        self.matches = find_matches(area.text, query)
        self.match_index = len(self.matches)
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

    def action_edit(self) -> None:
        """``e``: open the polecat's worktree in ``$VISUAL`` / ``$EDITOR`` (:func:`editor_argv`), the
        cockpit suspended (``App.suspend``) until the editor exits; a toast says why when there is no
        worktree, no editor, the editor fails, or the cockpit cannot hand over its terminal (in a
        browser: ``gt dashboard``)."""
        d = self.detail
        if d is None or not d.worktree:
            self.notify("this polecat has no worktree to open", severity="warning")
            return
        path = str(self.cockpit.town.root / d.worktree)
        try:
            argv = editor_argv(os.environ, path)
        except GtError as exc:
            self.notify(str(exc), severity="warning")
            return
        try:
            with self.app.suspend():
                done = subprocess.run(argv, check=False)
        except SuspendNotSupported:
            self.notify("this cockpit cannot hand its terminal to an editor (it runs in a browser)", severity="error")
            return
        except OSError as exc:
            self.notify(f"could not run {argv[0]}: {exc.strerror or exc}", severity="error")
            return
        if done.returncode != 0:
            self.notify(f"{shlex.join(argv[:-1])} exited with status {done.returncode}", severity="error")
