"""Nudges: text typed into an agent's session (DESIGN section 1; Gas Town's ``gt nudge``).

Delivery always goes through :meth:`core.sessions.SessionHost.send_text` (type, verify the screen
took it, then Enter). Three modes:

- ``immediate``: type it now.
- ``wait-idle``: wait until the agent takes input (:func:`is_idle`: its hooks say its turn ended,
  or its input box shows above the footer), then type it; if it does not become idle within the
  timeout the nudge is queued instead.
- ``queue``: store it in the ``nudge_queue`` table; the engine (:func:`deliver_pending`) types it the
  next time the agent is idle.

New mail to an agent queues a short "You have mail" nudge (:func:`core.nudge_queue.queue_mail_nudge`, called by
:func:`core.mail.send` in the mail's own transaction; at most one pending per session). The engine
delivers it when the agent is idle, or drops it when the agent has no live session.

What is typed (DESIGN section 7: agent text never runs, and is never typed into a human's shell):

- text only: :func:`nudge_text` (escape sequences and controls such as Ctrl-C removed, one line); a
  nudge of nothing but controls is refused, so ``gt broadcast $'\\x03'`` interrupts nobody;
- never into a shell (:meth:`core.sessions.SessionHost.shell_of`: a ``sim`` town's Mayor is the
  user's own shell): the nudge becomes mail to that address instead (:func:`_mail_instead`), and
  the "You have mail" nudge for it is dropped;
- only onto an empty input line (:func:`input_line`): text the user or agent left half-typed is
  never completed and submitted by a nudge; the nudge waits in the queue until the line is empty.

These rules hold for every caller: ``gt nudge`` and the cockpit (:func:`nudge`), the engine's queue
(:func:`deliver_pending`, mail nudges included) and the monitors' own nudges (:func:`system_nudge`,
the witness's), so nothing is ever typed into a plain-shell Mayor or onto a half-typed command.

Targets (:func:`resolve_target`): a session name (``demo-furiosa``, ``mayor``) or a mail address
(``mayor/``, ``deacon/``, ``<rig>/polecats/<name>``, ``<rig>/witness``, ``<rig>/refinery``,
``<rig>/crew/<name>``), or Gas Town's short form ``<rig>/<polecat>``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from core import events, polecats
from core.db import Database, inserted_id, transaction
from core.errors import GtError, NotFound
from core.nudge_queue import _ensure, resolve_target
from core.plaintext import one_line
from core.session_names import session_name
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

    from core.sessions import SessionHost

MODES = ("immediate", "wait-idle", "queue")
#: A queued nudge nobody could deliver is dropped after this many seconds.
MAX_AGE_S = 24 * 3600.0
#: Without a known ready glyph, an agent whose transcript was quiet this long counts as idle.
QUIET_IDLE_S = 3.0


@dataclass
class NudgeResult:
    """What a nudge did: the target as given, its session, the mode, whether it was typed now
    (``delivered``), the queue row id when it was queued instead, the mail id when it was sent as
    mail instead (the session is a shell), and ``reason``: why it was not typed now ("" if it was)."""

    target: str
    session: str
    mode: str
    delivered: bool
    queued: int | None = None
    mailed: str | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        """One line saying what happened, for the command line and the cockpit."""
        if self.delivered:
            return f"nudged {self.session}"
        if self.mailed:
            return f"not typed: {self.reason}; sent as mail {self.mailed} instead (gt mail read {self.mailed})"
        why = self.reason or "the engine types it at its next idle"
        return f"queued for {self.session} (#{self.queued}): {why}"


def target_of(address: str | None, session: str) -> str:
    """What to nudge an agent by: its ``address`` (a mail address or Gas Town's short form, e.g. the
    cockpit's agent key ``<rig>/<polecat>``, ``<rig>/crew/<name>``, ``mayor``) when it names
    ``session``, so a shell there gets the text as mail at that address (:func:`_mail_instead`);
    else ``session`` itself (a session name alone has no mail address)."""
    if address:
        try:
            if resolve_target(address) == session:
                return address
        except GtError:
            pass
    return session


def nudge_text(text: str, usage: str = 'gt nudge TARGET "TEXT"') -> str:
    """The line a nudge types for ``text``: :func:`core.plaintext.one_line` (escape sequences and
    control characters removed, tabs and newlines made spaces). usage: the command shown in the
    refusal. Raises GtError for an empty text, and for one that holds nothing but control
    characters (a nudge types text, never keys such as Ctrl-C)."""
    if not text or not text.strip():
        raise GtError(f"a nudge needs a text: {usage}")
    typed = one_line(text)
    if not typed.strip():
        raise GtError(
            f"the text {text[:20]!r} has only control characters: a nudge types text, never keys "
            f"such as Ctrl-C; give it words ({usage})"
        )
    return typed


_SGR = re.compile(r"\x1b\[([0-9;:]*)m|\x1b\[[0-?]*[ -/]*[@-~]|\x1b.?|(\n)|(.)", re.S)
#: Box borders an input line may sit between (Claude Code's and Codex's input boxes).
_BORDERS = " │┃|\t"


def _screen_cells(screen: str) -> list[tuple[str, str]]:
    """Each line of a ``capture-pane -e`` screen as (text, typed): ``typed`` keeps the characters
    drawn in normal intensity and not inverted, " " for the others (a placeholder is faint, the
    drawn cursor inverse). SGR state carries over line ends, as tmux writes it."""
    lines: list[tuple[str, str]] = []
    text: list[str] = []
    typed: list[str] = []
    faint = inverse = False
    for m in _SGR.finditer(screen):
        if m.group(1) is not None:
            params = [p.split(":")[0] for p in m.group(1).split(";")]
            i = 0
            while i < len(params):
                p = params[i]
                if p in ("", "0"):
                    faint = inverse = False
                elif p == "2":
                    faint = True
                elif p == "22":
                    faint = False
                elif p == "7":
                    inverse = True
                elif p == "27":
                    inverse = False
                elif p in ("38", "48", "58") and i + 1 < len(params):
                    i += {"5": 2, "2": 4}.get(params[i + 1], 0)
                i += 1
        elif m.group(2) is not None:
            lines.append(("".join(text), "".join(typed)))
            text, typed = [], []
        elif m.group(3) is not None:
            text.append(m.group(3))
            typed.append(" " if faint or inverse else m.group(3))
    lines.append(("".join(text), "".join(typed)))
    return lines


def input_line(screen: str, glyph: str) -> str | None:
    """What is typed on the agent's input line, "" when it is empty, None when no input line shows.

    screen: the session's screen with its SGR sequences (``capture(ansi=True)``). The input line is
    the last line starting with the prompt ``glyph`` (after box borders) among the screen's last
    :data:`core.runtimes.base.PROMPT_SEARCH_LINES` non-blank lines, as the agent state reads it; what
    follows the glyph counts unless it is drawn faint (a placeholder) or inverse (the cursor).
    """
    from core.runtimes.base import PROMPT_SEARCH_LINES

    mark = glyph.strip()
    if not mark:
        return None
    rows = [row for row in _screen_cells(screen) if row[0].strip()][-PROMPT_SEARCH_LINES:]
    for text, typed in reversed(rows):
        body = text.lstrip(_BORDERS)
        if body.startswith(mark):
            start = len(text) - len(body) + len(mark)
            return typed[start:].strip(_BORDERS).strip()
    return None


def unsent_text(town: Town, host: SessionHost, db: Database, session: str) -> str | None:
    """The text waiting unsent on ``session``'s input line (None: the line is empty, or the agent's
    program shows no input line this module can read). A nudge typed now would be appended to it
    and submit both, so it waits instead."""
    preset = preset_of(town, db, session)
    if preset is None:
        return None
    try:
        typed = input_line(host.capture(session, ansi=True), preset.ready_glyph)
    except NotFound:
        return None
    return typed or None


def _mail_address(target: str, session: str) -> str | None:
    """The mail address of a nudge's target, when it has one."""
    from core import mail

    if session in ("mayor", "deacon"):
        return f"{session}/"
    if "/" in target:
        rig, _, name = target.strip().partition("/")
        if "/" not in name and name not in ("witness", "refinery"):
            target = f"{rig}/polecats/{name}"  # the short form <rig>/<polecat>
        try:
            return mail.parse_address(target)
        except GtError:
            return None
    return None


