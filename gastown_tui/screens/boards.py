"""The boards view (issue 22): the open items of the town's shared boards with their claims and this
town's part in each (:class:`widgets.board_items.BoardItems`), refreshed from the boards every
``[board] poll_interval`` seconds in a worker (git over the network, never on the UI thread). Keys
claim the item under the cursor for the rig of its repository and give a claim back; posting is on
the main screen's ready beads (``P``). Titles are other towns' agent text: shown as text."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from widgets.board_items import BoardItems


class BoardsScreen(Screen):
    """The board items table; escape or B goes back."""

    BINDINGS = bindings("boards")

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static("Boards", id="boards-title")
        yield BoardItems(id="board-items")
        yield Static("Reading the boards...", id="boards-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(BoardItems).focus()
        self.action_refresh()
        interval = float(self.cockpit.actions.town.setting("board", "poll_interval"))
        self.set_interval(max(5.0, interval), self.action_refresh)

    def action_refresh(self) -> None:
        """Fetch the boards again (in a worker) and show what they hold."""
        self.cockpit.actions.board_rows(self._show)

    def _show(self, rows: list) -> None:
        if not self.is_attached:
            return
        self.query_one(BoardItems).update_from(rows)
        self.query_one("#boards-empty", Static).update(
            "" if rows else "No open items: post a ready bead with P on the main screen ('gt board add' first)."
        )

    def action_claim(self) -> None:
        """Claim the item under the cursor for the rig of its repository, as ``gt board claim``."""
        key = self.query_one(BoardItems).cursor_item
        if key is None:
            self.notify("no item under the cursor", severity="warning")
            return
        self.cockpit.actions.board_claim(key)
        self.action_refresh()

    def action_release(self) -> None:
        """Give this town's claim on the item under the cursor back, as ``gt board release``."""
        key = self.query_one(BoardItems).cursor_item
        if key is None:
            self.notify("no item under the cursor", severity="warning")
            return
        self.cockpit.actions.board_release(key)
        self.action_refresh()
