"""The cockpit's footer: Textual's ``Footer``, following the focus at once, rebuilt only when the keys
it shows change, and always fitting its width.

Why Textual's own footer lagged behind the focus on a busy cockpit (0.6 to 2 s in the issue; 0.15 to
0.35 s here on a quiet run): ``Screen.set_focus`` asks for the bindings refresh only after the next
screen refresh (``call_after_refresh``), and the footer, told of it, recomposes after yet another
refresh; on the event loop of a cockpit drawing a live terminal and reading the town every second,
each "after the next refresh" waits for the loop to go idle. This footer watches the screen's
``focused`` attribute itself and recomposes as its next message (0.03 to 0.08 s after the focus).

Textual's footer also recomposes (every key a new widget, each styled) whenever a screen refreshes
its bindings, even when the same keys are active: on the cockpit's 160x50 main screen that was a
large part of the CPU time of opening and closing the help screen (see ``bench/bench_cockpit.py``),
so the shown keys are compared first.

The keys always fit the width (issue 21): when their words do not, the last keys (the app's and the
screen's, after the focused panel's) lose their words, then the first ones, until they do; the help
screen and the palette still name them all.

While a terminal is attached (:attr:`widgets.terminal.TerminalView.attached`) the footer shows one
line instead of keys: :func:`widgets.sessionpane.attached_note` (which agent has the keys, the chord
that leaves).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

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
        self._width = 0

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

    def compose(self) -> ComposeResult:
        """The attached terminal's note; else Textual's keys, the last ones' words dropped until they
        fit the footer's width."""
        pane = self._attached_pane() if self.is_attached else None
        if pane is not None:
            yield Static(plain(attached_note(pane.session or "", pane.detach_display())), classes="attached-note")
            return
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