def _mail_instead(
    town: Town, db: Database, target: str, session: str, text: str, shell: str, sender: str
) -> tuple[str, str]:
    """Send nudge ``text`` for a session that runs ``shell`` as mail to the target's address:
    (message id, reason). Raises GtError when the target has no mail address."""
    from core import mail

    who = "the Mayor" if session == "mayor" else f"session {session}"
    reason = f"{who} is a shell ({shell}), and nothing is ever typed into a shell, where it would run"
    address = _mail_address(target, session)
    if address is None:
        raise GtError(f"{reason}: nudge it by its mail address (e.g. <rig>/polecats/<name>) to send it as mail")
    (msg,) = mail.send(
        town, address, f"Nudge from {sender or 'someone'}: {text[:60]}", text, sender=sender or "gt", db=db
    )
    return msg.id, reason


def preset_of(town: Town, db: Database, session: str) -> Any:
    """The runtime preset of the agent in ``session`` (a core.runtimes.Preset): its polecat's, else
    the town's default agent for the Mayor; None when unknown (a shell, or a preset that no longer
    resolves)."""
    from core import runtimes

    agent = None
    row = db.execute(
        "SELECT agent FROM polecats WHERE session = ? AND state != 'nuked' ORDER BY updated_at DESC", [session]
    ).fetchone()
    if row is not None:
        agent = row[0]
    elif session != "mayor":
        return None
    try:
        preset = runtimes.resolve(town, agent)
    except GtError:
        return None
    if session == "mayor" and preset.name == "sim":
        return None  # a sim town's Mayor is the user's shell
    return preset


