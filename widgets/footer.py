"""The cockpit's footer: Textual's ``Footer``, following the focus at once and rebuilt only when the
keys it shows change.

Why Textual's own footer lagged 0.6 to 2 s behind the focus on a busy cockpit: ``Screen.set_focus``
asks for the bindings refresh only after the next screen refresh (``call_after_refresh``), and the
footer, told of it, recomposes after yet another refresh; on the event loop of a cockpit drawing a
live terminal and reading the town every second each "after the next refresh" waited for the loop to
go idle. This footer watches the screen's ``focused`` attribute itself and recomposes in the same
turn of the loop.

Textual's footer also recomposes (every key a new widget, each styled) whenever a screen refreshes
its bindings, even when the same keys are active: on the cockpit's 160x50 main screen that was a
large part of the CPU time of opening and closing the help screen (see ``bench/bench_cockpit.py``),
so the shown keys are compared first.

While a terminal is attached (:attr:`widgets.terminal.TerminalView.attached`) the footer shows one
line instead of keys: :func:`widgets.sessionpane.attached_note` (which agent has the keys, the chord
that leaves).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from widgets.safe_text import plain
from widgets.sessionpane import SessionPane, attached_note
from widgets.terminal import TerminalView


class CockpitFooter(Footer):
    """A ``Footer`` that follows the focus at once and recomposes only when what it shows differs
    (the keys: key, action, description, enabled, tooltip; or the attached terminal's note)."""

    DEFAULT_CSS = """
    CockpitFooter .attached-note {
        width: 1fr;
        background: $warning;
        color: $text;
        text-style: bold;
        padding: 0 1;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple | None = None

    def on_mount(self) -> None:
        # Footer's own on_mount (subscribing to the screen's bindings signal) runs too: Textual calls
        # the handler of each class.
        self.watch(self.screen, "focused", self._focus_moved, init=False)

    def _focus_moved(self, _focused: Widget | None) -> None:
        self.bindings_changed(self.screen)

    def _attached_pane(self) -> SessionPane | None:
        """The session pane whose terminal has the focus and the keys, or None."""
        focused = self.screen.focused
        if isinstance(focused, TerminalView) and focused.attached and isinstance(focused.parent, SessionPane):
            return focused.parent
        return None

    def compose(self) -> ComposeResult:
        pane = self._attached_pane() if self.is_attached else None
        if pane is not None:
            yield Static(plain(attached_note(pane.session or "", pane.detach_display())), classes="attached-note")
            return
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        """Textual's hook on the screen's ``bindings_updated_signal`` (and this footer's focus watch):
        recompose now if what is shown changed."""
        self._bindings_ready = True
        if not (self.is_attached and screen is self.screen and screen.app.app_focus):
            return
        pane = self._attached_pane()
        shown: tuple = (
            ("attached", pane.session, pane.detach_display())
            if pane is not None
            else tuple(
                (binding.key, binding.action, binding.description, enabled, tooltip)
                for _node, binding, enabled, tooltip in screen.active_bindings.values()
                if binding.show
            )
        )
        if shown == self._shown:
            return
        self._shown = shown
        self.call_later(self.recompose)  # the footer's next message, not after the next refresh
