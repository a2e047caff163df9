"""The bead store: the beads ledger's tables in the town database and every operation on them.

Tables (registered with :func:`core.db.register_schema`): ``issues`` (one row per bead, unknown JSONL
keys in ``extra``), ``labels``, ``dependencies``, ``comments``, ``child_counters`` (last child number
per parent), ``id_counters`` (how many top-level ids each minted prefix has, kept exact by triggers:
:meth:`BeadStore.make_id`), ``beads_config`` (key/value; bd's ``status.custom``, ``types.custom`` and
``types.infra`` keep their bd names), ``memories`` (``bd remember`` key/value memories, the
``{"_type":"memory"}`` ledger records), ``ledger_dirty`` (beads changed since the last ledger sync, see
:mod:`core.beads.sync`; a trigger marks a bead deleted by any statement) and the ready set
(``ready_set``, ``ready_fresh``: :mod:`core.beads.ready`). A comment whose id is a string (bd v1.0+
UUIDs) keeps it in its ``extra`` under ``id`` (``comment_id`` 0), so an id such as ``"7"`` stays a
string. The audit trail goes to the shared ``events`` table
(:func:`core.events.append`, ``bead`` = the issue id).

Every mutation is one transaction (``BEGIN IMMEDIATE`` via :func:`core.db.transaction`) that also
appends its event and marks the bead dirty; callers may wrap several mutations in an outer
``with store.transaction():`` (inner ones become savepoints). Claims and hooks are compare-and-swap
UPDATEs, safe across processes.
"""

from __future__ import annotations

import builtins
import gc
import json
import os
import sqlite3
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from core import events
from core.beads import ids as idgen
from core.beads import ready as readyq
from core.beads import routes
from core.beads.model import (
    MAX_CHILD_DEPTH,
    ORDERING_DEP_TYPES,
    Comment,
    Dependency,
    Issue,
    check_dep_type,
    check_issue_type,
    check_priority,
    check_status,
    check_timestamp,
    check_title,
    custom_names,
    format_ts,
    now_ns,
    parse_metadata,
    parse_ts,
)
from core.beads import guard
from core.db import Database, connect, register_open_check, register_schema, transaction
from core.errors import Conflict, GtError, NotFound
from core.records import Record
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

register_schema(
    "beads",
    """
CREATE TABLE IF NOT EXISTS issues (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    design TEXT NOT NULL DEFAULT '',
    acceptance_criteria TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
    issue_type TEXT NOT NULL DEFAULT 'task',
    assignee TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    started_at TEXT,
    closed_at TEXT,
    close_reason TEXT NOT NULL DEFAULT '',
    defer_until TEXT,
    defer_ns INTEGER,
    due_at TEXT,
    external_ref TEXT,
    ephemeral INTEGER NOT NULL DEFAULT 0,
    metadata TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS issues_ready ON issues(status, priority, created_ns);
CREATE INDEX IF NOT EXISTS issues_assignee ON issues(assignee);
CREATE TABLE IF NOT EXISTS labels (
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    PRIMARY KEY (issue_id, label)
);
CREATE INDEX IF NOT EXISTS labels_label ON labels(label);
CREATE TABLE IF NOT EXISTS dependencies (
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    depends_on_id TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'blocks',
    created_at TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (issue_id, depends_on_id, type)
);
CREATE INDEX IF NOT EXISTS dependencies_target ON dependencies(depends_on_id, type);
CREATE INDEX IF NOT EXISTS dependencies_type ON dependencies(type, depends_on_id);
CREATE TABLE IF NOT EXISTS comments (
    rowid INTEGER PRIMARY KEY,
    comment_id INTEGER NOT NULL,
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    author TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS comments_issue ON comments(issue_id);
CREATE TABLE IF NOT EXISTS child_counters (
    parent_id TEXT PRIMARY KEY,
    last_child INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS id_counters (
    prefix TEXT PRIMARY KEY,
    top_level INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS id_counted_added AFTER INSERT ON issues WHEN instr(new.id, '.') = 0 BEGIN
    UPDATE id_counters SET top_level = top_level + 1 WHERE substr(new.id, 1, length(prefix) + 1) = prefix || '-';
END;
CREATE TRIGGER IF NOT EXISTS id_counted_deleted AFTER DELETE ON issues WHEN instr(old.id, '.') = 0 BEGIN
    UPDATE id_counters SET top_level = top_level - 1 WHERE substr(old.id, 1, length(prefix) + 1) = prefix || '-';
END;
CREATE TRIGGER IF NOT EXISTS id_counted_renamed AFTER UPDATE OF id ON issues WHEN old.id IS NOT new.id BEGIN
    UPDATE id_counters SET top_level = top_level
        - (instr(old.id, '.') = 0 AND substr(old.id, 1, length(prefix) + 1) = prefix || '-')
        + (instr(new.id, '.') = 0 AND substr(new.id, 1, length(prefix) + 1) = prefix || '-');
END;
CREATE TABLE IF NOT EXISTS beads_config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_dirty (
    bead TEXT PRIMARY KEY,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS memories (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS issues_deleted_dirty AFTER DELETE ON issues BEGIN
    INSERT INTO ledger_dirty (bead, ts) VALUES (old.id, (julianday('now') - 2440587.5) * 86400.0)
    ON CONFLICT(bead) DO UPDATE SET ts = max(excluded.ts, ledger_dirty.ts + 0.000001);
END;
"""
    + readyq.READY_SET_DDL,
)
register_open_check("beads.ledger", guard.check_open)

ISSUE_COLUMNS = (
    "id",
    "title",
    "description",
    "design",
    "acceptance_criteria",
    "notes",
    "status",
    "priority",
    "issue_type",
    "assignee",
    "owner",
    "created_at",
    "created_by",
    "updated_at",
    "started_at",
    "closed_at",
    "close_reason",
    "defer_until",
    "due_at",
    "external_ref",
    "ephemeral",
    "metadata",
    "extra",
)
#: The columns of :data:`ISSUE_COLUMNS` a bead row is read with as they are (the ones most beads fill).
_PLAIN = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "issue_type",
    "assignee",
    "created_at",
    "created_by",
    "updated_at",
)
#: The others, usually empty: read as one JSON array (``json_array``), or one NULL when all are empty,
#: since every cell costs the sqlite3 module about 0.1 us (most of a ``ready`` of 5,000 beads).
_PACKED = tuple(c for c in ISSUE_COLUMNS if c not in _PLAIN)
_ALL_EMPTY = " AND ".join(
    f"i.{c} IS NULL"
    if c in ("started_at", "closed_at", "defer_until", "due_at", "external_ref", "metadata")
    else "i.ephemeral = 0"
    if c == "ephemeral"
    else "i.extra = '{}'"
    if c == "extra"
    else f"i.{c} = ''"
    for c in _PACKED
)
_SELECT = (
    ", ".join(f"i.{c}" for c in _PLAIN)
    + f", CASE WHEN {_ALL_EMPTY} THEN NULL ELSE json_array({', '.join(f'i.{c}' for c in _PACKED)}) END"
)
#: Fields :meth:`BeadStore.update` may change.
UPDATABLE = (
    "title",
    "description",
    "design",
    "acceptance_criteria",
    "notes",
    "status",
    "priority",
    "issue_type",
    "assignee",
    "owner",
    "external_ref",
    "defer_until",
    "due_at",
    "ephemeral",
    "metadata",
    "close_reason",
)
#: Page cache (KiB) of the connections a store opens itself (SQLite's ``cache_size``; its default is 2,000).
CACHE_KIB = 65536
_UNSET: Any = object()


