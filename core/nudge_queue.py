"""The nudge queue: the ``nudge_queue`` table (nudges waiting for their agent's next idle) and the
"You have mail" nudge that :func:`core.mail.send` queues in the mail's own transaction.

Kept apart from :mod:`core.nudge` (which types nudges into sessions, and sends a nudge meant for a
shell as mail instead) so that mail can queue its nudge without importing the nudge delivery that
imports mail: the queue sits below both. Targets are those of :func:`resolve_target` (see
:mod:`core.nudge`).
"""

from __future__ import annotations

import time

from core.db import Database, ensure_schema, register_schema
from core.errors import GtError
from core.session_names import check_session_name, session_name

MAIL_TEXT = "You have mail: gt mail inbox"

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


def _ensure(db: Database) -> None:
    """Create the table on a connection opened before this module was imported."""
    if id(db) not in _ready_dbs:
        ensure_schema(db, DDL)
        _ready_dbs.add(id(db))


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
    if len(parts) == 2 and parts[0] and parts[1]:  # Gas Town's short form <rig>/<polecat>
        return session_name("polecat", parts[0], parts[1])
    if "/" in t:
        raise GtError(
            f"invalid nudge target {target!r}: give a session name (gt peek lists them) or an "
            "address like mayor/ or <rig>/polecats/<name>"
        )
    return check_session_name(t)


def queue_mail_nudge(db: Database, address: str, sender: str = "mail") -> bool:
    """Queue the "You have mail" nudge for the agent at mail ``address`` (joins the caller's
    transaction; at most one pending per session). Addresses without a session (groups) are
    ignored. Returns True if a nudge was queued."""
    try:
        session = resolve_target(address)
    except GtError:
        return False
    _ensure(db)
    cur = db.execute(
        "INSERT OR IGNORE INTO nudge_queue (session, target, text, kind, sender, created_at) "
        "VALUES (?, ?, ?, 'mail', ?, ?)",
        [session, address, MAIL_TEXT, sender, time.time()],
    )
    return cur.rowcount == 1
