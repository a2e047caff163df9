"""The grid: a live preview of every session (``capture-pane -e``), refreshed about twice a second.

The tiles fill the screen: :func:`grid_shape` picks the columns and rows from the number of tiles and
the room there is (the biggest terminal-shaped tile wins), and each tile shows the BOTTOM of its
session's screen, its lines cropped, never wrapped, so the prompt is always in view. Arrows move the
selection (the focused tile), Enter goes back to the main screen with that agent selected, space
marks tiles and ``n`` nudges every marked agent (or the selected one) with one text, each through
the cockpit's nudge (:func:`core.nudge.nudge`, the rule of ``gt nudge``: never into a shell, only
onto an empty input line).

Only tiles on screen are captured: each tile tracks Show/Hide (Textual sends Hide when a widget is
scrolled away or covered), and the refresh worker captures just the visible ones, in a thread. A
session's screen is the agent's output: its colours are kept, every other escape sequence and any
link is dropped, and the tile titles are text, never markup (:mod:`widgets.safe_text`).
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Static

from core import nudge
from core.errors import GtError
from core.townview import Agent, TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.modals import NudgeModal
from widgets.safe_text import from_ansi, plain

REFRESH_S = 0.5
#: Smallest tile, in cells, borders included: below it the grid scrolls instead of shrinking.
MIN_TILE = (24, 6)
#: The shape a tile is made closest to: an 80x24 terminal (width / height, in cells).
TERMINAL_ASPECT = 80 / 24
#: Lines the grid's title and footer take from the screen.
CHROME_LINES = 2
MARK = "● "


def grid_shape(count: int, width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of a grid of ``count`` tiles in ``width`` x ``height`` cells: of the layouts
    with no empty row, the one whose tiles hold the biggest ``TERMINAL_ASPECT``-shaped terminal
    (the largest ``min(tile width / aspect, tile height)``), fewer columns on a tie; columns are
    limited so a tile is at least :data:`MIN_TILE` wide. ``count`` below 1 counts as 1."""
    count = max(1, count)
    most = max(1, min(count, width // MIN_TILE[0]))
    best, best_score = (1, count), -1.0
    for cols in range(1, most + 1):
        rows = math.ceil(count / cols)
        if (rows - 1) * cols >= count:
            continue  # a whole empty row
        score = min((width / cols) / TERMINAL_ASPECT, height / rows)
        if score > best_score + 1e-9:
            best, best_score = (cols, rows), score
    return best


class TileScroll(VerticalScroll, can_focus=False):
    """The grid's scroll area: never focused (the tiles are), so the arrows move the selection."""


def tile_title(agent: Agent, marked: bool = False) -> Text:
    """A tile's border title, ``<agent key> · <state>`` (``●`` first when marked), as text."""
    return plain(f"{MARK if marked else ''}{agent.key} · {agent.state}")


class PreviewTile(Static, can_focus=True):
    """The bottom of one session's screen. ``agent_key``/``session``: what it shows; ``marked``: in
    the set a broadcast nudge goes to."""

    def __init__(self, agent: Agent) -> None:
        super().__init__("", classes="tile")
        self.agent = agent
        self.agent_key = agent.key
        self.session = agent.session or ""
        self.on_screen = False
        self.marked = False
        self.border_title = tile_title(agent)
        self._screen_text = ""

    def on_show(self) -> None:
        self.on_screen = True

    def on_hide(self) -> None:
        self.on_screen = False

    def on_resize(self, _event: Resize) -> None:
        if self._screen_text:
            self.show_capture(self._screen_text)  # as many of the bottom lines as fit now

    def set_agent(self, agent: Agent) -> None:
        """Show ``agent``'s newest state in the title."""
        self.agent = agent
        self.border_title = tile_title(agent, self.marked)

    def toggle_mark(self) -> None:
        """Mark or unmark the tile (its title and border say so)."""
        self.marked = not self.marked
        self.set_class(self.marked, "-marked")
        self.border_title = tile_title(self.agent, self.marked)

    def show_capture(self, text: str) -> None:
        """Show ``text`` (ANSI from capture-pane): the last lines that fit the tile, each cropped to
        its width (never wrapped, so the bottom line, the prompt, stays in view), colours kept,
        other escapes and links dropped (:func:`widgets.safe_text.from_ansi`)."""
        self._screen_text = text
        lines = text.rstrip("\n").split("\n")[-max(1, self.content_size.height) :]
        shown = from_ansi("\n".join(lines))
        shown.no_wrap = True
        shown.overflow = "crop"
        self.update(shown)


class GridScreen(Screen):
    """Previews of every agent whose session tmux lists (the Mayor, polecats, crew); escape or g goes back."""

    BINDINGS = bindings("grid")

    def __init__(self) -> None:
        super().__init__()
        self.captures = 0  # sessions captured so far (tests and the benchmark read it)
        self.shape = (1, 1)  # (columns, rows) of the grid
        self._keys: tuple[str, ...] = ()

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static("Grid: live previews", id="grid-title")
        with TileScroll(id="grid-scroll"):
            yield Grid(id="grid")
        yield Footer()

    def on_mount(self) -> None:
        if self.cockpit.snapshot is not None:
            self.apply_snapshot(self.cockpit.snapshot)
        self.set_interval(REFRESH_S, self.refresh_tiles)
        self.refresh_tiles()

    def on_resize(self, _event: Resize) -> None:
        self._layout()

    @property
    def tiles(self) -> list[PreviewTile]:
        """The tiles, in grid order (left to right, top to bottom)."""
        return list(self.query(PreviewTile))

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """Rebuild the tiles when the set of sessions changes (marks and the selection kept)."""
        agents = [a for a in ([snap.mayor] if snap.mayor else []) + snap.agents if a.session in snap.sessions]
        keys = tuple(a.key for a in agents)
        grid = self.query_one("#grid", Grid)
        if keys != self._keys:
            marked = {t.agent_key for t in self.tiles if t.marked}
            focused = self.focused.agent_key if isinstance(self.focused, PreviewTile) else None
            self._keys = keys
            grid.remove_children()
            tiles = [PreviewTile(a) for a in agents]
            for tile in tiles:
                if tile.agent_key in marked:
                    tile.toggle_mark()
            grid.mount_all(tiles)
            if not agents:
                grid.mount(Static("No session is running.", classes="tile-empty"))
            self._layout()
            again = next((t for t in tiles if t.agent_key == focused), tiles[0] if tiles else None)
            if again is not None:
                self.call_after_refresh(again.focus)
        else:
            for tile, agent in zip(self.tiles, agents, strict=False):
                tile.set_agent(agent)

    def _layout(self) -> None:
        """Size the tiles to fill the screen (:func:`grid_shape`); below :data:`MIN_TILE` rows keep
        their smallest height and the grid scrolls."""
        grid = self.query_one("#grid", Grid)
        width, height = self.size.width, max(1, self.size.height - CHROME_LINES)
        cols, rows = grid_shape(len(self._keys), width, height)
        self.shape = (cols, rows)
        grid.styles.grid_size_columns = cols
        grid.styles.grid_size_rows = rows
        tile_h = max(MIN_TILE[1], height // rows)
        grid.styles.grid_rows = f"{tile_h}"
        grid.styles.height = tile_h * rows

    def refresh_tiles(self) -> None:
        """Capture the visible tiles' sessions in a thread."""
        wanted = [(t, t.session) for t in self.tiles if t.on_screen and t.session]
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

    # ---- keys -------------------------------------------------------------------------------------
    def _selected(self) -> PreviewTile | None:
        focused = self.focused
        return focused if isinstance(focused, PreviewTile) else None

    def _move(self, step: int) -> None:
        tiles = self.tiles
        if not tiles:
            return
        current = self._selected()
        index = tiles.index(current) if current in tiles else 0
        target = index + step
        if 0 <= target < len(tiles):
            tiles[target].focus()
            tiles[target].scroll_visible()

    def action_left(self) -> None:
        """Select the tile on the left."""
        self._move(-1)

    def action_right(self) -> None:
        """Select the tile on the right."""
        self._move(1)

    def action_up(self) -> None:
        """Select the tile above."""
        self._move(-self.shape[0])

    def action_down(self) -> None:
        """Select the tile below."""
        self._move(self.shape[0])

    def action_mark(self) -> None:
        """Mark or unmark the selected tile (a broadcast nudge goes to the marked ones)."""
        tile = self._selected()
        if tile is not None:
            tile.toggle_mark()

    def action_open(self) -> None:
        """Back to the main screen with the selected tile's agent selected."""
        tile = self._selected()
        if tile is not None:
            key = tile.agent_key
            self.app.pop_screen()
            self.cockpit.select_agent(key)

    def action_nudge(self) -> None:
        """Ask for one text and nudge every marked agent with it (the selected one when none is
        marked), each with the cockpit's nudge (:meth:`gastown_tui.actions.CockpitActions.nudge`) by
        the agent's address (:func:`core.nudge.target_of`)."""
        targets = [t for t in self.tiles if t.marked] or [t for t in [self._selected()] if t is not None]
        if not targets:
            self.notify("no session to nudge", severity="warning")
            return
        sessions = [t.session for t in targets]
        label = targets[0].agent_key if len(targets) == 1 else f"{len(targets)} agents ({', '.join(sessions)})"
        by = [nudge.target_of(t.agent_key, t.session) for t in targets]  # a shell gets it as mail there

        def send(text: str | None) -> None:
            if not text:
                return
            for target in by:
                self.cockpit.actions.nudge(target, text)
            for tile in targets:
                if tile.marked:
                    tile.toggle_mark()

        self.app.push_screen(NudgeModal(label), send)