def is_idle(town: Town, host: SessionHost, db: Database, session: str) -> bool:
    """True if the live ``session`` takes typed text as a prompt now: the agent state of
    :func:`core.runtimes.state.session_state` (hooks first, then the input box found above any
    footer; never while a dialog shows), or, for an unknown program, a transcript quiet for
    :data:`QUIET_IDLE_S`. False for a dead session."""
    from core.runtimes.state import session_state

    preset = preset_of(town, db, session)
    if preset is None:
        if not host.is_alive(session):
            return False
        last = host.last_activity(session)
        return last is None or time.time() - last >= QUIET_IDLE_S
    return session_state(host, db, session, preset).takes_input


def typed(db: Database, session: str, text: str) -> None:
    """Note that ``text`` was just typed into ``session``: its agent counts as working until its
    hooks or screen say otherwise (so a second queued nudge waits for the next idle); a ``/command``
    of the CLI starts no turn and changes nothing."""
    from core import agent_state

    if agent_state.get(db, session) is not None and not agent_state.is_command(text):
        agent_state.record(db, session, "working", "a nudge was typed")


def _record(
    db: Database,
    sender: str,
    target: str,
    session: str,
    text: str,
    mode: str,
    delivered: bool,
    error: str | None = None,
    kind: str = "nudge",
    mailed: str | None = None,
) -> None:
    payload: dict[str, Any] = {
        "target": target,
        "session": session,
        "mode": mode,
        "text": text[:200],
        "delivered": delivered,
        "kind": kind,
    }
    if error:
        payload["error"] = error
    if mailed:
        payload["mailed"] = mailed
    rig = polecat = None
    row = db.execute(
        "SELECT rig, name, hook_bead FROM polecats WHERE session = ? AND state != 'nuked'", [session]
    ).fetchone()
    if row:
        rig, polecat = row[0], row[1]
        payload["polecat"] = polecat
    events.append(
        db, "nudge_failed" if error else "nudge", sender, rig=rig, bead=row[2] if row else None, payload=payload
    )