class Blocked(Record):
    """A blocked bead and what holds it back (ids of open blockers, waited-for or blocked parents);
    a mutable record (:class:`core.records.Record`)."""

    __slots__ = _FIELDS = ("issue", "blocked_by")
    issue: Issue
    blocked_by: list[str]

    def __init__(self, issue: Issue, blocked_by: list[str]) -> None:
        self.issue, self.blocked_by = issue, blocked_by

    def as_dict(self) -> dict[str, Any]:
        """The issue's JSON plus ``blocked_by`` and ``blocked_by_count`` (beads' BlockedIssue)."""
        out = self.issue.as_dict()
        out["blocked_by"] = list(self.blocked_by)
        out["blocked_by_count"] = len(self.blocked_by)
        return out


def default_prefix(town: Town, rig: str | None = None, cwd: str | os.PathLike[str] | None = None) -> str:
    """The bead prefix for a new top-level bead: the prefix of ``rig`` if given, else of the rig
    holding ``cwd`` (default: the current directory), else of the only rig, else the town's (``hq``).
    The rigs and their prefixes are the town's routes (:mod:`core.beads.routes`).

    Raises NotFound for an unknown ``rig``.
    """
    by_rig = {r: p for p, r in routes.load(town).items()}
    if rig:
        if rig not in by_rig:
            raise NotFound(
                f"no rig named {rig!r} (rigs: {', '.join(sorted(by_rig)) or 'none yet'}): "
                f"add it with 'gt rig add {rig} URL'"
            )
        return by_rig[rig]
    try:
        here = Path(cwd if cwd is not None else os.getcwd()).resolve().relative_to(town.root).parts
    except ValueError:
        here = ()
    if here and here[0] in by_rig:
        return by_rig[here[0]]
    if len(by_rig) == 1:
        return next(iter(by_rig.values()))
    return town.prefix


def parse_dep_spec(spec: str | tuple[str, str]) -> tuple[str, str]:
    """A dependency given as ``"ID"`` (blocks), ``"TYPE:ID"`` or a ``(ID, TYPE)`` tuple -> (ID, TYPE).

    Raises GtError for an unknown type or a malformed id.
    """
    if isinstance(spec, tuple):
        target, dep_type = spec
    elif ":" in spec:
        dep_type, target = spec.split(":", 1)
    else:
        target, dep_type = spec, "blocks"
    return idgen.check_id(target.strip()), check_dep_type(dep_type.strip())


def check_label(label: str) -> str:
    """Return ``label`` if it is 1-100 characters without whitespace or commas; raises GtError otherwise."""
    if not isinstance(label, str) or not label or len(label) > 100 or any(c.isspace() or c == "," for c in label):
        raise GtError(f"invalid label {label!r}: use 1-100 characters without spaces or commas")
    return label


#: Longest partial id :meth:`BeadStore.resolve` looks up (ids are a prefix, a hash and child numbers).
MAX_PARTIAL_ID = 200


