"""The mail view: the Mayor's inbox (``mayor/``), read and unread; Enter opens a message and marks it
read, ``c`` composes a new message (To, Subject, Body), ``r`` answers the open one (to its sender, in
its thread). Mail is message beads (``core.mail``); sending is the cockpit action over
:func:`core.mail.send` / :func:`core.mail.reply`, the functions ``gt mail send`` / ``gt mail reply``
call, from the Mayor's address. Reads and writes run in thread workers. The screen is built once and
kept (:func:`open_mail`); the inbox is read each time it is shown. Senders, subjects and bodies are
agent-written: shown as text, never markup (:mod:`widgets.safe_text`)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Static

from core import mail
from core.errors import GtError
from core.mail import Message
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.kept import push_kept
from gastown_tui.screens.ledger_dialogs import ComposeMailModal
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.tables import PlainTable

ADDRESS = "mayor/"
#: Name of the installed mail screen (:func:`open_mail`).
SCREEN = "mail"


def open_mail(app: App) -> None:
    """Show the Mayor's inbox on the kept screen (:func:`gastown_tui.screens.kept.push_kept`), read
    again."""
    push_kept(app, SCREEN, MailScreen, MailScreen, lambda _screen: None)


class MailScreen(Screen):
    """Inbox list on the left, the open message on the right; escape or m goes back."""

    BINDINGS = bindings("mail")

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []
        #: The message shown on the right (what ``r`` answers), or None.
        self.open_message: Message | None = None

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static(f"Mail: {ADDRESS}", id="mail-title")
        with Horizontal():
            yield PlainTable(id="inbox", cursor_type="row")
            yield Static("Select a message and press enter.", id="message")
        yield CockpitFooter()

    def on_mount(self) -> None:
        table = self.query_one(PlainTable)
        table.add_columns(" ", "from", "subject")

    def on_screen_resume(self) -> None:
        """Each time the inbox is shown (and back from a dialog): the list focused, read again."""
        self.query_one(PlainTable).focus()
        self.load()

    @work(thread=True, exclusive=True, group="mail")
    def load(self) -> None:
        """Read the inbox (in a thread) and show it."""
        try:
            found = mail.inbox(self.cockpit.town, ADDRESS, include_read=True)
        except GtError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._show, list(reversed(found)))

    def _show(self, messages: list[Message]) -> None:
        self.messages = messages
        table = self.query_one(PlainTable)
        row = table.cursor_row
        table.clear()
        for m in messages:
            table.add_row(Text(" " if m.read else "●", style="bold"), m.sender, m.subject)
        if messages:
            table.move_cursor(row=min(row, len(messages) - 1))
        else:
            self.query_one("#message", Static).update("The Mayor's inbox is empty.")

    def on_data_table_row_selected(self, event: PlainTable.RowSelected) -> None:
        """Enter on a row (the table takes the key first): open the message."""
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        """Show the message under the cursor and mark it read."""
        table = self.query_one(PlainTable)
        if not self.messages:
            return
        m = self.messages[min(table.cursor_row, len(self.messages) - 1)]
        self.open_message = m
        self.query_one("#message", Static).update(
            Text.assemble(
                plain(m.subject, "bold"), "\nfrom ", plain(m.sender), " · ", plain(m.created_at), "\n\n", plain(m.body)
            )
        )
        if not m.read:
            self._mark_read(m.id)

    @work(thread=True, group="mail-read")
    def _mark_read(self, msg_id: str) -> None:
        try:
            mail.read(self.cockpit.town, msg_id, actor="mayor/")
        except GtError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.load)

    def action_compose(self) -> None:
        """Write a new message from the Mayor (To, Subject, Body)."""
        actions = self.cockpit.actions
        self.app.push_screen(
            ComposeMailModal(ADDRESS, lambda letter, done, refused: actions.send_mail(letter, ADDRESS, done, refused)),
            self._sent,
        )

    def action_reply(self) -> None:
        """Answer the open message (or the one under the cursor) to its sender."""
        m = self.open_message
        if m is None:
            if not self.messages:
                self.notify("no message to reply to", severity="warning")
                return
            self.action_open()
            m = self.open_message
        assert m is not None
        actions = self.cockpit.actions
        self.app.push_screen(
            ComposeMailModal(
                ADDRESS,
                lambda letter, done, refused: actions.send_mail(letter, ADDRESS, done, refused),
                to=m.sender,
                subject=mail.reply_subject(m.subject),
                reply_to=m.id,
            ),
            self._sent,
        )

    def _sent(self, messages: object) -> None:
        """The dialog closed: read the inbox again when something was sent (mail to the Mayor lands here)."""
        if messages is not None:
            self.load()
