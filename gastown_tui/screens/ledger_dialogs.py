"""The detail views' dialogs: edit a bead (title, priority, status, labels), close it with a reason,
comment on it, and compose or answer mail (issue 21, part 3).

Each does its work through one cockpit action (:class:`gastown_tui.actions.CockpitActions`: the
ledger's and the mail's own functions, the ones ``gt bead`` and ``gt mail`` call), given as
``act(what, done, refused)``; a refusal (a close while blocked, an unknown address) is shown in the
dialog, which stays open (:class:`gastown_tui.screens.modals.ActingDialog`). Fields are prefilled
with agent-written text (titles, subjects, addresses): an ``Input`` shows its value as text, and
every ``Static`` here takes it through :func:`widgets.safe_text.plain`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static, TextArea

from core.beads.model import STATUSES, Issue
from core.beads.verbs import comma_list
from core.errors import GtError
from core.plaintext import one_line
from gastown_tui.actions import BeadEdit, Letter
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.modals import ActingDialog
from widgets.safe_text import plain

#: Runs a cockpit action on what a dialog holds: ``act(value, done, refused)``.
Act = Callable[[Any, Callable[[Any], None], Callable[[GtError], None]], None]


class BeadEditModal(ActingDialog):
    """Title, priority, status and labels of ``issue``, prefilled; Enter in a field (or ctrl+s) saves
    through ``act(BeadEdit, done, refused)`` (:meth:`gastown_tui.actions.CockpitActions.edit_bead`).
    Dismisses with the bead as stored."""

    BINDINGS = bindings("bead_edit")

    def __init__(self, issue: Issue, act: Act, statuses: tuple[str, ...] = STATUSES) -> None:
        super().__init__()
        self.issue = issue
        self.act = act
        self.statuses = statuses if issue.status in statuses else (*statuses, issue.status)
        #: The title and labels as the fields first show them (one line, no control characters): a
        #: field left as shown changes nothing, so a title the agent wrote with an escape sequence is
        #: not rewritten by an edit of its priority.
        self.shown_title = one_line(issue.title)
        self.shown_labels = ", ".join(one_line(lb) for lb in issue.labels)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(plain(f"Edit {self.issue.id}"), classes="dialog-title")
            yield Label("title")
            yield Input(self.shown_title, id="edit-title")
            with Horizontal(classes="fields"):
                with Vertical(classes="field"):
                    yield Label("priority (0-4)")
                    yield Input(str(self.issue.priority), id="edit-priority", restrict=r"[0-4]?", max_length=1)
                with Vertical(classes="field"):
                    yield Label("status")
                    yield Select(
                        [(s, s) for s in self.statuses], value=self.issue.status, allow_blank=False, id="edit-status"
                    )
            yield Label("labels (comma separated)")
            yield Input(self.shown_labels, id="edit-labels")
            yield Static("", classes="dialog-error")
            yield Static("enter/ctrl+s save · tab next field · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#edit-title", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def edit(self) -> BeadEdit:
        """What the fields hold; a title or labels field left as shown, or an empty priority, is None
        (kept as the bead has it)."""
        priority = self.query_one("#edit-priority", Input).value
        title = self.query_one("#edit-title", Input).value
        labels = self.query_one("#edit-labels", Input).value
        return BeadEdit(
            title=None if title == self.shown_title else title,
            priority=int(priority) if priority else None,
            status=str(self.query_one("#edit-status", Select).value),
            labels=None if labels == self.shown_labels else tuple(comma_list([labels])),
        )

    def action_submit(self) -> None:
        """Save the fields (the ledger refuses an empty title or a close while blocked: shown here)."""
        if self.begin():
            self.act(self.edit(), self.finished, self.refused)


class CloseBeadModal(ActingDialog):
    """The reason to close bead ``bead`` with; Enter closes it through ``act(reason, done, refused)``
    (:meth:`gastown_tui.actions.CockpitActions.close_bead`). Dismisses with the closed bead."""

    def __init__(self, bead: str, act: Act) -> None:
        super().__init__()
        self.bead = bead
        self.act = act

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(plain(f"Close {self.bead}"), classes="dialog-title")
            yield Input("done", placeholder="reason", id="close-reason")
            yield Static("", classes="dialog-error")
            yield Static("enter close · esc cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.begin():
            self.act(event.value.strip(), self.finished, self.refused)


class CommentModal(ActingDialog):
    """A comment on bead ``bead`` (several lines); ctrl+s adds it through ``act(text, done, refused)``
    (:meth:`gastown_tui.actions.CockpitActions.comment_bead`). Dismisses with the comment."""

    BINDINGS = bindings("comment")

    def __init__(self, bead: str, act: Act) -> None:
        super().__init__()
        self.bead = bead
        self.act = act

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(plain(f"Comment on {self.bead}"), classes="dialog-title")
            yield TextArea(id="comment-text", soft_wrap=True)
            yield Static("", classes="dialog-error")
            yield Static("ctrl+s add · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#comment-text", TextArea).focus()

    def action_submit(self) -> None:
        """Add the comment (empty text is refused by the ledger: shown here)."""
        if self.begin():
            self.act(self.query_one("#comment-text", TextArea).text, self.finished, self.refused)


class ComposeMailModal(ActingDialog):
    """To, Subject and Body of a message from ``sender``; ctrl+s (or Enter in To/Subject on the way
    to the body) sends it through ``act(Letter, done, refused)`` (:meth:`gastown_tui.actions.
    CockpitActions.send_mail`). A reply (``reply_to`` a message id) goes to that message's sender:
    To is shown and fixed. Dismisses with the messages sent."""

    BINDINGS = bindings("compose")

    def __init__(self, sender: str, act: Act, to: str = "", subject: str = "", reply_to: str | None = None) -> None:
        super().__init__()
        self.sender = sender
        self.act = act
        self.to = to
        self.subject = subject
        self.reply_to = reply_to

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            title = f"Reply to {self.to}" if self.reply_to else f"New message from {self.sender}"
            yield Static(plain(title), classes="dialog-title")
            yield Label("To")
            yield Input(
                one_line(self.to),
                placeholder="mayor/, <rig>/polecats/<name>, <rig>/witness, @town, @rig/<rig> ...",
                id="mail-to",
                disabled=self.reply_to is not None,
            )
            yield Label("Subject")
            yield Input(one_line(self.subject), placeholder="subject", id="mail-subject")
            yield Label("Body")
            yield TextArea(id="mail-body", soft_wrap=True)
            yield Static("", classes="dialog-error")
            yield Static("ctrl+s send · tab next field · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#mail-body" if self.reply_to else "#mail-to").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in To or Subject moves on (the body takes several lines; ctrl+s sends)."""
        event.stop()
        self.query_one("#mail-subject" if event.input.id == "mail-to" else "#mail-body").focus()

    def letter(self) -> Letter:
        """What the fields hold."""
        return Letter(
            self.query_one("#mail-to", Input).value.strip(),
            self.query_one("#mail-subject", Input).value,
            self.query_one("#mail-body", TextArea).text,
            self.reply_to,
        )

    def action_submit(self) -> None:
        """Send (a bad address or an empty subject is refused by :mod:`core.mail`: shown here)."""
        if self.begin():
            self.act(self.letter(), self.finished, self.refused)