def enqueue(db: Database, target: str, text: str, *, sender: str, kind: str = "nudge") -> int:
    """Store a nudge for ``target`` to be typed at its next idle; returns the queue row id. The text
    stored is what will be typed (:func:`nudge_text`). Raises GtError for a bad target or a text
    that is empty or only control characters."""
    text = nudge_text(text)
    session = resolve_target(target)
    _ensure(db)
    with transaction(db):
        cur = db.execute(
            "INSERT INTO nudge_queue (session, target, text, kind, sender, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [session, target, text, kind, sender, time.time()],
        )
        events.append(
            db, "nudge_queued", sender, payload={"target": target, "session": session, "text": text[:200], "kind": kind}
        )
        return inserted_id(cur)


def pending(db: Database, session: str | None = None) -> list[dict[str, Any]]:
    """Queued nudges not yet delivered (oldest first), of one ``session`` if given."""
    _ensure(db)
    sql = "SELECT id, session, target, text, kind, sender, created_at FROM nudge_queue WHERE status = 'pending'"
    args: list[Any] = []
    if session:
        sql += " AND session = ?"
        args.append(session)
    cols = ("id", "session", "target", "text", "kind", "sender", "created_at")
    return [dict(zip(cols, r, strict=True)) for r in db.execute(sql + " ORDER BY id", args).fetchall()]


def nudge(
    town: Town,
    target: str,
    text: str,
    mode: str = "immediate",
    *,
    sender: str,
    host: SessionHost | None = None,
    db: Database | None = None,
    timeout: float = 60.0,
) -> NudgeResult:
    """Nudge ``target`` with ``text`` in ``mode`` (see the module docstring). timeout: seconds
    ``wait-idle`` waits before queueing. Records a ``nudge`` (or ``nudge_queued``) event.

    Typed only as text (:func:`nudge_text`), never into a shell (sent as mail instead: ``mailed``),
    and only onto an empty input line (else queued, with the ``reason``).
    Raises GtError for a bad mode, target or text, NotFound when the session does not exist
    (immediate and wait-idle), GtError when the session is dead or did not take the text.
    """
    if mode not in MODES:
        raise GtError(f"unknown nudge mode {mode!r}: use one of {', '.join(MODES)}")
    text = nudge_text(text)
    session = resolve_target(target)
    own = db is None
    if db is None:
        from core.db import connect

        db = connect(town.db_path)
    try:
        from core.sessions import SessionHost  # tmux: only to type into or check a session

        host = host or SessionHost(town)
        exists = host.exists(session)
        if exists and (shell := host.shell_of(session)) is not None:
            return _as_mail(town, db, target, session, text, mode, shell, sender)
        if mode == "queue":
            return NudgeResult(target, session, mode, False, enqueue(db, target, text, sender=sender))
        if not exists:
            raise NotFound(
                f"no session {session!r}: see the running sessions with 'gt peek', or queue the nudge with --mode queue"
            )
        if mode == "wait-idle":
            deadline = time.monotonic() + timeout
            while not is_idle(town, host, db, session) or unsent_text(town, host, db, session) is not None:
                if time.monotonic() >= deadline or not host.is_alive(session):
                    why = _unsent_reason(session, unsent_text(town, host, db, session)) or (
                        f"not idle within {timeout:g} s: the engine types it at its next idle"
                    )
                    return NudgeResult(
                        target, session, mode, False, enqueue(db, target, text, sender=sender), reason=why
                    )
                time.sleep(0.2)
        return _type_now(town, host, db, target, session, text, mode, sender)
    finally:
        if own:
            db.conn.close()


def _as_mail(
    town: Town, db: Database, target: str, session: str, text: str, mode: str, shell: str, sender: str
) -> NudgeResult:
    """The nudge for a shell session, sent as mail (see :func:`_mail_instead`) and recorded."""
    mailed, reason = _mail_instead(town, db, target, session, text, shell, sender)
    with transaction(db):
        _record(db, sender, target, session, text, mode, False, mailed=mailed)
    return NudgeResult(target, session, mode, False, mailed=mailed, reason=reason)


