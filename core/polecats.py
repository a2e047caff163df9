"""Polecats: persistent worker identities of a rig (DESIGN sections 1 and 5).

A polecat has a name from the town's name pool, a row in the ``polecats`` table, a worktree at
``<rig>/polecats/<name>`` on branch ``polecat/<name>/<bead>``, and an ephemeral session
``<rig>-<name>`` while it works. States: spawning, working, idle, done, stuck, nuked.
"""

from __future__ import annotations

import time

from core.db import Database, register_schema, transaction
from core.errors import NotFound
from core.records import Record

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

STATES = ("spawning", "working", "idle", "done", "stuck", "nuked")
BUSY_STATES = ("spawning", "working")

register_schema(
    "polecats",
    """
CREATE TABLE IF NOT EXISTS polecats (
    rig TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'idle',
    hook_bead TEXT,
    session TEXT,
    branch TEXT,
    worktree TEXT,
    agent TEXT,
    respawns INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    PRIMARY KEY (rig, name)
)
""",
)


_COLUMNS = (
    "rig",
    "name",
    "state",
    "hook_bead",
    "session",
    "branch",
    "worktree",
    "agent",
    "respawns",
    "created_at",
    "updated_at",
    "started_at",
)


class Polecat(Record):
    """One polecat row. Times are Unix seconds; ``respawns`` counts restarts on the current bead.

    Equal field by field, unhashable (:class:`core.records.Record`).
    """

    _FIELDS = _COLUMNS

    def __init__(
        self,
        rig: str,
        name: str,
        state: str,
        hook_bead: str | None,
        session: str | None,
        branch: str | None,
        worktree: str | None,
        agent: str | None,
        respawns: int,
        created_at: float,
        updated_at: float,
        started_at: float | None,
    ) -> None:
        self.rig = rig
        self.name = name
        self.state = state
        self.hook_bead = hook_bead
        self.session = session
        self.branch = branch
        self.worktree = worktree
        self.agent = agent
        self.respawns = respawns
        self.created_at = created_at
        self.updated_at = updated_at
        self.started_at = started_at

    @property
    def address(self) -> str:
        """The polecat's mail/assignee address ``<rig>/polecats/<name>``."""
        return f"{self.rig}/polecats/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {**dict(zip(_COLUMNS, self._key(), strict=True)), "address": self.address}


def sling_starting(p: Polecat, spawn_grace: float, now: float) -> bool:
    """True while a sling is still starting ``p``: its row says ``spawning`` and its heartbeat
    (``updated_at``, touched every second by a sling waiting for its agent) is younger than
    ``spawn_grace`` seconds (``[witness] spawn_grace``). Past that the sling's process died half-way.
    The one rule for the sling (which refuses to take the bead over meanwhile) and the witness
    (which restarts it after). now: Unix seconds."""
    return p.state == "spawning" and now - p.updated_at < spawn_grace


def _row(values: Any) -> Polecat:
    return Polecat(*values)


def get(db: Database, rig: str, name: str) -> Polecat | None:
    """The polecat ``rig``/``name``, or None."""
    row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM polecats WHERE rig = ? AND name = ?", [rig, name]).fetchone()
    return _row(row) if row else None


def require(db: Database, rig: str | None, name: str) -> Polecat:
    """The polecat called ``name`` (in ``rig`` if given). Raises NotFound, or when the name is
    ambiguous across rigs."""
    rows = list_polecats(db, rig=rig)
    matches = [p for p in rows if p.name == name]
    if not matches:
        raise NotFound(f"no polecat named {name!r}{f' in rig {rig}' if rig else ''}: see 'gt polecat list'")
    if len(matches) > 1:
        raise NotFound(f"polecat {name!r} exists in rigs {', '.join(p.rig for p in matches)}: pass --rig")
    return matches[0]


def by_bead(db: Database, bead: str) -> Polecat | None:
    """The polecat whose hook holds ``bead``, or None."""
    row = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM polecats WHERE hook_bead = ? AND state != 'nuked'", [bead]
    ).fetchone()
    return _row(row) if row else None


def list_polecats(
    db: Database,
    rig: str | None = None,
    states: tuple[str, ...] | None = None,
    include_nuked: bool = False,
) -> list[Polecat]:
    """Polecats, sorted by rig then creation, optionally of one ``rig`` and in ``states``."""
    where, args = [], []
    if rig is not None:
        where.append("rig = ?")
        args.append(rig)
    if states:
        where.append(f"state IN ({','.join('?' * len(states))})")
        args.extend(states)
    elif not include_nuked:
        where.append("state != 'nuked'")
    sql = f"SELECT {', '.join(_COLUMNS)} FROM polecats"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY rig, created_at, name"
    return [_row(r) for r in db.execute(sql, args).fetchall()]


def count_busy(db: Database, rig: str | None = None) -> int:
    """Polecats spawning or working (in the town, or in ``rig``)."""
    return len(list_polecats(db, rig=rig, states=BUSY_STATES))


def upsert(db: Database, rig: str, name: str, **fields: Any) -> Polecat:
    """Insert polecat ``rig``/``name`` or update the given fields (plain SQL: joins the caller's
    transaction). Unknown fields raise KeyError."""
    for key in fields:
        if key not in _COLUMNS:
            raise KeyError(key)
    now = time.time()
    with transaction(db):
        existing = get(db, rig, name)
        if existing is None:
            values = {
                "state": "idle",
                "respawns": 0,
                "created_at": now,
                **fields,
                "rig": rig,
                "name": name,
                "updated_at": now,
            }
            cols = list(values)
            db.execute(
                f"INSERT INTO polecats ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [values[c] for c in cols],
            )
        elif fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            db.execute(
                f"UPDATE polecats SET {sets}, updated_at = ? WHERE rig = ? AND name = ?",
                [*fields.values(), now, rig, name],
            )
        result = get(db, rig, name)
    assert result is not None
    return result
