"""Nudges: text typed into an agent's session (DESIGN section 1; Gas Town's ``gt nudge``).

Delivery always goes through :meth:`core.sessions.SessionHost.send_text` (type, verify the screen
took it, then Enter). Three modes:

- ``immediate``: type it now.
- ``wait-idle``: wait until the agent takes input (:func:`is_idle`: its hooks say its turn ended,
  or its input box shows above the footer), then type it; if it does not become idle within the
  timeout the nudge is queued instead.
- ``queue``: store it in the ``nudge_queue`` table; the engine (:func:`deliver_pending`) types it the
  next time the agent is idle.

New mail to an agent queues a short "You have mail" nudge (:func:`queue_mail_nudge`, called by
:func:`core.mail.send` in the mail's own transaction; at most one pending per session). The engine
delivers it when the agent is idle, or drops it when the agent has no live session.

Targets (:func:`resolve_target`): a session name (``demo-furiosa``, ``mayor``) or a mail address
(``mayor/``, ``deacon/``, ``<rig>/polecats/<name>``, ``<rig>/witness``, ``<rig>/refinery``,
``<rig>/crew/<name>``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from core import events, polecats
from core.db import ensure_schema, register_schema, transaction
from core.errors import GtError, NotFound
from core.sessions import SessionHost, check_session_name, session_name
from core.town import Town

MODES = ("immediate", "wait-idle", "queue")
MAIL_TEXT = "You have mail: gt mail inbox"
#: A queued nudge nobody could deliver is dropped after this many seconds.
MAX_AGE_S = 24 * 3600.0
#: Without a known ready glyph, an agent whose transcript was quiet this long counts as idle.
QUIET_IDLE_S = 3.0

DDL = """
CREATE TABLE IF NOT EXISTS nudge_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    target TEXT NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'nudge',
    sender TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS nudge_queue_pending ON nudge_queue(status, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS nudge_queue_mail ON nudge_queue(session) WHERE kind = 'mail' AND status = 'pending'
"""
register_schema("nudge", DDL)
_ready_dbs: set[int] = set()


def _ensure(db: sqlite_utils.Database) -> None:
    """Create the table on a connection opened before this module was imported."""
    if id(db) not in _ready_dbs:
        ensure_schema(db, DDL)
        _ready_dbs.add(id(db))


@dataclass
class NudgeResult:
    """What a nudge did: the target as given, its session, the mode, whether it was typed now
    (``delivered``) and the queue row id when it was queued instead."""

    target: str
    session: str
    mode: str
    delivered: bool
    queued: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_target(target: str) -> str:
    """The session name of ``target`` (a session name or a mail address, see the module docstring).

    Raises GtError for a malformed target or a group address (use ``gt broadcast``).
    """
    t = (target or "").strip()
    if t in ("mayor", "mayor/"):
        return "mayor"
    if t in ("deacon", "deacon/"):
        return "deacon"
    if t.startswith("@"):
        raise GtError(f"{t} is a group: nudge one agent, or use 'gt broadcast \"TEXT\"' for every working polecat")
    parts = t.split("/")
    if len(parts) == 3 and parts[1] in ("polecats", "crew"):
        return session_name("polecat" if parts[1] == "polecats" else "crew", parts[0], parts[2])
    if len(parts) == 2 and parts[1] in ("witness", "refinery"):
        return session_name(parts[1], parts[0])
    if "/" in t:
        raise GtError(f"invalid nudge target {target!r}: give a session name (gt peek lists them) or an "
                      "address like mayor/ or <rig>/polecats/<name>")
    return check_session_name(t)


def preset_of(town: Town, db: sqlite_utils.Database, session: str) -> Any:
    """The runtime preset of the agent in ``session`` (a core.runtimes.Preset): its polecat's, else
    the town's default agent for the Mayor; None when unknown (a shell, or a preset that no longer
    resolves)."""
    from core import runtimes

    agent = None
    row = db.execute("SELECT agent FROM polecats WHERE session = ? AND state != 'nuked' ORDER BY updated_at DESC",
                     [session]).fetchone()
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


def is_idle(town: Town, host: SessionHost, db: sqlite_utils.Database, session: str) -> bool:
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


def typed(db: sqlite_utils.Database, session: str, text: str) -> None:
    """Note that ``text`` was just typed into ``session``: its agent counts as working until its
    hooks or screen say otherwise (so a second queued nudge waits for the next idle); a ``/command``
    of the CLI starts no turn and changes nothing."""
    from core import agent_hooks, agent_state

    if agent_state.get(db, session) is not None and not agent_hooks.is_command(text):
        agent_state.record(db, session, "working", "a nudge was typed")


def _record(db: sqlite_utils.Database, sender: str, target: str, session: str, text: str, mode: str,
            delivered: bool, error: str | None = None, kind: str = "nudge") -> None:
    payload: dict[str, Any] = {"target": target, "session": session, "mode": mode, "text": text[:200],
                               "delivered": delivered, "kind": kind}
    if error:
        payload["error"] = error
    rig = polecat = None
    row = db.execute("SELECT rig, name, hook_bead FROM polecats WHERE session = ? AND state != 'nuked'",
                     [session]).fetchone()
    if row:
        rig, polecat = row[0], row[1]
        payload["polecat"] = polecat
    events.append(db, "nudge_failed" if error else "nudge", sender, rig=rig, bead=row[2] if row else None,
                  payload=payload)


def enqueue(db: sqlite_utils.Database, target: str, text: str, *, sender: str, kind: str = "nudge") -> int:
    """Store a nudge for ``target`` to be typed at its next idle; returns the queue row id.
    Raises GtError for a bad target or an empty text."""
    if not text or not text.strip():
        raise GtError("a nudge needs a text: gt nudge TARGET \"TEXT\"")
    session = resolve_target(target)
    _ensure(db)
    with transaction(db):
        cur = db.execute("INSERT INTO nudge_queue (session, target, text, kind, sender, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)", [session, target, text, kind, sender, time.time()])
        events.append(db, "nudge_queued", sender, payload={"target": target, "session": session,
                                                           "text": text[:200], "kind": kind})
        return int(cur.lastrowid)


def queue_mail_nudge(db: sqlite_utils.Database, address: str, sender: str = "mail") -> bool:
    """Queue the "You have mail" nudge for the agent at mail ``address`` (joins the caller's
    transaction; at most one pending per session). Addresses without a session (groups) are
    ignored. Returns True if a nudge was queued."""
    try:
        session = resolve_target(address)
    except GtError:
        return False
    _ensure(db)
    cur = db.execute("INSERT OR IGNORE INTO nudge_queue (session, target, text, kind, sender, created_at) "
                     "VALUES (?, ?, ?, 'mail', ?, ?)", [session, address, MAIL_TEXT, sender, time.time()])
    return cur.rowcount == 1


def pending(db: sqlite_utils.Database, session: str | None = None) -> list[dict[str, Any]]:
    """Queued nudges not yet delivered (oldest first), of one ``session`` if given."""
    _ensure(db)
    sql = "SELECT id, session, target, text, kind, sender, created_at FROM nudge_queue WHERE status = 'pending'"
    args: list[Any] = []
    if session:
        sql += " AND session = ?"
        args.append(session)
    cols = ("id", "session", "target", "text", "kind", "sender", "created_at")
    return [dict(zip(cols, r)) for r in db.execute(sql + " ORDER BY id", args).fetchall()]


def nudge(town: Town, target: str, text: str, mode: str = "immediate", *, sender: str,
          host: SessionHost | None = None, db: sqlite_utils.Database | None = None,
          timeout: float = 60.0) -> NudgeResult:
    """Nudge ``target`` with ``text`` in ``mode`` (see the module docstring). timeout: seconds
    ``wait-idle`` waits before queueing. Records a ``nudge`` (or ``nudge_queued``) event.

    Raises GtError for a bad mode, target or text, NotFound when the session does not exist
    (immediate and wait-idle), GtError when the session is dead or did not take the text.
    """
    if mode not in MODES:
        raise GtError(f"unknown nudge mode {mode!r}: use one of {', '.join(MODES)}")
    if not text or not text.strip():
        raise GtError("a nudge needs a text: gt nudge TARGET \"TEXT\"")
    session = resolve_target(target)
    own = db is None
    if db is None:
        from core.db import connect

        db = connect(town.db_path)
    try:
        if mode == "queue":
            return NudgeResult(target, session, mode, False, enqueue(db, target, text, sender=sender))
        host = host or SessionHost(town)
        if not host.exists(session):
            raise NotFound(f"no session {session!r}: see the running sessions with 'gt peek', or queue the "
                           "nudge with --mode queue")
        if mode == "wait-idle":
            deadline = time.monotonic() + timeout
            while not is_idle(town, host, db, session):
                if time.monotonic() >= deadline or not host.is_alive(session):
                    return NudgeResult(target, session, mode, False, enqueue(db, target, text, sender=sender))
                time.sleep(0.2)
        try:
            host.send_text(session, text)
        except GtError as exc:
            with transaction(db):
                _record(db, sender, target, session, text, mode, False, str(exc))
            raise
        with transaction(db):
            _record(db, sender, target, session, text, mode, True)
        typed(db, session, text)
        return NudgeResult(target, session, mode, True)
    finally:
        if own:
            db.conn.close()


def deliver_pending(town: Town, host: SessionHost, db: sqlite_utils.Database, now: float | None = None,
                    max_age: float = MAX_AGE_S) -> list[int]:
    """Type queued nudges into agents that are idle now, at most one per session per call (the
    engine calls this on every tick). Mail nudges to agents without a live session are dropped, and
    any nudge older than ``max_age`` seconds. Returns the ids delivered."""
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
        if drop:
            with transaction(db):
                db.execute("UPDATE nudge_queue SET status = 'dropped', reason = ? WHERE id = ? AND status = 'pending'",
                           [drop, row["id"]])
            continue
        if session not in live or not is_idle(town, host, db, session):
            continue
        try:
            host.send_text(session, row["text"])
            error = None
        except GtError as exc:
            error = str(exc)
        with transaction(db):
            if error is None:
                db.execute("UPDATE nudge_queue SET status = 'delivered', delivered_at = ? WHERE id = ?",
                           [time.time(), row["id"]])
                delivered.append(row["id"])
            _record(db, row["sender"] or "engine", row["target"], session, row["text"], "queue", error is None,
                    error, kind=row["kind"])
        if error is None:
            typed(db, session, row["text"])
    return delivered


def broadcast(town: Town, text: str, *, sender: str, host: SessionHost | None = None,
              db: sqlite_utils.Database | None = None) -> dict[str, str | None]:
    """Nudge every working polecat (state ``working`` with a live session) with ``text`` now.

    Returns {session: None if delivered, else the error}. Raises GtError for an empty text.
    """
    if not text or not text.strip():
        raise GtError("a broadcast needs a text: gt broadcast \"TEXT\"")
    host = host or SessionHost(town)
    own = db is None
    if db is None:
        from core.db import connect

        db = connect(town.db_path)
    try:
        out: dict[str, str | None] = {}
        for p in polecats.list_polecats(db, states=("working",)):
            session = p.session or session_name("polecat", p.rig, p.name)
            if not host.is_alive(session):
                continue
            try:
                host.send_text(session, text)
                out[session] = None
            except GtError as exc:
                out[session] = str(exc)
            with transaction(db):
                _record(db, sender, p.address, session, text, "broadcast", out[session] is None, out[session])
        return out
    finally:
        if own:
            db.conn.close()