def system_nudge(
    town: Town,
    host: SessionHost,
    db: Database,
    session: str,
    text: str,
    *,
    sender: str,
    target: str | None = None,
) -> NudgeResult:
    """A nudge the engine's monitors type on their own (the witness's stalled and GUPP nudges): the
    same rule as every nudge (:func:`nudge` immediate: never into a shell, where it is mailed to the
    session's address instead; never onto a half-typed input line, where it waits in the queue),
    except that typing it does not mark the agent working (:func:`typed`): a monitor's own nudge is
    no sign of progress. target: the agent's mail address (``<rig>/polecats/<name>``; default the
    session name, enough for ``mayor`` and ``deacon``), where it is mailed when the session is a
    shell. Records the ``nudge`` event. Raises GtError for an empty text, NotFound for no session,
    GtError when the session did not take the text or is a shell without a mail address."""
    text = nudge_text(text, "a monitor's nudge")
    if not host.exists(session):
        raise NotFound(f"no session {session!r} to nudge")
    return _type_now(town, host, db, target or session, session, text, "immediate", sender, counts_as_work=False)


def _type_now(
    town: Town,
    host: SessionHost,
    db: Database,
    target: str,
    session: str,
    text: str,
    mode: str,
    sender: str,
    counts_as_work: bool = True,
) -> NudgeResult:
    """Type ``text`` (already :func:`nudge_text`) into live ``session`` now, unless it is a shell
    (sent as mail) or its input line holds unsent text (queued). Records the ``nudge`` event;
    counts_as_work: mark the agent working after (:func:`typed`).
    Raises GtError when the session did not take the text."""
    if (shell := host.shell_of(session)) is not None:
        return _as_mail(town, db, target, session, text, mode, shell, sender)
    if (waiting := unsent_text(town, host, db, session)) is not None:
        return NudgeResult(
            target,
            session,
            mode,
            False,
            enqueue(db, target, text, sender=sender),
            reason=_unsent_reason(session, waiting),
        )
    try:
        host.send_text(session, text)
    except GtError as exc:
        with transaction(db):
            _record(db, sender, target, session, text, mode, False, str(exc))
        raise
    with transaction(db):
        _record(db, sender, target, session, text, mode, True)
    if counts_as_work:
        typed(db, session, text)
    return NudgeResult(target, session, mode, True)


def _unsent_reason(session: str, waiting: str | None) -> str:
    """Why a nudge waits for ``session``'s input line ("" when nothing is waiting on it)."""
    if waiting is None:
        return ""
    return (
        f"the input line of {session} holds unsent text ({waiting[:40]!r}): the engine types the "
        "nudge once that line is empty"
    )


def drain(db: Database, session: str) -> list[str]:
    """Take ``session``'s queued nudges for its agent's prompt hook (``gt mail check --inject``, as
    Gas Town drains its nudge queue there): each marked delivered (reason ``prompt hook``) with a
    ``nudge`` event, in one transaction. Returns the texts of the nudges, oldest first; the "You have
    mail" nudges are delivered too but not returned (the hook lists the mail itself)."""
    rows = pending(db, session)
    texts = []
    with transaction(db):
        for row in rows:
            cur = db.execute(
                "UPDATE nudge_queue SET status = 'delivered', delivered_at = ?, reason = 'prompt hook' "
                "WHERE id = ? AND status = 'pending'",
                [time.time(), row["id"]],
            )
            if cur.rowcount != 1:
                continue  # the engine typed it meanwhile
            _record(db, row["sender"] or "engine", row["target"], session, row["text"], "hook", True, kind=row["kind"])
            if row["kind"] != "mail":
                texts.append(row["text"])
    return texts


