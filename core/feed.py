"""The feed: the town's event stream read back for people and for the cockpit (DESIGN section 1).

Events are rows of the ``events`` table (:mod:`core.events`), written by every process in the same
transaction as the change they describe. The feed reads them by increasing id, so a reader that
remembers the last id it saw gets every later event exactly once, whichever process wrote it.

- :func:`format_event` renders one event as a line (``gt feed``).
- :func:`follow` is a blocking generator polling for new events (``gt feed --follow``).
- :class:`Subscriptions` fans new events out to ``asyncio.Queue`` subscribers (the cockpit, through
  :meth:`core.engine.Engine.subscribe`).
- :data:`PROBLEM_TYPES` are the events ``gt feed --problems`` and the cockpit's problems view show.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import events
from core.errors import GtError

if TYPE_CHECKING:
    from core.db import Database

#: Event types that need a human's eye: stuck or stalled agents, failed merges, escalations, engine errors.
PROBLEM_TYPES = (
    "stalled",
    "gupp_violation",
    "zombie",
    "stuck",
    "escalation",
    "merge_failed",
    "merge_conflict",
    "engine_error",
    "sling_failed",
    "stranded",
    "nudge_failed",
    "ledger_blocked",
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with an optional unit ``s``, ``m``, ``h``, ``d`` or ``w``
    (``90``, ``30s``, ``5m``, ``2h``, ``1d``). Raises GtError for anything else."""
    m = _DURATION.match(text or "")
    if not m:
        raise GtError(f"invalid duration {text!r}: use a number with s, m, h, d or w (e.g. 10m, 2h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _summary(ev: events.Event) -> str:
    """The payload of ``ev`` in a few words, most useful keys first."""
    p = ev.payload
    parts: list[str] = []
    for key in (
        "polecat",
        "state",
        "reason",
        "severity",
        "mr",
        "status",
        "text",
        "error",
        "target",
        "session",
        "name",
        "note",
        "old",
        "new",
        "loop",
        "action",
    ):
        value = p.get(key)
        if value not in (None, "", [], {}):
            text = str(value).replace("\n", " ")
            parts.append(f"{key}={text[:80]}")
    return " ".join(parts[:5])


def format_event(ev: events.Event) -> str:
    """One line for ``ev``: local time, type, bead, rig, actor and a payload summary."""
    stamp = datetime.fromtimestamp(ev.ts).strftime("%H:%M:%S")
    where = " ".join(x for x in (ev.bead or "", f"[{ev.rig}]" if ev.rig else "") if x)
    mark = "!" if ev.type in PROBLEM_TYPES else " "
    line = f"{stamp} {mark} {ev.type:<15} {where}".rstrip()
    summary = _summary(ev)
    if ev.actor:
        line += f"  by {ev.actor}"
    if summary:
        line += f"  {summary}"
    return line


def last_id(db: Database) -> int:
    """The id of the newest event (0 when there is none)."""
    row = db.execute("SELECT max(id) FROM events").fetchone()
    return int(row[0] or 0)


def recent(db: Database, since: float | None = None, problems: bool = False, limit: int = 50) -> list[events.Event]:
    """The newest ``limit`` events (oldest first), from ``since`` (Unix seconds) if given, only the
    :data:`PROBLEM_TYPES` with ``problems``."""
    types = PROBLEM_TYPES if problems else None
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if types:
        where.append(f"type IN ({','.join('?' * len(types))})")
        args.extend(types)
    row = db.execute(
        f"SELECT id FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT 1 OFFSET ?",
        [*args, max(0, int(limit) - 1)],
    ).fetchone()
    start = int(row[0]) - 1 if row else 0
    return events.query(db, after_id=start, since=since, types=types)


def follow(
    db: Database,
    after_id: int,
    problems: bool = False,
    interval: float = 0.25,
    stop: Callable[[], bool] | None = None,
) -> Iterator[events.Event]:
    """Yield every event with id > ``after_id`` as it is written (by any process), forever or until
    ``stop()`` is true. interval: seconds between polls when nothing is new."""
    types = PROBLEM_TYPES if problems else None
    while stop is None or not stop():
        batch = events.query(db, after_id=after_id, types=types, limit=500)
        if not batch:
            # problem filters skip ids: move past the unmatched ones so the scan stays short
            after_id = max(after_id, last_id(db)) if types else after_id
            time.sleep(interval)
            continue
        for ev in batch:
            after_id = ev.id
            yield ev


class Subscriptions:
    """Fan-out of new events to asyncio queues (the engine's subscription API).

    :meth:`poll` (blocking: run it in a thread) reads events after the last id delivered and returns
    them; :meth:`publish` (on the event loop) puts each into every subscriber's queue. A subscriber
    whose queue is full loses its oldest events, never blocks the engine.
    """

    def __init__(self, db: Database, after_id: int | None = None, maxsize: int = 10000) -> None:
        self.db = db
        self.after_id = last_id(db) if after_id is None else after_id
        self.maxsize = maxsize
        self._queues: list[asyncio.Queue[events.Event]] = []

    def subscribe(self, backlog: int = 0) -> asyncio.Queue[events.Event]:
        """A new queue receiving every event from now on, preceded by the ``backlog`` newest ones."""
        q: asyncio.Queue[events.Event] = asyncio.Queue(self.maxsize)
        if backlog > 0:
            for ev in events.query(self.db, after_id=max(0, self.after_id - backlog)):
                if ev.id <= self.after_id:
                    q.put_nowait(ev)
        self._queues.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[events.Event]) -> None:
        """Stop delivering to ``q`` (no error if it was not subscribed)."""
        if q in self._queues:
            self._queues.remove(q)

    @property
    def count(self) -> int:
        return len(self._queues)

    def poll(self, limit: int = 1000) -> list[events.Event]:
        """New events since the last poll (blocking SQLite read)."""
        batch = events.query(self.db, after_id=self.after_id, limit=limit)
        if batch:
            self.after_id = batch[-1].id
        return batch

    def publish(self, batch: list[events.Event]) -> None:
        """Put ``batch`` into every subscriber queue (call on the event loop's thread)."""
        for q in list(self._queues):
            for ev in batch:
                if q.full():
                    q.get_nowait()
                q.put_nowait(ev)