class BeadStore:
    """The beads ledger of a town (or of any database file).

    ``BeadStore(town)`` opens ``town.db_path``; ``BeadStore.open(path)`` a database file;
    ``BeadStore(town, db=db)`` shares an open connection (to join an outer transaction).
    Opening a town's database runs the ledger guard (:mod:`core.beads.guard`) and raises
    DatabaseLost when the database is lost or disagrees with the ledger; ``check=False`` skips the
    ledger check (only for the commands that repair what it reports).
    Methods raise NotFound for unknown ids, GtError for bad input and Conflict for refused changes;
    a refused mutation leaves the database unchanged.
    """

    def __init__(
        self,
        town: Town | None = None,
        *,
        db: Database | None = None,
        db_path: str | os.PathLike[str] | None = None,
        check: bool = True,
    ) -> None:
        if db is None:
            if db_path is None:
                if town is None:
                    raise ValueError("BeadStore needs a town, a db or a db_path")
                db_path = town.db_path
            db = connect(db_path, check=check)
            # SQLite's default page cache is 2 MiB, a quarter of a 10k-bead ledger: a ``ready`` then
            # rereads pages through the OS on every call. 64 MiB holds a 100k-bead town.
            db.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.town = town
        self.db = db
        self._queue_fd: int | None = None  # the claim queue's lock file, opened by the first claim
        #: closes the claim queue's file at the disconnect, or when the store is dropped without one
        self._queue_closer: weakref.finalize[[int], BeadStore] | None = None

    @classmethod
    def open(cls, db_path: str | os.PathLike[str]) -> BeadStore:
        """A store on the database file ``db_path`` (created if missing), without a town."""
        return cls(db_path=Path(db_path))

    def disconnect(self) -> None:
        """Close the database connection (``close`` closes a bead) and the claim queue's file."""
        if self._queue_closer is not None:
            self._queue_closer()
            self._queue_fd = self._queue_closer = None
        self.db.conn.close()

    def __enter__(self) -> BeadStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def transaction(self) -> AbstractContextManager[Database]:
        """An outer write transaction: mutations inside it commit or roll back together."""
        return transaction(self.db)

    # ------------------------------------------------------------ reading

    def get(self, bead: str) -> Issue:
        """The bead with id ``bead`` (exact), labels, dependencies and comments included.

        Raises NotFound.
        """
        row = self.db.execute(f"SELECT {_SELECT} FROM issues i WHERE i.id = ?", [bead]).fetchone()
        if row is None:
            raise NotFound(f"no bead {bead!r}: list beads with 'gt bead list'")
        return self._hydrate([_issue(row)])[0]

    def exists(self, bead: str) -> bool:
        """True if a bead with id ``bead`` exists."""
        return self.db.execute("SELECT 1 FROM issues WHERE id = ?", [bead]).fetchone() is not None

    def resolve(self, partial: str) -> str:
        """The full id for ``partial``: an exact id, else ``<prefix>-<partial>`` for any prefix, else a
        unique substring of an id.

        Raises NotFound when nothing matches, GtError listing the candidates when ambiguous.
        """
        partial = (partial or "").strip()
        if not partial:
            raise NotFound("no bead id given: pass an id such as mp-a3f8")
        if self.exists(partial):
            return partial
        if len(partial) > MAX_PARTIAL_ID:  # no id is that long (and SQLite refuses LIKE patterns over 50000 bytes)
            raise NotFound(f"no bead matches {partial[:40]!r}...: list beads with 'gt bead list'")
        rows = self.db.execute(
            "SELECT id FROM issues WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 11", ["%-" + _like_escape(partial)]
        ).fetchall()
        if not rows:
            rows = self.db.execute(
                "SELECT id FROM issues WHERE instr(id, ?) > 0 ORDER BY id LIMIT 11", [partial]
            ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise NotFound(f"no bead matches {partial!r}: list beads with 'gt bead list'")
        names = ", ".join(r[0] for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        raise GtError(f"bead id {partial!r} is ambiguous ({names}): give more of the id")

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        prefix: str | None = None,
        assignee: str | None = None,
        issue_type: str | None = None,
        labels: Iterable[str] = (),
        parent: str | None = None,
        ids: Iterable[str] | None = None,
        include_ephemeral: bool = True,
        priority: int | None = None,
        sort: str = "id",
        limit: int | None = None,
    ) -> builtins.list[Issue]:
        """Beads matching every filter given, hydrated.

        status: one status or several; prefix: ids ``prefix-...`` (a rig's prefix); labels: all
        required; parent: direct children of that id; sort: ``id`` or one of ready's sorts.
        Raises GtError for an unknown status or sort.
        """
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            custom = self.custom_statuses()
            for s in statuses:
                check_status(s, custom)
            where.append(f"i.status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        readyq._common_filters(
            where,
            args,
            prefix=prefix,
            assignee=assignee,
            unassigned=False,
            claimable_by=None,
            issue_type=issue_type,
            priority=priority,
            labels=tuple(labels),
        )
        if parent is not None:
            where.append(
                "i.id IN (SELECT issue_id FROM dependencies WHERE depends_on_id = ? AND type = 'parent-child')"
            )
            args.append(parent)
        if ids is not None:
            wanted = list(ids)
            where.append("i.id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(wanted))
        if not include_ephemeral:
            where.append("i.ephemeral = 0")
        if sort == "id":
            order = "i.id"
        elif sort in readyq.ORDER_BY:
            order = readyq.ORDER_BY[sort]
        else:
            raise GtError(f"unknown sort {sort!r}: use id, {', '.join(readyq.SORTS)}")
        sql = f"SELECT {_SELECT} FROM issues i"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._issues(sql, args)

    def iter_all(self, batch: int = 2000) -> Iterator[Issue]:
        """Every bead sorted by id, hydrated, read ``batch`` at a time (for the JSONL export)."""
        last = ""
        while True:
            issues = self._issues(f"SELECT {_SELECT} FROM issues i WHERE i.id > ? ORDER BY i.id LIMIT ?", [last, batch])
            if not issues:
                return
            yield from issues
            last = issues[-1].id

    def children(self, bead: str) -> builtins.list[Issue]:
        """Direct children of ``bead`` (``parent-child`` edges to it), in child-number order."""
        kids = self.list(parent=bead)
        return sorted(kids, key=lambda i: _child_key(i.id))

    def dependents(self, bead: str, type: str | None = None) -> builtins.list[Issue]:
        """Beads with an edge (of ``type``, or any) pointing at ``bead``, sorted by id."""
        sql = "SELECT DISTINCT issue_id FROM dependencies WHERE depends_on_id = ?"
        args: list[Any] = [bead]
        if type is not None:
            sql += " AND type = ?"
            args.append(type)
        found = [r[0] for r in self.db.execute(sql, args).fetchall()]
        return self.list(ids=found) if found else []

    def ready(
        self,
        *,
        claim: str | None = None,
        limit: int | None = None,
        sort: str = "priority",
        prefix: str | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        issue_type: str | None = None,
        priority: int | None = None,
        labels: Iterable[str] = (),
    ) -> builtins.list[Issue]:
        """Ready beads in ``sort`` order (see :mod:`core.beads.ready`), filtered.

        claim: an actor; claims the first ready bead it may take (unassigned or already its own) in the
        same transaction and returns ``[that bead]`` (or ``[]`` when none is ready).
        Raises GtError for an unknown sort.
        """
        if sort not in readyq.SORTS:
            raise GtError(f"unknown sort {sort!r}: use one of {', '.join(readyq.SORTS)}")
        if claim is not None:
            issue = self.claim_next(
                claim, sort=sort, prefix=prefix, issue_type=issue_type, priority=priority, labels=labels
            )
            return [issue] if issue is not None else []

        def read(ready_set: bool) -> builtins.list[Issue]:
            sql, args = readyq.ready_sql(
                now_ns(),
                prefix=prefix,
                assignee=assignee,
                unassigned=unassigned,
                issue_type=issue_type,
                priority=priority,
                labels=tuple(labels),
                sort=sort,
                limit=limit,
                columns=_SELECT,
                ready_set=ready_set,
            )
            return self._issues(sql, args)

        conn = self.db.conn
        if conn.in_transaction:  # the caller's snapshot: read the set if it is fresh, never rebuild it
            return read(self._ready_set_fresh())
        conn.execute("BEGIN")
        try:
            fresh = self._ready_set_fresh()
            if fresh or limit is not None:  # the first few: the LIMIT plan is cheaper than a rebuild
                return read(fresh)
        finally:
            conn.execute("COMMIT")
        try:  # the write lock for the rebuild only: the claimers wait for no hydration
            with transaction(self.db):
                self._ready_set_fresh(refresh=True)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_READONLY:
                raise
            return read(False)  # a read-only database: compute the blocked set instead
        conn.execute("BEGIN")
        try:  # stale again only if a change came in between: then the computed plan answers
            return read(self._ready_set_fresh())
        finally:
            conn.execute("COMMIT")

    def blocked(self) -> builtins.list[Blocked]:
        """Every blocked bead (not closed or pinned) with what blocks it, sorted by id."""
        found = [r[0] for r in self.db.execute(readyq.blocked_sql()).fetchall()]
        if not found:
            return []
        blocked_set = set(found)
        pairs: dict[str, list[str]] = {}
        for issue_id, blocker in self.db.execute(readyq.direct_pairs_sql() + " ORDER BY 1, 2"):
            pairs.setdefault(issue_id, []).append(blocker)
        out = []
        for issue in self.list(ids=found):
            by = pairs.get(issue.id, [])
            parent = issue.parent
            if parent is not None and parent in blocked_set:
                by.append(parent)
            out.append(Blocked(issue, by))
        return out

    def is_blocked(self, bead: str) -> bool:
        """True if ``bead`` is blocked (see :mod:`core.beads.ready`). Raises NotFound."""
        issue: Issue | None = self.get(bead)
        seen: set[str] = set()
        while issue is not None and issue.id not in seen:
            seen.add(issue.id)
            if issue.status in ("closed", "pinned"):
                return False
            if self._direct_blockers(issue.id):
                return True
            parent = issue.parent
            issue = self.get(parent) if parent and self.exists(parent) else None
        return False

    def blockers(self, bead: str) -> builtins.list[str]:
        """Ids holding ``bead`` back directly: open ``blocks``/``conditional-blocks`` targets and
        ``waits-for`` targets with open children."""
        return self._direct_blockers(bead)

    def events(self, bead: str) -> builtins.list[events.Event]:
        """The audit trail of ``bead``, oldest first."""
        return events.query(self.db, bead=bead)

    # ------------------------------------------------------------ creating

    def make_id(
        self,
        prefix: str,
        *,
        title: str,
        description: str = "",
        actor: str = "",
        created_ns: int | None = None,
        middle: str = "",
    ) -> str:
        """A fresh hash id ``prefix-[middle-]hash`` (e.g. ``hq-cv-a3f8`` for a convoy), as beads makes
        them. Call it inside the transaction that creates the bead so no one else takes the id.

        Raises GtError for a bad prefix or middle part.
        """
        full = idgen.check_prefix(f"{prefix}-{middle}" if middle else prefix)
        return idgen.new_id(
            full,
            title,
            description,
            actor,
            now_ns() if created_ns is None else created_ns,
            self._top_level_count(full),
            self.exists,
        )

    def _top_level_count(self, full: str) -> int:
        """How many top-level ids (no ``.N`` part) start with ``full-`` (the ids :func:`core.beads.ids.id_length`
        sizes a new one by), from ``id_counters``: one row per prefix ever minted, which the
        ``id_counted_*`` triggers keep exact through any statement that inserts, deletes or renames a
        bead (an import, a raw insert). A prefix without its row yet (its first id, or a database
        older than the table) is counted once, in a write transaction so that no insert slips
        between the count and the row. The count only sizes the id; :func:`core.beads.ids.new_id`
        checks each candidate against the ledger, so an id in use is never handed out."""
        row = self.db.execute("SELECT top_level FROM id_counters WHERE prefix = ?", [full]).fetchone()
        if row is not None:
            return int(row[0])
        with transaction(self.db):
            row = self.db.execute("SELECT top_level FROM id_counters WHERE prefix = ?", [full]).fetchone()
            if row is not None:
                return int(row[0])
            existing = self.db.execute(
                "SELECT count(*) FROM issues WHERE id >= ? AND id < ? AND instr(id, '.') = 0", [f"{full}-", f"{full}."]
            ).fetchone()[0]
            self.db.execute("INSERT INTO id_counters (prefix, top_level) VALUES (?, ?)", [full, existing])
            return int(existing)

    def create(
        self,
        title: str,
        *,
        actor: str,
        description: str = "",
        prefix: str | None = None,
        issue_type: str = "task",
        priority: int | str = 2,
        parent: str | None = None,
        labels: Iterable[str] = (),
        deps: Iterable[str | tuple[str, str]] = (),
        assignee: str = "",
        metadata: dict[str, Any] | str | None = None,
        ephemeral: bool = False,
        design: str = "",
        acceptance_criteria: str = "",
        notes: str = "",
        id: str | None = None,
        id_middle: str = "",
        status: str = "open",
        owner: str = "",
        external_ref: str | None = None,
        defer_until: str | None = None,
        due_at: str | None = None,
    ) -> Issue:
        """Create a bead and return it.

        The id is ``id`` if given (Conflict if taken), else ``<parent>.<n>`` for a child (at most 3
        levels), else a hash id with ``prefix`` (default: the town's, else ``bd``) and ``id_middle``.
        deps: ``"ID"`` (blocks), ``"TYPE:ID"`` or ``(ID, TYPE)``. priority: 0-4.
        Raises GtError for bad fields, NotFound for an unknown parent or dependency.
        """
        title = check_title(title)
        prio = check_priority(priority)
        check_issue_type(issue_type)
        check_status(status)
        meta = parse_metadata(metadata)
        label_list = sorted({check_label(lb) for lb in labels})
        dep_list = [parse_dep_spec(d) for d in deps]
        for name, value in (("defer_until", defer_until), ("due_at", due_at)):
            if value is not None:
                check_timestamp(value, name)
        if id is not None:
            idgen.check_id(id)
        ns = now_ns()
        stamp = format_ts(ns)
        with transaction(self.db):
            if id is not None:
                if self.exists(id):
                    raise Conflict(f"bead {id} already exists: choose another id or update it")
                bead = id
            elif parent is not None:
                bead = self._next_child(parent)
            else:
                base = prefix or (self.town.prefix if self.town is not None else "bd")
                bead = self.make_id(
                    base, title=title, description=description, actor=actor, created_ns=ns, middle=id_middle
                )
            self.db.execute(
                "INSERT INTO issues (id, title, description, design, acceptance_criteria, notes, status, "
                "priority, issue_type, assignee, owner, created_at, created_ns, created_by, updated_at, "
                "started_at, closed_at, external_ref, defer_until, defer_ns, due_at, ephemeral, metadata) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    bead,
                    title,
                    description,
                    design,
                    acceptance_criteria,
                    notes,
                    status,
                    prio,
                    issue_type,
                    assignee,
                    owner,
                    stamp,
                    ns,
                    actor,
                    stamp,
                    stamp if status == "in_progress" else None,
                    stamp if status == "closed" else None,
                    external_ref,
                    defer_until,
                    parse_ts(defer_until) if defer_until else None,
                    due_at,
                    int(bool(ephemeral)),
                    json.dumps(meta) if meta is not None else None,
                ],
            )
            for lb in label_list:
                self.db.execute("INSERT INTO labels (issue_id, label) VALUES (?, ?)", [bead, lb])
            if parent is not None:
                self._insert_dep(bead, parent, "parent-child", actor, stamp)
            for target, dep_type in dep_list:
                self._insert_dep(bead, target, dep_type, actor, stamp)
            self._event(
                "created",
                actor,
                bead,
                {
                    "title": title,
                    "issue_type": issue_type,
                    "priority": prio,
                    "parent": parent,
                    "labels": label_list,
                    "deps": [f"{t}:{d}" for d, t in dep_list],
                },
            )
            return self.get(bead)

    def _next_child(self, parent: str) -> str:
        if not self.exists(parent):
            raise NotFound(f"no bead {parent!r} to be the parent: check the id with 'gt bead list'")
        if idgen.depth(parent) >= MAX_CHILD_DEPTH:
            raise GtError(f"{parent} is already {MAX_CHILD_DEPTH} levels deep: attach the child higher up")
        row = self.db.execute("SELECT last_child FROM child_counters WHERE parent_id = ?", [parent]).fetchone()
        last = row[0] if row else 0
        for (kid,) in self.db.execute("SELECT id FROM issues WHERE id > ? AND id < ?", [f"{parent}.", f"{parent}/"]):
            rest = kid[len(parent) + 1 :]
            if rest.isdigit():
                last = max(last, int(rest))
        n = last + 1
        self.db.execute(
            "INSERT INTO child_counters (parent_id, last_child) VALUES (?, ?) "
            "ON CONFLICT(parent_id) DO UPDATE SET last_child = excluded.last_child",
            [parent, n],
        )
        return idgen.child_id(parent, n)

    # ------------------------------------------------------------ updating

    def update(self, bead: str, actor: str, **fields: Any) -> Issue:
        """Change fields of ``bead`` (any of UPDATABLE) and return it. ``status="closed"`` closes it
        (refused while it has open blockers); leaving ``closed`` reopens it. No change, no event.

        Raises NotFound, GtError for an unknown field or a bad value, Conflict for a refused close.
        """
        unknown = sorted(set(fields) - set(UPDATABLE))
        if unknown:
            raise GtError(f"cannot update {', '.join(unknown)}: updatable fields are {', '.join(UPDATABLE)}")
        clean = dict(fields)
        if "title" in clean:
            clean["title"] = check_title(clean["title"])
        if "priority" in clean:
            clean["priority"] = check_priority(clean["priority"])
        if "status" in clean:
            check_status(clean["status"], self.custom_statuses())
        if "issue_type" in clean:
            check_issue_type(clean["issue_type"])
        if "metadata" in clean:
            clean["metadata"] = parse_metadata(clean["metadata"])
        if "ephemeral" in clean:
            clean["ephemeral"] = bool(clean["ephemeral"])
        for name in ("defer_until", "due_at"):
            if clean.get(name):
                check_timestamp(clean[name], name)
            elif name in clean:
                clean[name] = None
        for name in (
            "title",
            "description",
            "design",
            "acceptance_criteria",
            "notes",
            "assignee",
            "owner",
            "close_reason",
        ):
            if name in clean and not isinstance(clean[name], str):
                raise GtError(f"{name} must be text, got {type(clean[name]).__name__}")
        with transaction(self.db):
            old = self.get(bead)
            new_status = clean.pop("status", old.status)
            changes = {k: v for k, v in clean.items() if getattr(old, k) != v}
            if new_status == "closed" and old.status != "closed":
                self._check_closable(old, force=False)
            stamp = format_ts(now_ns())
            sets: dict[str, Any] = {}
            for k, v in changes.items():
                if k == "metadata":
                    sets[k] = json.dumps(v) if v is not None else None
                elif k == "ephemeral":
                    sets[k] = int(v)
                else:
                    sets[k] = v
                if k == "defer_until":
                    sets["defer_ns"] = parse_ts(v) if v else None
            if new_status != old.status:
                sets.update(self._status_columns(old, new_status, stamp))
                if new_status != "closed" and "close_reason" not in changes:
                    sets["close_reason"] = ""
            if not sets:
                return old
            sets["updated_at"] = stamp
            assignments = ", ".join(f"{k} = ?" for k in sets)
            self.db.execute(f"UPDATE issues SET {assignments} WHERE id = ?", [*sets.values(), bead])
            if changes:
                self._event(
                    "updated",
                    actor,
                    bead,
                    {"fields": {k: {"old": getattr(old, k), "new": v} for k, v in changes.items()}},
                )
            if new_status != old.status:
                kind = (
                    "closed" if new_status == "closed" else "reopened" if old.status == "closed" else "status_changed"
                )
                self._event(
                    kind, actor, bead, {"old": old.status, "new": new_status, "reason": changes.get("close_reason", "")}
                )
            return self.get(bead)

    @staticmethod
    def _status_columns(old: Issue, new_status: str, stamp: str) -> dict[str, Any]:
        cols: dict[str, Any] = {"status": new_status}
        cols["closed_at"] = stamp if new_status == "closed" else None
        if new_status == "in_progress" and not old.started_at:
            cols["started_at"] = stamp
        return cols

    def close(self, bead: str, actor: str, reason: str = "", force: bool = False) -> Issue:
        """Close ``bead`` with ``reason`` (sets ``closed_at``). Closing a closed bead changes nothing.

        Raises NotFound; Conflict while it has open blockers, or (an epic) open children, unless ``force``.
        """
        with transaction(self.db):
            issue = self.get(bead)
            if issue.status == "closed":
                return issue
            self._check_closable(issue, force)
            stamp = format_ts(now_ns())
            self.db.execute(
                "UPDATE issues SET status = 'closed', closed_at = ?, close_reason = ?, updated_at = ? WHERE id = ?",
                [stamp, reason, stamp, bead],
            )
            self._event("closed", actor, bead, {"old": issue.status, "reason": reason, "forced": force})
            return self.get(bead)

    def _check_closable(self, issue: Issue, force: bool) -> None:
        if force:
            return
        open_blockers = self._direct_blockers(issue.id)
        if open_blockers:
            raise Conflict(
                f"{issue.id} is blocked by open {', '.join(open_blockers)}: close those first or pass --force"
            )
        if issue.issue_type == "epic":
            kids = self.db.execute(
                "SELECT d.issue_id FROM dependencies d JOIN issues c ON c.id = d.issue_id "
                "WHERE d.depends_on_id = ? AND d.type = 'parent-child' AND c.status != 'closed' "
                "ORDER BY d.issue_id",
                [issue.id],
            ).fetchall()
            if kids:
                raise Conflict(
                    f"epic {issue.id} has open children ({', '.join(k[0] for k in kids[:10])}): "
                    "close them first or pass --force"
                )

    def reopen(self, bead: str, actor: str, reason: str = "") -> Issue:
        """Reopen a closed ``bead`` (status open, ``closed_at`` and ``close_reason`` cleared).

        Raises NotFound; Conflict if it is not closed.
        """
        with transaction(self.db):
            issue = self.get(bead)
            if issue.status != "closed":
                raise Conflict(f"{bead} is {issue.status}, not closed: only closed beads can be reopened")
            stamp = format_ts(now_ns())
            self.db.execute(
                "UPDATE issues SET status = 'open', closed_at = NULL, close_reason = '', updated_at = ? WHERE id = ?",
                [stamp, bead],
            )
            self._event("reopened", actor, bead, {"reason": reason})
            return self.get(bead)

    def claim(self, bead: str, actor: str) -> Issue:
        """Claim ``bead`` for ``actor``: one compare-and-swap from ``open`` (unassigned or assigned to
        ``actor``) to ``in_progress`` with ``assignee = actor``. Idempotent for the holder.

        Raises NotFound; Conflict "already claimed by X" for others, or when the bead is not open.
        """
        return self._cas_take(bead, actor, actor, "in_progress", "claimed")

    def hook(self, bead: str, assignee: str, actor: str) -> Issue:
        """Hook ``bead`` to ``assignee`` (e.g. ``<rig>/polecats/<name>``): the claim compare-and-swap to
        status ``hooked``. Idempotent when already hooked to ``assignee``.

        Raises NotFound; Conflict when another holds it or it is not open.
        """
        if not assignee:
            raise GtError("hook needs an assignee such as <rig>/polecats/<name>")
        return self._cas_take(bead, assignee, actor, "hooked", "hooked")

    def _cas_take(self, bead: str, assignee: str, actor: str, new_status: str, event: str) -> Issue:
        with self._claim_queue(), transaction(self.db):
            stamp = format_ts(now_ns())
            started = ", started_at = COALESCE(started_at, ?)" if new_status == "in_progress" else ""
            args: list[Any] = [new_status, assignee, stamp]
            if started:
                args.append(stamp)
            cur = self.db.execute(
                f"UPDATE issues SET status = ?, assignee = ?, updated_at = ?{started} "
                "WHERE id = ? AND status = 'open' AND (assignee = '' OR assignee = ?)",
                [*args, bead, assignee],
            )
            if cur.rowcount == 1:
                self._event(event, actor, bead, {"assignee": assignee, "status": new_status})
                return self.get(bead)
            issue = self.get(bead)
        if issue.status == new_status and issue.assignee == assignee:
            return issue
        if issue.assignee and issue.assignee != assignee and issue.status != "closed":
            raise Conflict(f"{bead} is already claimed by {issue.assignee}: pick another bead with 'gt bead ready'")
        raise Conflict(f"{bead} is {issue.status}, not open: only open beads can be claimed or hooked")

    def claim_next(
        self,
        actor: str,
        *,
        sort: str = "priority",
        prefix: str | None = None,
        issue_type: str | None = None,
        priority: int | None = None,
        labels: Iterable[str] = (),
    ) -> Issue | None:
        """Claim the first ready bead ``actor`` may take, in one transaction; None when none is ready.

        One ``UPDATE ... RETURNING`` whose subquery picks the bead (:func:`core.beads.ready.ready_sql`
        with ``LIMIT 1`` over the ready set, or the per-bead plan while it is stale), so two claimers never take the
        same bead: the second's UPDATE sees the first's committed row, which is no longer open (and
        left the ready set). Then the ``claimed`` event, as :meth:`claim` writes it; the bead returned is
        read after the commit (outside a caller's transaction), so the write lock covers the claim only.
        Claimers of one database take turns through :meth:`_claim_queue` before they ask for the lock.
        """
        # Everything but the claim itself is done outside the write lock: the routes, the time, both
        # plans' SQL (which one runs depends on the ready set, seen only inside the transaction).
        table = routes.load(self.town) if self.town is not None else {}
        now = now_ns()
        stamp = format_ts(now)
        plans = {
            fresh: readyq.ready_sql(
                now,
                prefix=prefix,
                claimable_by=actor,
                issue_type=issue_type,
                priority=priority,
                labels=tuple(labels),
                sort=sort,
                limit=1,
                ready_set=fresh,
            )
            for fresh in (True, False)
        }
        with self._claim_queue(), transaction(self.db):
            sql, args = plans[self._ready_set_fresh(refresh=True, claim=True)]
            rows = self.db.conn.execute(
                "UPDATE issues SET status = 'in_progress', assignee = ?, updated_at = ?, "
                f"started_at = COALESCE(started_at, ?) WHERE id = ({sql}) AND status = 'open' RETURNING id",
                [actor, stamp, stamp, *args],
            ).fetchall()
            if not rows:
                return None
            bead = rows[0][0]
            self._event("claimed", actor, bead, {"assignee": actor, "status": "in_progress"}, table)
        return self.get(bead)  # read after the commit: the write lock is held no longer than the claim

    @contextmanager
    def _claim_queue(self) -> Iterator[None]:
        """Wait for this database's claim queue: an exclusive ``flock`` on the file ``<db>-claims``
        (made 0600 on first use), held around one claim's write transaction (:meth:`claim_next`,
        :meth:`claim` and :meth:`hook` queue together, so no kind starves the others). SQLite's busy
        handler retries a taken write lock by sleeping (1, 2, 5... up to 100 ms), so 30 claimers
        left to it leave the lock idle while they sleep and pay a failed attempt each time they
        wake; queued on the ``flock``, the kernel wakes the next claimer when one is done.
        The queue only orders claimers: the write lock is still SQLite's, so any other writer
        (which never waits here) interleaves as before. Inside a caller's transaction (which may
        hold the write lock a queued claimer waits for) and on a database without a file, no wait.
        The kernel drops the lock when its holder exits, however it dies."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        if self._queue_fd is None:
            path = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
            if not path:
                yield
                return
            self._queue_fd = os.open(f"{path}-claims", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            # a store sharing a caller's connection is often dropped without a disconnect
            self._queue_closer = weakref.finalize(self, os.close, self._queue_fd)
        import fcntl  # only claimers pay for it

        fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)

    def cas_status(
        self,
        bead: str,
        expected: Iterable[str],
        new: str,
        actor: str,
        *,
        assignee: str | None = _UNSET,
        expected_assignee: str | None = _UNSET,
        note: str | None = None,
    ) -> bool:
        """Compare-and-swap the status of ``bead``: if it is one of ``expected`` (and, if given, assigned
        to ``expected_assignee``), set it to ``new`` (and ``assignee`` if given; None clears it).
        E.g. release a hook: ``cas_status(id, {"hooked"}, "open", actor, assignee=None)``.

        note: recorded in the ``status_changed`` event. Returns True if the swap happened.
        Raises GtError for an unknown status, NotFound for an unknown bead.
        """
        custom = self.custom_statuses()
        expected = {check_status(s, custom) for s in expected}
        check_status(new, custom)
        with transaction(self.db):
            old = self.get(bead)
            if old.status not in expected:
                return False
            if expected_assignee is not _UNSET and old.assignee != (expected_assignee or ""):
                return False
            stamp = format_ts(now_ns())
            sets = self._status_columns(old, new, stamp) if new != old.status else {}
            if new != "closed" and old.status == "closed":
                sets["close_reason"] = ""
            if assignee is not _UNSET:
                sets["assignee"] = assignee or ""
            sets["updated_at"] = stamp
            where_assignee = ""
            args = [*sets.values(), bead, *sorted(expected)]
            if expected_assignee is not _UNSET:
                where_assignee = " AND assignee = ?"
                args.append(expected_assignee or "")
            cur = self.db.execute(
                f"UPDATE issues SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ? "
                f"AND status IN ({','.join('?' * len(expected))}){where_assignee}",
                args,
            )
            if cur.rowcount != 1:
                return False
            self._event(
                "status_changed",
                actor,
                bead,
                {"old": old.status, "new": new, "assignee": sets.get("assignee", old.assignee), "note": note},
            )
            return True

    # ------------------------------------------------------------ edges, labels, comments

    def add_dependency(self, issue: str, depends_on: str, type: str = "blocks", actor: str = "") -> bool:
        """Add the edge ``issue -> depends_on`` of ``type``. Returns False if it already existed.

        Raises NotFound for unknown ids; GtError for a self-edge, a second parent, or an edge of an
        ordering type (blocks, conditional-blocks, waits-for, parent-child) that would close a cycle.
        """
        check_dep_type(type)
        with transaction(self.db):
            for bead in (issue, depends_on):
                if not self.exists(bead):
                    raise NotFound(f"no bead {bead!r}: check the id with 'gt bead list'")
            added = self._insert_dep(issue, depends_on, type, actor, format_ts(now_ns()))
            if added:
                self._event("dependency_added", actor, issue, {"depends_on": depends_on, "type": type})
            return added

    def _insert_dep(self, issue: str, depends_on: str, dep_type: str, actor: str, stamp: str) -> bool:
        if issue == depends_on:
            raise GtError(f"{issue} cannot depend on itself: give two different beads")
        if not self.exists(depends_on):
            raise NotFound(f"no bead {depends_on!r} to depend on: check the id with 'gt bead list'")
        if dep_type == "parent-child":
            row = self.db.execute(
                "SELECT depends_on_id FROM dependencies WHERE issue_id = ? AND type = 'parent-child' "
                "AND depends_on_id != ?",
                [issue, depends_on],
            ).fetchone()
            if row:
                raise GtError(f"{issue} already has parent {row[0]}: remove that edge first")
        if dep_type in ORDERING_DEP_TYPES:
            hit = self.db.execute(readyq.reaches_sql(), {"start": depends_on, "target": issue}).fetchone()
            if hit:
                raise GtError(
                    f"{issue} -> {depends_on} ({dep_type}) would make a cycle: {depends_on} already "
                    f"depends on {issue}; remove an edge first"
                )
        cur = self.db.execute(
            "INSERT OR IGNORE INTO dependencies (issue_id, depends_on_id, type, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?)",
            [issue, depends_on, dep_type, stamp, actor],
        )
        if cur.rowcount == 1:
            self._touch(issue, stamp)
        return cur.rowcount == 1

    def remove_dependency(self, issue: str, depends_on: str, type: str | None = None, actor: str = "") -> int:
        """Remove the edges ``issue -> depends_on`` (of ``type``, or all). Returns how many went.

        Raises NotFound when there is no such edge.
        """
        with transaction(self.db):
            sql = "DELETE FROM dependencies WHERE issue_id = ? AND depends_on_id = ?"
            args = [issue, depends_on]
            if type is not None:
                sql += " AND type = ?"
                args.append(type)
            cur = self.db.execute(sql, args)
            if cur.rowcount == 0:
                raise NotFound(
                    f"no dependency {issue} -> {depends_on}{f' ({type})' if type else ''}: see 'gt bead show {issue}'"
                )
            self._touch(issue, format_ts(now_ns()))
            self._event("dependency_removed", actor, issue, {"depends_on": depends_on, "type": type})
            return cur.rowcount

    def add_label(self, bead: str, label: str, actor: str = "") -> bool:
        """Add ``label`` to ``bead``. Returns False if it was there. Raises NotFound, GtError for a bad label."""
        check_label(label)
        with transaction(self.db):
            self.get(bead)
            cur = self.db.execute("INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?, ?)", [bead, label])
            if cur.rowcount:
                self._touch(bead, format_ts(now_ns()))
                self._event("label_added", actor, bead, {"label": label})
            return cur.rowcount == 1

    def remove_label(self, bead: str, label: str, actor: str = "") -> bool:
        """Remove ``label`` from ``bead``. Returns False if it was not there. Raises NotFound."""
        with transaction(self.db):
            self.get(bead)
            cur = self.db.execute("DELETE FROM labels WHERE issue_id = ? AND label = ?", [bead, label])
            if cur.rowcount:
                self._touch(bead, format_ts(now_ns()))
                self._event("label_removed", actor, bead, {"label": label})
            return cur.rowcount == 1

    def add_comment(self, bead: str, text: str, actor: str) -> Comment:
        """Add a comment by ``actor`` to ``bead`` and return it. Raises NotFound, GtError for empty text."""
        if not isinstance(text, str) or not text.strip():
            raise GtError("a comment needs text: give a non-empty TEXT")
        with transaction(self.db):
            self.get(bead)
            stamp = format_ts(now_ns())
            cid = self.db.execute("SELECT COALESCE(MAX(comment_id), 0) + 1 FROM comments").fetchone()[0]
            self.db.execute(
                "INSERT INTO comments (comment_id, issue_id, author, text, created_at) VALUES (?,?,?,?,?)",
                [cid, bead, actor, text, stamp],
            )
            self._touch(bead, stamp)
            self._event("commented", actor, bead, {"comment_id": cid})
            return Comment(cid, bead, actor, text, stamp)

    # ------------------------------------------------------------ bulk (import)

    def upsert(self, issues: Iterable[Issue], actor: str = "", source: str = "") -> int:
        """Insert or replace beads wholesale (fields, labels, dependencies, comments), as the JSONL
        import does: the given record wins. One transaction and one ``imported`` event.

        Returns the number of beads written.
        """
        n = 0
        written: list[str] = []
        with transaction(self.db):
            for issue in issues:
                self._put(issue)
                written.append(issue.id)
                n += 1
            if n:
                now = time.time()
                self.db.conn.executemany(
                    "INSERT INTO ledger_dirty (bead, ts) VALUES (?, ?) "
                    "ON CONFLICT(bead) DO UPDATE SET ts = excluded.ts",
                    [(b, now) for b in written],
                )
                events.append(self.db, "imported", actor, payload={"count": n, "source": source})
        return n

    def _put(self, issue: Issue) -> None:
        created_ns = parse_ts(issue.created_at) if issue.created_at else 0
        values = [
            issue.id,
            issue.title,
            issue.description,
            issue.design,
            issue.acceptance_criteria,
            issue.notes,
            issue.status,
            issue.priority,
            issue.issue_type,
            issue.assignee,
            issue.owner,
            issue.created_at,
            created_ns,
            issue.created_by,
            issue.updated_at,
            issue.started_at,
            issue.closed_at,
            issue.close_reason,
            issue.defer_until,
            parse_ts(issue.defer_until) if issue.defer_until else None,
            issue.due_at,
            issue.external_ref,
            int(issue.ephemeral),
            json.dumps(issue.metadata) if issue.metadata is not None else None,
            json.dumps(issue.extra),
        ]
        cols = (
            "id",
            "title",
            "description",
            "design",
            "acceptance_criteria",
            "notes",
            "status",
            "priority",
            "issue_type",
            "assignee",
            "owner",
            "created_at",
            "created_ns",
            "created_by",
            "updated_at",
            "started_at",
            "closed_at",
            "close_reason",
            "defer_until",
            "defer_ns",
            "due_at",
            "external_ref",
            "ephemeral",
            "metadata",
            "extra",
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        self.db.execute(
            f"INSERT INTO issues ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(id) DO UPDATE SET {updates}",
            values,
        )
        conn = self.db.conn
        for table in ("labels", "dependencies", "comments"):
            conn.execute(f"DELETE FROM {table} WHERE issue_id = ?", [issue.id])
        conn.executemany(
            "INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?, ?)", [(issue.id, lb) for lb in issue.labels]
        )
        conn.executemany(
            "INSERT OR REPLACE INTO dependencies (issue_id, depends_on_id, type, created_at, created_by, "
            "extra) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (issue.id, d.depends_on_id, d.type, d.created_at, d.created_by, json.dumps(d.extra))
                for d in issue.dependencies
            ],
        )
        conn.executemany(
            "INSERT INTO comments (comment_id, issue_id, author, text, created_at, extra) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (c.id, issue.id, c.author, c.text, c.created_at, json.dumps(c.extra))
                if isinstance(c.id, int)
                else (0, issue.id, c.author, c.text, c.created_at, json.dumps({**c.extra, "id": c.id}))
                for c in issue.comments
            ],
        )

    # ------------------------------------------------------------ ledger sync bookkeeping

    def dirty(self) -> builtins.list[tuple[str, float]]:
        """Beads changed since the last ledger sync: (id, Unix seconds of the last change), oldest first."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT bead, ts FROM ledger_dirty ORDER BY ts, bead")]

    def clear_dirty(self, seen: Iterable[tuple[str, float]]) -> None:
        """Forget the dirty marks in ``seen`` unless the bead changed again since (its ts moved on)."""
        with transaction(self.db):
            self.db.conn.executemany("DELETE FROM ledger_dirty WHERE bead = ? AND ts <= ?", list(seen))

    def custom_statuses(self) -> tuple[str, ...]:
        """The ledger's custom statuses: the names in bd's ``status.custom`` config (``"a:wip,b"``)."""
        return custom_names(self.config_get("status.custom"))

    def memories(self) -> dict[str, str]:
        """The ledger's memories (``bd remember``), key -> value, sorted by key."""
        return dict(self.db.execute("SELECT key, value FROM memories ORDER BY key").fetchall())

    def put_memories(self, memories: dict[str, str]) -> None:
        """Insert or replace memories (key -> value); joins a caller's transaction."""
        with transaction(self.db):
            self.db.conn.executemany(
                "INSERT INTO memories (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(memories.items()),
            )

    def config_get(self, key: str) -> str | None:
        """A value of the ledger's key/value config, or None."""
        row = self.db.execute("SELECT value FROM beads_config WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def config_set(self, key: str, value: str | None) -> None:
        """Set (or with None delete) a key of the ledger's key/value config (joins a caller's transaction)."""
        with transaction(self.db):
            if value is None:
                self.db.execute("DELETE FROM beads_config WHERE key = ?", [key])
            else:
                self.db.execute(
                    "INSERT INTO beads_config (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [key, value],
                )

    # ------------------------------------------------------------ internals

    def _direct_blockers(self, bead: str) -> builtins.list[str]:
        rows = self.db.execute(readyq.direct_pairs_sql(single=True) + " ORDER BY 2", {"bead": bead}).fetchall()
        return [r[1] for r in rows]

    def _ready_set_fresh(self, refresh: bool = False, claim: bool = False) -> bool:
        """True if the ready set (:mod:`core.beads.ready`) is in step with the ledger, read in the
        caller's transaction. refresh: rebuild a stale one first (the caller holds the write lock);
        claim: only once :data:`core.beads.ready.REBUILD_AFTER` claims in a row found it stale."""
        conn = self.db.conn
        if conn.execute(readyq.FRESH_SQL).fetchone() is not None:
            return True
        if not refresh:
            return False
        if claim and conn.execute(readyq.MISS_SQL).fetchone()[0] < readyq.REBUILD_AFTER:
            return False
        for statement in readyq.REFRESH_SQL:
            conn.execute(statement)
        return True

    def _touch(self, bead: str, stamp: str) -> None:
        self.db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", [stamp, bead])

    def _event(
        self, kind: str, actor: str, bead: str, payload: dict[str, Any], table: dict[str, str] | None = None
    ) -> None:
        """Append the event ``kind`` of ``bead`` and mark it dirty. table: the town's routes, read
        before the caller took the write lock (else they are read here)."""
        rig = routes.rig_for(bead, table) if table is not None else self._rig_of(bead)
        events.append(self.db, kind, actor, rig=rig, bead=bead, payload=payload)
        self.db.execute(
            "INSERT INTO ledger_dirty (bead, ts) VALUES (?, ?) ON CONFLICT(bead) DO UPDATE SET ts = excluded.ts",
            [bead, time.time()],
        )

    def _rig_of(self, bead: str) -> str | None:
        return routes.rig_of(self.town, bead) if self.town is not None else None

    def _issues(self, sql: str, args: builtins.list[Any]) -> builtins.list[Issue]:
        """The beads the statement ``sql`` selects (rows of :data:`_SELECT`, in its order), hydrated.

        Python's cyclic garbage collector is paused while they are read and built (and left as it
        was): the containers a listing makes (a ``ready`` at 10k beads: 25,000, none of them part of
        a cycle: rows, beads and their lists only point downwards) then cost one young collection
        after it instead of about 40 during it, and a full one every third listing (measured: a
        collector's 4.2 ms of CPU per such ``ready``, 2.7 ms paused)."""
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._hydrate([_issue(r) for r in self.db.execute(sql, args).fetchall()])
        finally:
            if paused:
                gc.enable()

    def _hydrate(self, issues: builtins.list[Issue]) -> builtins.list[Issue]:
        """Fill the labels, dependencies and comments of ``issues`` (fresh from :func:`_issue`) in place
        and return them: one set-based query per table for all of them (the ids as one JSON array,
        ``json_each`` joined to the table's index: no IN list to build, no query per bead). Labels
        come sorted, edges and comments in insertion (rowid) order."""
        if not issues:
            return issues
        by_id = {i.id: i for i in issues}
        conn = self.db.conn
        if len(by_id) == 1:
            source, arg = "(SELECT ? AS value, 0 AS key) j", issues[0].id
        else:
            source, arg = "json_each(?) j", json.dumps(builtins.list(by_id))
        for issue_id, label in conn.execute(
            f"SELECT t.issue_id, t.label FROM {source} CROSS JOIN labels t ON t.issue_id = j.value "
            "ORDER BY j.key, t.label",
            [arg],
        ):
            by_id[issue_id].labels.append(label)
        for issue_id, target, dep_type, created_at, created_by, extra in conn.execute(
            "SELECT t.issue_id, t.depends_on_id, t.type, t.created_at, t.created_by, t.extra "
            f"FROM {source} CROSS JOIN dependencies t ON t.issue_id = j.value ORDER BY j.key, t.rowid",
            [arg],
        ):
            by_id[issue_id].dependencies.append(
                Dependency(issue_id, target, dep_type, created_at, created_by, {} if extra == "{}" else _obj(extra))
            )
        for cid, issue_id, author, text, created_at, extra in conn.execute(
            "SELECT t.comment_id, t.issue_id, t.author, t.text, t.created_at, t.extra "
            f"FROM {source} CROSS JOIN comments t ON t.issue_id = j.value ORDER BY j.key, t.rowid",
            [arg],
        ):
            more = _obj(extra)
            cid = more.pop("id", cid)  # a string id (bd v1.0+) lives in extra, see the module docstring
            by_id[issue_id].comments.append(Comment(cid, issue_id, author, text, created_at, more))
        return issues


def _issue(row: tuple[Any, ...]) -> Issue:
    """An :class:`Issue` (no labels, edges or comments yet) from a row of :data:`_SELECT`: the
    :data:`_PLAIN` columns, then the :data:`_PACKED` ones as a JSON array or NULL (all empty)."""
    id_, title, description, status, priority, issue_type, assignee, created_at, created_by, updated_at, packed = row
    if packed is None:
        return Issue(
            id_, title, description, "", "", "", status, priority, issue_type, assignee, "", created_at, created_by,
            updated_at,
        )  # fmt: skip
    (
        design,
        acceptance,
        notes,
        owner,
        started_at,
        closed_at,
        close_reason,
        defer_until,
        due_at,
        external_ref,
        ephemeral,
        metadata,
        extra,
    ) = json.loads(packed)
    return Issue(
        id_, title, description, design, acceptance, notes, status, priority, issue_type, assignee, owner,
        created_at, created_by, updated_at, started_at, closed_at, close_reason, defer_until, due_at, external_ref,
        bool(ephemeral), json.loads(metadata) if metadata is not None else None, [], [], [], _obj(extra),
    )  # fmt: skip


def _obj(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text and text != "{}" else {}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _child_key(bead: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in bead.split(".")[1:])
