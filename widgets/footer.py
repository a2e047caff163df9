"""The cockpit's footer: Textual's ``Footer``, rebuilt only when the keys it shows change.

Textual's footer recomposes (every key a new widget, each styled) whenever a screen refreshes its
bindings: on each focus change and each time a screen comes back from under a dialog, even when the
same keys are active. On the cockpit's 160x50 main screen that was a large part of the CPU time of
opening and closing the help screen (see ``bench/bench_cockpit.py``).

The keys always fit the width (issue 21): when their words do not, the last keys (the app's and the
screen's, after the focused panel's) lose their words, then the first ones, until they do; the help
screen and the palette still name them all.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class CockpitFooter(Footer):
    """A ``Footer`` that recomposes only when the shown keys (key, action, description, enabled,
    tooltip) differ from the ones it shows."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple | None = None
        self._width = 0

    def bindings_changed(self, screen: Screen) -> None:
        """Textual's hook on the screen's ``bindings_updated_signal``: recompose if the keys changed."""
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = tuple(
                (binding.key, binding.action, binding.description, enabled, tooltip)
                for _node, binding, enabled, tooltip in screen.active_bindings.values()
                if binding.show
            )
            if shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        """Textual's keys, the last ones' words dropped until they fit the footer's width."""
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey) and not w.has_class("-command-palette")]
        width = self.size.width or self.app.size.width
        compact = self.compact
        # Textual's footer CSS: a compact key is the key, a space and the words, then a margin of 1;
        # otherwise the key padded by 1 each side and the words by 1 after (a key alone has no padding);
        # the palette's key also has a padding of 1 and a border of 1
        palette = sum(cell_len(w.key_display) + cell_len(w.description) + 5 for w in widgets if w not in keys)

        def need() -> int:
            return palette + sum(
                cell_len(k.key_display)
                + (1 if compact else 0)
                + ((cell_len(k.description) + (1 if compact else 3)) if k.description else 0)
                for k in keys
            )

        for key in reversed(keys):
            if need() <= width:
                break
            key.description = ""
        yield from widgets

    def on_resize(self, event: events.Resize) -> None:
        """Another width: lay the keys out again (their words may fit now, or no longer)."""
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