def deliver_pending(
    town: Town, host: SessionHost, db: Database, now: float | None = None, max_age: float = MAX_AGE_S
) -> list[int]:
    """Type queued nudges into agents that are idle now with an empty input line, at most one per
    session per call (the engine calls this on every tick). Mail nudges to agents without a live
    session are dropped, and any nudge older than ``max_age`` seconds. A session that runs a shell
    is never typed into: its mail nudge is dropped, any other nudge is sent as mail (status
    ``mailed``). Returns the ids delivered."""
    now = time.time() if now is None else now
    delivered: list[int] = []
    seen: set[str] = set()
    live = {s.name for s in host.list() if s.alive}
    for row in pending(db):
        session = row["session"]
        if session in seen:
            continue
        seen.add(session)
        drop = None
        if now - row["created_at"] > max_age:
            drop = "expired"
        elif row["kind"] == "mail" and session not in live:
            drop = "no live session"
        elif session in live and (shell := host.shell_of(session)) is not None:
            if row["kind"] == "mail":
                drop = f"{session} is a shell ({shell}): nothing is typed into a shell; the mail waits in its inbox"
            else:
                _mail_pending(town, db, row, shell)
                continue
        if drop:
            with transaction(db):
                db.execute(
                    "UPDATE nudge_queue SET status = 'dropped', reason = ? WHERE id = ? AND status = 'pending'",
                    [drop, row["id"]],
                )
            continue
        if session not in live or not is_idle(town, host, db, session):
            continue
        if unsent_text(town, host, db, session) is not None:
            continue  # never completed and submitted for whoever left it half-typed
        try:
            host.send_text(session, row["text"])
            error = None
        except GtError as exc:
            error = str(exc)
        with transaction(db):
            if error is None:
                db.execute(
                    "UPDATE nudge_queue SET status = 'delivered', delivered_at = ? WHERE id = ?",
                    [time.time(), row["id"]],
                )
                delivered.append(row["id"])
            _record(
                db,
                row["sender"] or "engine",
                row["target"],
                session,
                row["text"],
                "queue",
                error is None,
                error,
                kind=row["kind"],
            )
        if error is None:
            typed(db, session, row["text"])
    return delivered


def _mail_pending(town: Town, db: Database, row: dict[str, Any], shell: str) -> None:
    """Send queued nudge ``row`` for a shell session as mail (status ``mailed``, the mail id as its
    reason), or drop it when its target has no mail address."""
    try:
        mailed, _ = _mail_instead(town, db, row["target"], row["session"], row["text"], shell, row["sender"])
        status, reason = "mailed", mailed
    except GtError as exc:
        status, reason = "dropped", str(exc)
    with transaction(db):
        db.execute(
            "UPDATE nudge_queue SET status = ?, reason = ? WHERE id = ? AND status = 'pending'",
            [status, reason, row["id"]],
        )


def broadcast(
    town: Town, text: str, *, sender: str, host: SessionHost | None = None, db: Database | None = None
) -> dict[str, NudgeResult | str]:
    """Nudge every working polecat (state ``working`` with a live session) with ``text`` now.

    The rules of :func:`nudge` hold for each: text only, never into a shell (sent as mail), and a
    polecat whose input line holds unsent text gets the nudge queued. Returns {session: its
    NudgeResult, or the error that stopped it}. Raises GtError for a text that is empty or only
    control characters, before anything is typed.
    """
    text = nudge_text(text, 'gt broadcast "TEXT"')
    from core.sessions import SessionHost  # tmux: only to type into or check a session

    host = host or SessionHost(town)
    own = db is None
    if db is None:
        from core.db import connect

        db = connect(town.db_path)
    try:
        out: dict[str, NudgeResult | str] = {}
        for p in polecats.list_polecats(db, states=("working",)):
            session = p.session or session_name("polecat", p.rig, p.name)
            if not host.is_alive(session):
                continue
            try:
                out[session] = _type_now(town, host, db, p.address, session, text, "broadcast", sender)
            except GtError as exc:
                out[session] = str(exc)
        return out
    finally:
        if own:
            db.conn.close()
