"""The help screen: every key of the cockpit (from :data:`gastown_tui.screens.keys.KEYMAP`)."""

from __future__ import annotations


from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from gastown_tui.screens.keys import KEYMAP


class HelpScreen(ModalScreen[None]):
    """A table of keys and what they do; escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Gas Town cockpit: keys", id="help-title")
            table = DataTable(id="help-keys", cursor_type="none", show_header=True)
            yield table
            yield Static("Attached terminals take every key except ctrl+], which gives the keys back.",
                         id="help-note")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "what it does")
        for key, _action, _title, text in KEYMAP:
            table.add_row(key, text)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
