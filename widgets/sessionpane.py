"""The session pane: the live terminal of the selected agent (a ``tmux attach`` in a TerminalView), or a
line saying why there is none (no session yet, session ended, tmux down). Only one terminal is
emulated at a time: switching agents unmounts the old TerminalView (its tmux client detaches).

The client is ended with SIGKILL (``CLIENT_STOP_SIGNAL``), not hung up: a hung-up client tells the
server it is exiting, and the server drops the client's session before it looks up the
``client-detached`` hook (tmux 3.3 ``server-client.c``, ``MSG_EXITING``), so the hook that puts the
window back to its own size (:func:`core.sessions.size_hook`) was looked up in the most recently used
session, the one just attached, and the window left kept the cockpit's size. A killed client is lost
with its session, whose hook runs.

Watching never sends keys: the pane can take the focus (``tab``, the cockpit's number keys) and then
shows the terminal without giving it a key; ``enter`` on the focused pane (``ATTACH_KEY``, binding id
``attach``) or a click on the terminal attaches it. While attached the pane's border says so
(:func:`attached_note`: "attached: keys go to <session>, ctrl+] to leave") in the warning colour.
"""

from __future__ import annotations

import os
import signal

from textual.binding import Binding
from textual.containers import Container
from textual.widgets import Static

from widgets.safe_text import plain
from widgets.terminal import DETACH_KEY, TerminalView

#: The signal that ends a terminal's tmux client (see the module docstring).
CLIENT_STOP_SIGNAL = signal.SIGKILL

#: The key that attaches the focused pane's terminal (the agents panel binds the same id).
ATTACH_KEY = "enter"
ATTACH_ID = "attach"


def attached_note(session: str, detach: str = "ctrl+]") -> str:
    """The line that says a terminal has the keys: ``session`` its name, ``detach`` the chord as shown."""
    return f"attached: keys go to {session}, {detach} to leave"


class SessionPane(Container, can_focus=True):
    """Shows one session. ``session``: the name shown (None: a note only). ``terminal``: the live
    TerminalView or None. Focusable without attaching; ``enter`` attaches."""

    DEFAULT_CSS = """
    SessionPane.-attached {
        border: heavy $warning !important;
        border-title-color: $warning !important;
    }
    """
    #: priority: the app attaches before it reads the next key, which then goes to the agent (as a
    #: plain binding, keys typed right after enter were still the cockpit's: ``s`` opened the sling dialog)
    BINDINGS = [Binding(ATTACH_KEY, "attach", "Attach", id=ATTACH_ID, priority=True)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session: str | None = None
        self.terminal: TerminalView | None = None
        self._note = Static("", classes="pane-note")
        self._note_text = ""
        self._title = ""
        self._shown_title = ""

    def compose(self):
        yield self._note

    def show_session(self, session: str, argv: list[str]) -> None:
        """Attach to ``session`` with ``argv`` (a no-op while it is already shown: after its client
        exits, :meth:`show_note` drops the terminal and the next call attaches again)."""
        if self.session == session and self.terminal is not None:
            return
        self._drop_terminal()
        self.session = session
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.terminal = TerminalView(argv, env=env, stop_signal=CLIENT_STOP_SIGNAL, classes="session-terminal")
        self._note.display = False
        self.mount(self.terminal)

    def show_note(self, note: str, session: str | None = None) -> None:
        """Show ``note`` instead of a terminal (``session``: what the pane is about, if anything).
        The note is text, never markup (it names agents and beads). Showing the note already shown
        redraws nothing."""
        self._drop_terminal()
        self.session = session
        if note != self._note_text:
            self._note_text = note
            self._note.update(plain(note))
        self._note.display = True

    def set_title(self, title: str) -> None:
        """Put ``title`` on the pane's border, as text (a repaint only when it changes: setting
        Textual's ``border_title`` always repaints the whole pane). While attached the border shows
        :func:`attached_note` and ``title`` is kept for after."""
        self._title = title
        self._show_title()

    @property
    def attached(self) -> bool:
        """True while the pane's terminal has the keys."""
        return self.terminal is not None and self.terminal.attached

    def action_attach(self) -> None:
        """Attach the terminal (keys go to the agent until the detach chord)."""
        if self.terminal is None or not self.terminal.attach():
            self.notify("no live terminal for this agent", severity="warning")

    def on_terminal_view_attached(self, event: TerminalView.Attached) -> None:
        self._show_title()

    def on_terminal_view_detached(self, event: TerminalView.Detached) -> None:
        self._show_title()

    def _show_title(self) -> None:
        attached = self.attached
        self.set_class(attached, "-attached")
        shown = attached_note(self.session or "", self.detach_display()) if attached else self._title
        if shown != self._shown_title:
            self._shown_title = shown
            self.border_title = plain(shown)

    def detach_display(self) -> str:
        """The detach chord as shown: ``ctrl+]``, or the key a keymap put on the ``detach`` id, as written."""
        keys = self.terminal.detach_keys if self.terminal is not None else (DETACH_KEY,)
        return "ctrl+]" if keys[0] == DETACH_KEY else keys[0]

    def _drop_terminal(self) -> None:
        if self.terminal is not None:
            terminal, self.terminal = self.terminal, None
            terminal.remove()
            self._show_title()
