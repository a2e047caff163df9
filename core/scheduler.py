"""The scheduler: beads queued for slinging, dispatched while the town has capacity (DESIGN section 4).

``gt sling --queue`` and convoy runs put beads in the ``sling_queue`` table (bead, rig, agent,
formula, priority, enqueued_at, convoy). The engine calls :meth:`Scheduler.dispatch` on every wake:
it slings queued beads in priority order (0 first, then oldest) while working polecats are under
``[scheduler] max_polecats`` (town) and ``max_polecats_per_rig``, at most one start every
``spawn_delay`` seconds. A queued bead whose blockers are still open waits (so the steps of a poured
formula are slung as the steps they need close).

Crash safety: a row leaves the queue only once its bead is no longer open (slung by the scheduler or
by anyone else, closed, deleted). If the engine dies between a sling and the row's removal, the next
pass sees the bead hooked and removes the row: a queued bead is never worked twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core import events, polecats
from core.beads.store import BeadStore
from core.db import Database, register_schema, transaction
from core.errors import Conflict, GtError, NotFound
from core.rigs import load_rig
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

register_schema(
    "scheduler",
    """
CREATE TABLE IF NOT EXISTS sling_queue (
    bead TEXT PRIMARY KEY,
    rig TEXT NOT NULL,
    agent TEXT,
    formula TEXT,
    priority INTEGER NOT NULL DEFAULT 2,
    enqueued_at REAL NOT NULL,
    convoy TEXT,
    actor TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sling_queue_order ON sling_queue(priority, enqueued_at)
""",
)

_COLS = ("bead", "rig", "agent", "formula", "priority", "enqueued_at", "convoy", "actor", "attempts", "last_error")


@dataclass
class Queued:
    """One queued bead. enqueued_at: Unix seconds; attempts: slings that failed for a transient reason."""

    bead: str
    rig: str
    agent: str | None
    formula: str | None
    priority: int
    enqueued_at: float
    convoy: str | None
    actor: str
    attempts: int
    last_error: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def enqueue(
    store: BeadStore,
    bead_ref: str,
    rig_name: str,
    *,
    actor: str,
    agent: str | None = None,
    formula: str | None = None,
    priority: int | None = None,
    convoy: str | None = None,
) -> Queued:
    """Queue ``bead_ref`` for rig ``rig_name`` (priority: the bead's unless given). Queueing a bead
    again updates its row. Appends a ``queued`` event.

    Raises NotFound (bead, rig), GtError when the bead is not open or is not work (message, convoy...)
    or belongs to another rig.
    """
    from core import runtimes
    from core.sling import UNWORKABLE_TYPES, check_bead_for_rig

    town = store.town
    if town is None:
        raise GtError("the sling queue needs a town")
    rig = load_rig(town, rig_name)
    bead = store.resolve(bead_ref)
    check_bead_for_rig(town, rig, bead)
    issue = store.get(bead)
    if issue.issue_type in UNWORKABLE_TYPES:
        raise GtError(f"bead {bead} is a {issue.issue_type}, which polecats do not work: queue its work beads")
    if issue.status != "open":
        raise GtError(f"bead {bead} is {issue.status}: only open beads can be queued")
    if agent is not None:
        runtimes.resolve(town, agent)
    prio = issue.priority if priority is None else int(priority)
    if not 0 <= prio <= 4:
        raise GtError(f"invalid priority {priority!r}: use 0 (urgent) to 4 (backlog)")
    with store.transaction():
        store.db.execute(
            "INSERT INTO sling_queue (bead, rig, agent, formula, priority, enqueued_at, convoy, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(bead) DO UPDATE SET rig = excluded.rig, "
            "agent = excluded.agent, formula = excluded.formula, priority = excluded.priority, "
            "convoy = excluded.convoy",
            [bead, rig.name, agent, formula, prio, time.time(), convoy, actor],
        )
        events.append(
            store.db,
            "queued",
            actor,
            rig=rig.name,
            bead=bead,
            payload={"agent": agent, "formula": formula, "priority": prio, "convoy": convoy},
        )
    return get(store.db, bead)  # type: ignore[return-value]


def enqueue_convoy(
    store: BeadStore, convoy_id: str, rig_name: str, *, actor: str, agent: str | None = None
) -> list[Queued]:
    """Queue every open work bead tracked by convoy ``convoy_id`` for ``rig_name`` (a convoy run).
    Beads already hooked, in progress or closed are skipped. Returns the rows queued."""
    from core import convoys
    from core.sling import UNWORKABLE_TYPES

    convoy = convoys.get(store, convoy_id)
    out = []
    for t in convoy.tracked:
        if t.status == "open" and t.issue_type not in UNWORKABLE_TYPES:
            out.append(enqueue(store, t.id, rig_name, actor=actor, agent=agent, convoy=convoy.id))
    return out


def get(db: Database, bead: str) -> Queued | None:
    """The queue row of ``bead``, or None."""
    row = db.execute(f"SELECT {', '.join(_COLS)} FROM sling_queue WHERE bead = ?", [bead]).fetchone()
    return Queued(*row) if row else None


def list_queue(db: Database, rig: str | None = None) -> list[Queued]:
    """The queue in dispatch order (priority, then age), of one ``rig`` if given."""
    sql = f"SELECT {', '.join(_COLS)} FROM sling_queue"
    args: list[Any] = []
    if rig:
        sql += " WHERE rig = ?"
        args.append(rig)
    return [Queued(*r) for r in db.execute(sql + " ORDER BY priority, enqueued_at, bead", args).fetchall()]


def remove(db: Database, bead: str, actor: str, reason: str) -> bool:
    """Take ``bead`` off the queue with a ``dequeued`` event naming ``reason``. True if it was there."""
    with transaction(db):
        row = get(db, bead)
        if row is None:
            return False
        db.execute("DELETE FROM sling_queue WHERE bead = ?", [bead])
        events.append(db, "dequeued", actor, rig=row.rig, bead=bead, payload={"reason": reason})
    return True


class Scheduler:
    """Dispatches the sling queue of one town. ``slinger``: a core.sling.Slinger (its host and store
    are used); ``clock``: monotonic seconds, for ``spawn_delay``."""

    def __init__(
        self, town: Town, slinger: Any, actor: str = "deacon", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.town = town
        self.slinger = slinger
        self.store: BeadStore = slinger.store
        self.db = self.store.db
        self.actor = actor
        self.clock = clock
        self.last_start: float | None = None

    def next_start_in(self) -> float:
        """Seconds until ``spawn_delay`` allows another start (0 when it does now)."""
        if self.last_start is None:
            return 0.0
        delay = float(self.town.setting("scheduler", "spawn_delay"))
        return max(0.0, self.last_start + delay - self.clock())

    def dispatch(self, limit: int | None = None) -> list[Any]:
        """Sling queued beads while capacity and ``spawn_delay`` allow (see the module docstring).

        Returns the SlingResults of this call. A sling refused for a lasting reason (closed bead,
        unknown rig...) drops the row with a ``dequeued`` event; a transient one (capacity, a race)
        leaves it queued.
        """
        started: list[Any] = []
        town_max = int(self.town.setting("scheduler", "max_polecats"))
        rig_max = int(self.town.setting("scheduler", "max_polecats_per_rig"))
        for row in list_queue(self.db):
            if limit is not None and len(started) >= limit:
                break
            if not self._still_wanted(row):
                continue
            if self.store.is_blocked(row.bead):
                continue
            if polecats.count_busy(self.db) >= town_max:
                break
            if polecats.count_busy(self.db, rig=row.rig) >= rig_max:
                continue
            if self.next_start_in() > 0:
                break
            result = self._sling(row)
            if result is not None:
                started.append(result)
        return started

    def _still_wanted(self, row: Queued) -> bool:
        """False (and the row removed) when its bead is gone or no longer open."""
        try:
            status = self.store.get(row.bead).status
        except NotFound:
            remove(self.db, row.bead, self.actor, "bead no longer exists")
            return False
        if status != "open":
            remove(self.db, row.bead, self.actor, f"bead is {status}")
            return False
        return True

    def _sling(self, row: Queued) -> Any:
        self.last_start = self.clock()
        try:
            result = self.slinger.sling(
                row.bead, row.rig, agent=row.agent, formula=row.formula, convoy=row.convoy is None
            )
        except Conflict as exc:
            self._note_failure(row, str(exc))
            return None
        except GtError as exc:
            remove(self.db, row.bead, self.actor, f"sling refused: {exc}")
            return None
        remove(self.db, row.bead, self.actor, f"slung to {result.polecat}")
        return result

    def _note_failure(self, row: Queued, error: str) -> None:
        with transaction(self.db):
            self.db.execute(
                "UPDATE sling_queue SET attempts = attempts + 1, last_error = ? WHERE bead = ?", [error[:500], row.bead]
            )


def depth(db: Database) -> int:
    """Number of queued beads."""
    return int(db.execute("SELECT count(*) FROM sling_queue").fetchone()[0])
