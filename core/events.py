"""The event log: one row per state change (the beads audit trail and the feed, DESIGN section 1).

Types used across the system: created, updated, status_changed, claimed, closed, reopened, commented,
dependency_added, dependency_removed, label_added, label_removed (the beads audit trail), and sling,
spawn, done, merged, merge_failed, stalled, nudge, escalation, ... (the feed). ``payload`` is JSON.
"""

from __future__ import annotations

import json
import time

from core.db import Database, inserted_id, register_schema
from core.records import Frozen

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

register_schema(
    "events",
    """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    rig TEXT,
    bead TEXT,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_bead ON events(bead);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts)
""",
)


class Event(Frozen):
    """One event row (immutable, :class:`core.records.Frozen`). ts: Unix seconds (float); payload:
    decoded JSON object."""

    __slots__ = _FIELDS = ("id", "ts", "type", "actor", "rig", "bead", "payload")
    id: int
    ts: float
    type: str
    actor: str
    rig: str | None
    bead: str | None
    payload: dict[str, Any]

    def __init__(
        self, id: int, ts: float, type: str, actor: str, rig: str | None, bead: str | None, payload: dict[str, Any]
    ) -> None:
        self._set(id, ts, type, actor, rig, bead, payload)

    def as_dict(self) -> dict[str, Any]:
        """The fields by name (the feed's and ``gt feed --json``'s form)."""
        return {
            "id": self.id,
            "ts": self.ts,
            "type": self.type,
            "actor": self.actor,
            "rig": self.rig,
            "bead": self.bead,
            "payload": self.payload,
        }


def append(
    db: Database,
    type: str,
    actor: str = "",
    rig: str | None = None,
    bead: str | None = None,
    payload: dict[str, Any] | None = None,
    ts: float | None = None,
) -> int:
    """Append an event (plain SQL, so it joins the caller's transaction). Returns its id."""
    cur = db.execute(
        "INSERT INTO events (ts, type, actor, rig, bead, payload) VALUES (?, ?, ?, ?, ?, ?)",
        [time.time() if ts is None else ts, type, actor, rig, bead, json.dumps(payload or {}, sort_keys=True)],
    )
    return inserted_id(cur)


def query(
    db: Database,
    after_id: int = 0,
    since: float | None = None,
    types: tuple[str, ...] | None = None,
    bead: str | None = None,
    limit: int | None = None,
) -> list[Event]:
    """Events with id > ``after_id`` (and ts >= ``since``, of ``types``, about ``bead``), oldest first."""
    where = ["id > ?"]
    args: list[Any] = [after_id]
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if types:
        where.append(f"type IN ({','.join('?' * len(types))})")
        args.extend(types)
    if bead is not None:
        where.append("bead = ?")
        args.append(bead)
    sql = f"SELECT id, ts, type, actor, rig, bead, payload FROM events WHERE {' AND '.join(where)} ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in db.execute(sql, args).fetchall()]
