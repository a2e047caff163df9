"""Mail: messages between the town's agents, kept as message beads (DESIGN section 1; issue 7 item 6).

A message is a bead of ``issue_type = "message"`` with the town prefix (``hq-...``): title = subject,
description = body, ``created_by`` = sender, ``assignee`` = recipient, metadata ``{"from", "to",
"thread", "reply_to"}``, and a ``replies-to`` edge to the message it answers. Status ``open`` means
unread; reading closes it (reason ``read``); archiving closes it with the label ``archived`` so the
inbox hides it. Messages are plumbing: beads never offers them as ready work.

Addresses (:func:`parse_address`): ``mayor/``, ``deacon/``, ``<rig>/witness``, ``<rig>/refinery``,
``<rig>/polecats/<name>``, ``<rig>/crew/<name>``, and the groups ``@town`` (the mayor, the deacon and
every rig's witness, refinery and polecats), ``@rig/<rig>`` (a rig's witness, refinery and polecats)
and ``@polecats/<rig>``. A group is expanded when sending: one message bead per recipient.

Each message also queues a short "You have mail" nudge for its recipient's session, in the same
transaction (:func:`core.nudge_queue.queue_mail_nudge`); the engine types it when the agent is idle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core import nudge_queue
from core.beads import BeadStore, Issue
from core.errors import GtError, NotFound
from core.names import check_polecat_name, check_rig_name
from core.plaintext import one_line
from core.records import Frozen
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

    from core.db import Database

READ_REASON = "read"
ARCHIVED = "archived"
_ROLE = re.compile(r"^(?P<rig>[^/@]+)/(?P<role>witness|refinery)$")
_WORKER = re.compile(r"^(?P<rig>[^/@]+)/(?P<kind>polecats|crew)/(?P<name>[^/]+)$")


class Message(Frozen):
    """One mail message. ``read``: opened by its recipient; ``thread``: id of the first message of
    the conversation; ``reply_to``: the message this one answers (or None); created_at: RFC 3339;
    priority: 0 urgent, 1 high, 2 normal, 3 low, 4 backlog (Gas Town's mail priorities).

    Immutable, equal and hashed by its fields (:class:`core.records.Frozen`).
    """

    __slots__ = _FIELDS = (
        "id",
        "sender",
        "to",
        "subject",
        "body",
        "created_at",
        "read",
        "archived",
        "thread",
        "reply_to",
        "priority",
    )
    id: str
    sender: str
    to: str
    subject: str
    body: str
    created_at: str
    read: bool
    archived: bool
    thread: str
    reply_to: str | None
    priority: int

    def __init__(
        self,
        id: str,
        sender: str,
        to: str,
        subject: str,
        body: str,
        created_at: str,
        read: bool,
        archived: bool,
        thread: str,
        reply_to: str | None,
        priority: int = 2,
    ) -> None:
        self._set(id, sender, to, subject, body, created_at, read, archived, thread, reply_to, priority)

    def as_dict(self) -> dict[str, Any]:
        """Every field by name, in field order (``gt mail ... --json``)."""
        return {attribute: getattr(self, attribute) for attribute in self.__slots__}


def own_address(actor: str) -> str:
    """The inbox of ``actor`` (a :func:`core.actor.current_actor` name) when it is a mail address,
    else the Mayor's (the human overseer's): whose mail ``gt mail`` shows when no address is given."""
    try:
        return parse_address(actor)
    except GtError:
        return "mayor/"


def parse_address(addr: str) -> str:
    """The canonical form of mail address ``addr`` (``mayor`` -> ``mayor/``).

    Raises GtError naming the accepted forms for anything else (names are checked with core.names,
    so an address never smuggles a path or a shell word).
    """
    a = (addr or "").strip()
    if a in ("mayor", "mayor/", "deacon", "deacon/"):
        return a.rstrip("/") + "/"
    if a == "@town":
        return a
    for group in ("@rig/", "@polecats/"):
        if a.startswith(group):
            _check(check_rig_name, a[len(group) :], addr)
            return a
    m = _ROLE.match(a)
    if m:
        _check(check_rig_name, m["rig"], addr)
        return a
    m = _WORKER.match(a)
    if m:
        _check(check_rig_name, m["rig"], addr)
        _check(check_polecat_name, m["name"], addr)
        return a
    raise GtError(
        f"invalid mail address {addr!r}: use mayor/, deacon/, <rig>/witness, <rig>/refinery, "
        "<rig>/polecats/<name>, <rig>/crew/<name>, @town, @rig/<rig> or @polecats/<rig>"
    )


def _check(checker: Any, value: str, addr: str) -> None:
    try:
        checker(value)
    except GtError as exc:
        raise GtError(f"invalid mail address {addr!r}: {exc}") from exc


def expand(town: Town, db: Database, addr: str) -> list[str]:
    """The individual recipients of ``addr``: itself for a single address, the members for a group.

    Raises GtError for a malformed address, NotFound for a group naming an unknown rig.
    """
    from core import polecats
    from core.rigs import list_rigs, load_rig

    a = parse_address(addr)
    if not a.startswith("@"):
        return [a]
    if a == "@town":
        rigs = [r.name for r in list_rigs(town)]
        out = ["mayor/", "deacon/"]
    else:
        rig = a.split("/", 1)[1]
        load_rig(town, rig)
        rigs = [rig]
        out = []
    for rig in rigs:
        if not a.startswith("@polecats/"):
            out += [f"{rig}/witness", f"{rig}/refinery"]
        out += [p.address for p in polecats.list_polecats(db, rig=rig)]
    return out


def send(
    town: Town,
    to: str,
    subject: str,
    body: str,
    sender: str,
    db: Database | None = None,
    priority: int = 2,
    reply_to: str | None = None,
) -> list[Message]:
    """Send a message from ``sender`` to ``to`` (a single address or a group): one message bead per
    recipient, all in one transaction. Returns the messages (empty for a group with no members).

    priority: 0-4 (0 urgent). reply_to: id of the message this answers (sets thread and a
    ``replies-to`` edge). Raises GtError for a bad address or an empty subject, NotFound for an
    unknown ``reply_to`` or group rig.
    """
    if not subject or not subject.strip():
        raise GtError("a message needs a subject: pass -s SUBJECT")
    store = BeadStore(town, db=db) if db is not None else BeadStore(town)
    recipients = expand(town, store.db, to)
    thread = None
    if reply_to is not None:
        thread = _message(store.get(reply_to)).thread
    out = []
    with store.transaction():
        for rcpt in recipients:
            new_id = store.make_id(town.prefix, title=subject.strip(), description=body or "", actor=sender)
            issue = store.create(
                subject.strip(),
                actor=sender,
                description=body or "",
                id=new_id,
                issue_type="message",
                priority=priority,
                assignee=rcpt,
                deps=[(reply_to, "replies-to")] if reply_to else (),
                metadata={"from": sender, "to": rcpt, "thread": thread or new_id, "reply_to": reply_to},
            )
            out.append(_message(issue))
            nudge_queue.queue_mail_nudge(store.db, rcpt, sender)  # "You have mail", typed at the agent's next idle
    return out


def _message(issue: Issue) -> Message:
    if issue.issue_type != "message":
        raise NotFound(f"{issue.id} is a {issue.issue_type}, not a message: list mail with 'gt mail inbox'")
    meta = issue.metadata or {}
    return Message(
        issue.id,
        str(meta.get("from") or issue.created_by),
        issue.assignee,
        issue.title,
        issue.description,
        issue.created_at,
        issue.status == "closed",
        ARCHIVED in issue.labels,
        str(meta.get("thread") or issue.id),
        meta.get("reply_to"),
        issue.priority,
    )


def get(town: Town, msg_id: str, db: Database | None = None) -> Message:
    """The message ``msg_id``. Raises NotFound for an unknown id or a bead that is not a message."""
    store = BeadStore(town, db=db) if db is not None else BeadStore(town)
    return _message(store.get(msg_id))


def inbox(
    town: Town,
    address: str,
    db: Database | None = None,
    include_read: bool = False,
    include_archived: bool = False,
) -> list[Message]:
    """Messages to ``address`` (a single address), oldest first: unread ones, plus read ones with
    ``include_read``, plus archived ones with ``include_archived``. Raises GtError for a group address."""
    a = parse_address(address)
    if a.startswith("@"):
        raise GtError(f"{a} is a group: read the inbox of one address such as mayor/")
    store = BeadStore(town, db=db) if db is not None else BeadStore(town)
    statuses = ["open", "closed"] if include_read or include_archived else ["open"]
    found = [_message(i) for i in store.list(status=statuses, assignee=a, issue_type="message")]
    found = [m for m in found if include_archived or not m.archived]
    return sorted(found, key=lambda m: (m.created_at, m.id))


def read(town: Town, msg_id: str, actor: str, db: Database | None = None) -> Message:
    """Open message ``msg_id``: returns it and marks it read (closes the bead; idempotent)."""
    store = BeadStore(town, db=db) if db is not None else BeadStore(town)
    msg = _message(store.get(msg_id))
    if not msg.read:
        store.close(msg_id, actor, reason=READ_REASON, force=True)
    return _message(store.get(msg_id))


def mark_read(town: Town, msg_id: str, actor: str, db: Database | None = None) -> Message:
    """Mark message ``msg_id`` read without showing it (``gt mail mark-read``; idempotent)."""
    return read(town, msg_id, actor, db)


def mark_unread(town: Town, msg_id: str, actor: str, db: Database | None = None) -> Message:
    """Mark message ``msg_id`` unread again (the bead reopened; idempotent). Raises GtError for an
    archived message: archiving hid it from the inbox on purpose."""
    store = BeadStore(town, db=db) if db is not None else BeadStore(town)
    msg = _message(store.get(msg_id))
    if msg.archived:
        raise GtError(f"{msg.id} is archived: it stays out of the inbox")
    if msg.read:
        store.reopen(msg.id, actor, reason="marked unread")
    return _message(store.get(msg.id))


def _tagless(text: str, width: int = 300) -> str:
    """Agent ``text`` for a hook reminder: one line of at most ``width`` characters, its angle
    brackets made guillemets so it can neither close the reminder nor open a tag of its own."""
    return one_line(text)[:width].replace("<", "\u2039").replace(">", "\u203a")


def _reminder_line(m: Message) -> str:
    return _tagless(f"- {m.id} from {m.sender}: {m.subject}")


def reminder(messages: Sequence[Message], nudges: Sequence[str] = ()) -> str:
    """The text ``gt mail check --inject`` prints into the agent's prompt (Gas Town's per-prompt hook,
    internal/cmd/mail_check.go): unread ``messages`` in a ``<system-reminder>`` block framed by
    their priority (urgent: read now; high: before going idle; others: after the current task),
    then queued ``nudges`` (their texts). "" when there is nothing to say."""
    urgent = [m for m in messages if m.priority <= 0]
    high = [m for m in messages if m.priority == 1]
    normal = [m for m in messages if m.priority >= 2]
    out: list[str] = []
    if urgent:
        out += [f"URGENT: {len(urgent)} urgent message(s) require immediate attention.", ""]
        out += [_reminder_line(m) for m in urgent]
        if high:
            out += ["", f"Also {len(high)} high-priority message(s): process them before going idle:"]
            out += [_reminder_line(m) for m in high]
        if normal:
            out += ["", f"(Plus {len(normal)} other message(s): check them after the current task.)"]
        out += ["", "Run 'gt mail read <id>' to read the urgent messages now."]
    elif high:
        out += [f"You have {len(high)} high-priority message(s) in your inbox.", ""]
        out += [_reminder_line(m) for m in high]
        if normal:
            out += ["", f"(Plus {len(normal)} other message(s).)"]
        out += [
            "",
            "Continue your current task. When it completes, process these messages before going idle: 'gt mail inbox'",
        ]
    elif normal:
        out += [f"You have {len(normal)} unread message(s) in your inbox.", ""]
        out += [_reminder_line(m) for m in normal]
        out += [
            "",
            "Continue your current task. When it completes, check these messages before going idle: 'gt mail inbox'",
        ]
    text = "<system-reminder>\n" + "\n".join(out) + "\n</system-reminder>\n" if out else ""
    if nudges:
        text += "<system-reminder>\nQueued nudges for you:\n" + "\n".join(f"- {_tagless(n, 500)}" for n in nudges)
        text += "\n</system-reminder>\n"
    return text


def reply_subject(subject: str) -> str:
    """The subject of an answer to a message titled ``subject``: ``Re: <subject>``, once (an answer to
    an answer keeps one ``Re: ``)."""
    return subject if subject.startswith("Re: ") else f"Re: {subject}"


def reply(
    town: Town, msg_id: str, body: str, sender: str, db: Database | None = None, subject: str | None = None
) -> Message:
    """Answer message ``msg_id`` to its sender (subject ``Re: ...`` unless given), in its thread.

    Raises NotFound for an unknown message, GtError when its sender is not a mail address.
    """
    original = get(town, msg_id, db)
    subj = subject or reply_subject(original.subject)
    try:
        to = parse_address(original.sender)
    except GtError as exc:
        raise GtError(f"cannot reply to {original.sender!r}: not a mail address; use gt mail send") from exc
    return send(town, to, subj, body, sender, db, reply_to=msg_id)[0]


def archive(town: Town, msg_id: str, actor: str, db: Database | None = None) -> Message:
    """Archive message ``msg_id``: read (closed) and labelled ``archived``, hidden from the inbox."""
    store = BeadStore(town, db=db) if db is not None else BeadStore(town)
    _message(store.get(msg_id))
    with store.transaction():
        store.add_label(msg_id, ARCHIVED, actor)
        if store.get(msg_id).status != "closed":
            store.close(msg_id, actor, reason=READ_REASON, force=True)
    return get(town, msg_id, store.db)
