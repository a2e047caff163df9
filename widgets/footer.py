"""The cockpit's footer: Textual's ``Footer``, rebuilt only when the keys it shows change.

Textual's footer recomposes (every key a new widget, each styled) whenever a screen refreshes its
bindings: on each focus change and each time a screen comes back from under a dialog, even when the
same keys are active. On the cockpit's 160x50 main screen that was a large part of the CPU time of
opening and closing the help screen (see ``bench/bench_cockpit.py``).
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class CockpitFooter(Footer):
    """A ``Footer`` that recomposes only when the shown keys (key, action, description, enabled,
    tooltip) differ from the ones it shows."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple | None = None

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
