"""Lists' own keys, as k9s and lazygit have them: ``j``/``k`` move the cursor (:data:`LIST_BINDINGS`,
bound by every cockpit table and the agents tree), and ``/`` filters the focused list as you type.

The filter is a :class:`FilterInput` the screen mounts under a list that has a ``set_filter(text)``
method (the agents tree, the convoys, the ready beads, the refinery queue). Each keystroke calls ``set_filter``;
``enter`` keeps the filter and goes back to the list; ``escape`` clears it and removes the input.
What matches is one rule, :func:`matches`: every word of the filter occurs, case-insensitively, in
one of the row's fields (agent-written text is only ever compared, never shown from here).
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Input

#: Keys and binding ids of the cursor moves (the cockpit's key table lists them; ``[keys]`` rebinds them).
DOWN_KEY, DOWN_ID = "j", "cursor_down"
UP_KEY, UP_ID = "k", "cursor_up"
#: Key and binding id of the filter box's clear-and-close.
CLEAR_KEY, CLEAR_ID = "escape", "filter.clear"
#: Key and binding id of the filter box's keep-and-go-back (the input's submit key).
KEEP_KEY, KEEP_ID = "enter", "filter.keep"
#: The bindings a list adds for them (Tree and DataTable both have ``cursor_down``/``cursor_up`` actions).
LIST_BINDINGS = [
    Binding(DOWN_KEY, "cursor_down", "Down", show=False, id=DOWN_ID),
    Binding(UP_KEY, "cursor_up", "Up", show=False, id=UP_ID),
]


def matches(query: str, *fields: object) -> bool:
    """True when every word of ``query`` occurs in one of ``fields`` (case-insensitive; None and
    empty fields never match a word). An empty or blank query matches everything."""
    words = query.casefold().split()
    if not words:
        return True
    text = [str(f).casefold() for f in fields if f]
    return all(any(w in t for t in text) for w in words)


class FilterInput(Input):
    """The filter of ``target`` (a widget with ``set_filter(text: str)``): filters as you type,
    ``enter`` goes back to the list keeping it, ``escape`` clears it and removes this input."""

    DEFAULT_CSS = """
    FilterInput {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    """
    #: claimed from the panels above (:meth:`check_consume_key`): enter keeps the filter where the
    #: agents panel's own (priority) enter would attach a terminal
    BINDINGS = [
        Binding(CLEAR_KEY, "clear_filter", "Clear filter", show=True, id=CLEAR_ID),
        Binding(KEEP_KEY, "keep_filter", "Keep filter", show=False, id=KEEP_ID),
    ]

    def __init__(self, target: Widget, value: str = "") -> None:
        super().__init__(value=value, placeholder="filter: type to narrow, enter keeps, esc clears", compact=True)
        self.target = target

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.target.set_filter(event.value)  # type: ignore[attr-defined]

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """The input's keys (printable characters) and its own bindings' keys: no panel above takes them."""
        return key in self._bindings.key_to_bindings or super().check_consume_key(key, character)

    def action_keep_filter(self) -> None:
        """Keep the filter and focus the list again, at once (``Input.Submitted`` would move it only
        when handled, after the next key had reached this input)."""
        self.screen.set_focus(self.target)

    def action_clear_filter(self) -> None:
        """Clear the filter, remove the input, focus the list again (at once: ``focus()`` would wait
        a turn of the loop, and the removal could move the focus elsewhere meanwhile)."""
        self.target.set_filter("")  # type: ignore[attr-defined]
        self.screen.set_focus(self.target)
        self.remove()
