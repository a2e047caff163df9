"""The help screen: every key of the cockpit (the main rows of :data:`gastown_tui.screens.keys.KEYS`),
with the keys a ``[keys]`` table rebound (:func:`gastown_tui.screens.keys.key_display`) and each
row's binding id (what ``[keys]`` names).

The keys are one styled text (a ``Static``), not a ``DataTable``: the screen is built once and kept
(see ``MainScreen.action_help``), but each time it is shown its styles are refreshed and every line
drawn again, and a table's cells cost several times what lines of text do (``bench/bench_cockpit.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gastown_tui.screens.keys import KEYS, bindings, key_display


def keys_text(keymap: Mapping[str, str] | None = None) -> Text:
    """The main rows as three columns: the key in bold (as ``keymap`` binds it), padded to the
    longest key, what it does, and the binding id (dim, in brackets, for ``[keys]`` in town.toml)."""
    rows = [(key_display(k, keymap), k.help, k.id if k.rebindable else "") for k in KEYS if k.help]
    width = max(len(key) for key, *_ in rows) + 2
    text = Text()
    text.append("key".ljust(width), style="bold underline")
    text.append("what it does", style="bold underline")
    text.append("  [binding id]\n", style="dim")
    for key, help_text, kid in rows:
        text.append(key.ljust(width), style="bold")
        text.append(help_text)
        text.append(f"  [{kid}]\n" if kid else "\n", style="dim")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    """A table of keys and what they do; escape, q or ? closes it."""

    BINDINGS = bindings("help")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Gas Town cockpit: keys", id="help-title")
            yield Static(keys_text(getattr(self.app, "key_overrides", None)), id="help-keys")
            yield Static(
                "Watching a terminal sends it nothing: enter (or a click) attaches it, and then it takes every "
                "key except ctrl+], which gives the keys back. Rebind keys by id in town.toml's [keys] table.",
                id="help-note",
            )

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
