"""The help screen: every key of the cockpit (from :data:`gastown_tui.screens.keys.KEYMAP`).

The keys are one styled text (a ``Static``), not a ``DataTable``: the screen is built once and kept
(see ``MainScreen.action_help``), but each time it is shown its styles are refreshed and every line
drawn again, and a table's cells cost several times what lines of text do (``bench/bench_cockpit.py``).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gastown_tui.screens.keys import KEYMAP, bindings


def keys_text() -> Text:
    """The KEYMAP as two columns: the key in bold, padded to the longest key, then what it does."""
    width = max(len(key) for key, *_ in KEYMAP) + 2
    text = Text()
    text.append("key".ljust(width), style="bold underline")
    text.append("what it does\n", style="bold underline")
    for key, _action, _title, help_text in KEYMAP:
        text.append(key.ljust(width), style="bold")
        text.append(f"{help_text}\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    """A table of keys and what they do; escape, q or ? closes it."""

    BINDINGS = bindings("help")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Gas Town cockpit: keys", id="help-title")
            yield Static(keys_text(), id="help-keys")
            yield Static("Attached terminals take every key except ctrl+], which gives the keys back.", id="help-note")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
