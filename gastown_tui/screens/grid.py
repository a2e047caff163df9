"""The grid: a live preview of every session (``capture-pane -e``), refreshed about twice a second.

Only tiles on screen are captured: each tile tracks Show/Hide (Textual sends Hide when a widget is
scrolled away or covered), and the refresh worker captures just the visible ones, in a thread.
Enter on a tile goes back to the main screen with that agent selected. A session's screen is the
agent's output: its colours are kept, every other escape sequence and any link is dropped, and the
tile titles are text, never markup (:mod:`widgets.safe_text`).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from core.errors import GtError
from core.townview import Agent, TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from widgets.safe_text import from_ansi, plain

REFRESH_S = 0.5
TILE_LINES = 14


def tile_title(agent: Agent) -> Text:
    """A tile's border title, ``<agent key> · <state>``, as text."""
    return plain(f"{agent.key} · {agent.state}")


class PreviewTile(Static, can_focus=True):
    """The last lines of one session's screen. ``agent_key``/``session``: what it shows."""

    def __init__(self, agent: Agent) -> None:
        super().__init__("", classes="tile")
        self.agent_key = agent.key
        self.session = agent.session or ""
        self.on_screen = False
        self.border_title = tile_title(agent)

    def on_show(self) -> None:
        self.on_screen = True

    def on_hide(self) -> None:
        self.on_screen = False

    def show_capture(self, text: str) -> None:
        """Show ``text`` (ANSI from capture-pane): its last lines that fit the tile, colours kept,
        other escapes and links dropped (:func:`widgets.safe_text.from_ansi`)."""
        lines = text.split("\n")[-max(1, self.content_size.height or TILE_LINES) :]
        self.update(from_ansi("\n".join(lines)))


class GridScreen(Screen):
    """Previews of the Mayor and every polecat with a session; escape or g goes back."""

    BINDINGS = bindings("grid")

    def __init__(self) -> None:
        super().__init__()
        self.captures = 0  # sessions captured so far (tests and the benchmark read it)
        self._keys: tuple[str, ...] = ()

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static("Grid: live previews", id="grid-title")
        with VerticalScroll(id="grid-scroll"):
            yield Grid(id="grid")
        yield Footer()

    def on_mount(self) -> None:
        if self.cockpit.snapshot is not None:
            self.apply_snapshot(self.cockpit.snapshot)
        self.set_interval(REFRESH_S, self.refresh_tiles)
        self.refresh_tiles()

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """Rebuild the tiles when the set of sessions changes."""
        agents = [a for a in ([snap.mayor] if snap.mayor else []) + snap.agents if a.session]
        keys = tuple(a.key for a in agents)
        grid = self.query_one("#grid", Grid)
        if keys != self._keys:
            self._keys = keys
            grid.remove_children()
            grid.mount_all([PreviewTile(a) for a in agents])
            if not agents:
                grid.mount(Static("No session is running.", classes="tile-empty"))
        else:
            for tile, agent in zip(self.query(PreviewTile), agents, strict=False):
                tile.border_title = tile_title(agent)

    def refresh_tiles(self) -> None:
        """Capture the visible tiles' sessions in a thread."""
        wanted = [(t, t.session) for t in self.query(PreviewTile) if t.on_screen and t.session]
        if wanted:
            self._capture(wanted)

    @work(thread=True, exclusive=True, group="grid-capture")
    def _capture(self, wanted: list[tuple[PreviewTile, str]]) -> None:
        host = self.cockpit.host
        for tile, session in wanted:
            try:
                text = host.capture(session, ansi=True)
            except GtError as exc:
                text = f"({exc})"
            self.captures += 1
            self.app.call_from_thread(tile.show_capture, text)

    def action_open(self) -> None:
        """Back to the main screen with the focused tile's agent selected."""
        focused = self.focused
        if isinstance(focused, PreviewTile):
            key = focused.agent_key
            self.app.pop_screen()
            self.cockpit.select_agent(key)
