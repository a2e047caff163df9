"""The session pane: the live terminal of the selected agent (a ``tmux attach`` in a TerminalView), or a
line saying why there is none (no session yet, session ended, tmux down). Only one terminal is
emulated at a time: switching agents unmounts the old TerminalView (its tmux client detaches)."""

from __future__ import annotations

import os

from textual.containers import Container
from textual.widgets import Static

from widgets.safe_text import plain
from widgets.terminal import TerminalView


class SessionPane(Container):
    """Shows one session. ``session``: the name shown (None: a note only). ``terminal``: the live
    TerminalView or None."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session: str | None = None
        self.terminal: TerminalView | None = None
        self._note = Static("", classes="pane-note")
        self._note_text = ""
        self._title = ""

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
        self.terminal = TerminalView(argv, env=env, classes="session-terminal")
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
        Textual's ``border_title`` always repaints the whole pane)."""
        if title != self._title:
            self._title = title
            self.border_title = plain(title)

    def _drop_terminal(self) -> None:
        if self.terminal is not None:
            terminal, self.terminal = self.terminal, None
            terminal.remove()
