"""Blocking and ready work: which beads an agent may start now (beads' ``ready`` semantics).

A bead that is not closed or pinned is *blocked* when

* a ``blocks`` or ``conditional-blocks`` edge points at a bead that is not closed (edges to ids the
  ledger does not hold never block, like beads' join on the issues table);
* a ``waits-for`` edge points at a bead that has a child (``parent-child``) that is not closed;
* its parent (``parent-child`` target) is blocked, transitively.

*Ready* = status ``open``, not blocked, not ephemeral (``ephemeral``, or the legacy ``wisp`` flag the
import maps onto it), not a template (``is_template``) or pinned (the ``pinned`` flag of Dolt-era
exports), not a plumbing or infra type (:data:`core.beads.model.NON_WORK_TYPES`: message, merge-request,
gate, molecule, convoy, agent, rig, role, event, slot), ``defer_until`` empty or past. Order: priority then oldest first
(``priority``), or ``oldest`` / ``newest`` first; equal times by id (``newest``: descending).

The plans are SQL evaluated by SQLite. The *ready set* (issue 19) is the materialized one: the table
``ready_set`` holds every open bead that is not blocked (its id, priority and ``created_ns``), and
``ready_fresh`` holds one row while it is in step with the ledger. Triggers (:data:`READY_SET_DDL`, so a
change by any statement counts) keep it so: a bead leaving ``open`` for another status that is not
``closed`` or ``pinned`` (a claim, a hook) leaves the set, a priority, defer or assignee change is
copied; anything else that can change the blocked set or the static rules (a bead added or deleted,
a status change into or out of ``closed`` or ``pinned``, a bead becoming open, a type, ephemeral or
``extra`` change, an ordering edge added, removed or changed) empties ``ready_fresh``. A stale set is
rebuilt (:data:`REFRESH_SQL`, one blocked-set computation) by the next full ``ready`` listing, or by
the :data:`REBUILD_AFTER`-th claim in a row that finds it stale (:data:`MISS_SQL`); the queries then
read it in index order, checking only the set's copies of each bead's fields (defer, assignee,
priority). While it is stale the plans compute: the whole blocked set as one recursive CTE when every
ready bead is wanted, or, under a ``LIMIT`` (``gt bead ready``'s first 10), a correlated check of each
bead met in ready order that walks its own parent chain.
"""

from __future__ import annotations


from core.beads.model import BLOCKING_DEP_TYPES, NON_WORK_TYPES, ORDERING_DEP_TYPES

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

SORTS = ("priority", "oldest", "newest")

_blocking = ",".join(f"'{t}'" for t in BLOCKING_DEP_TYPES)
_ordering = ",".join(f"'{t}'" for t in ORDERING_DEP_TYPES)
_non_work = ",".join(f"'{t}'" for t in NON_WORK_TYPES)


def direct_pairs_sql(single: bool = False) -> str:
    """SQL selecting ``(issue_id, blocker)`` pairs of direct blocking: open ``blocks`` /
    ``conditional-blocks`` targets, and ``waits-for`` targets with an open child.
    single: restrict to the bead given as the named parameter ``:bead``."""
    only = "d.issue_id = :bead AND " if single else ""
    return f"""
    SELECT d.issue_id, d.depends_on_id FROM dependencies d CROSS JOIN issues b ON b.id = d.depends_on_id
    WHERE {only}{"+" if single else ""}d.type IN ({_blocking}) AND b.status != 'closed'
    UNION
    SELECT d.issue_id, d.depends_on_id FROM dependencies d
    CROSS JOIN dependencies c ON c.depends_on_id = d.depends_on_id AND c.type = 'parent-child'
    CROSS JOIN issues ch ON ch.id = c.issue_id
    WHERE {only}{"+" if single else ""}d.type = 'waits-for' AND ch.status != 'closed'"""


#: CTE defining ``blocked(id)``; prepend it to a SELECT that uses ``blocked``.
BLOCKED_CTE = f"""
WITH RECURSIVE
direct(id) AS (SELECT issue_id FROM ({direct_pairs_sql()})),
blocked(id) AS (
    SELECT i.id FROM direct CROSS JOIN issues i ON i.id = direct.id WHERE i.status NOT IN ('closed', 'pinned')
    UNION
    SELECT d.issue_id FROM blocked b
    CROSS JOIN dependencies d ON d.depends_on_id = b.id AND d.type = 'parent-child'
    CROSS JOIN issues i ON i.id = d.issue_id
    WHERE i.status NOT IN ('closed', 'pinned')
)
"""

#: Condition true for the edge ``d`` when it blocks its bead directly (:func:`direct_pairs_sql`'s rule).
_DIRECT_EDGE = f"""((d.type IN ({_blocking})
        AND EXISTS (SELECT 1 FROM issues b WHERE b.id = d.depends_on_id AND b.status != 'closed'))
    OR (d.type = 'waits-for' AND EXISTS (
        SELECT 1 FROM dependencies c CROSS JOIN issues ch ON ch.id = c.issue_id
        WHERE c.depends_on_id = d.depends_on_id AND c.type = 'parent-child' AND ch.status != 'closed')))"""

#: Condition true for the bead ``issues i`` when it is not blocked, decided for that bead alone: no
#: direct blocker, and (when it has a parent) none on its parent chain (``parent-child`` targets not
#: closed or pinned, walked upward). The same rule as :data:`BLOCKED_CTE`; the plan for a ``LIMIT``,
#: which can stop at the first ready beads instead of computing the whole blocked set first (a claim
#: at 10k beads: 0.02 ms against 5 ms; each blocked bead passed on the way costs about 1 us).
NOT_BLOCKED_SQL = f"""NOT EXISTS (SELECT 1 FROM dependencies d WHERE d.issue_id = i.id AND {_DIRECT_EDGE})
AND (NOT EXISTS (SELECT 1 FROM dependencies pc WHERE pc.issue_id = i.id AND pc.type = 'parent-child')
    OR NOT EXISTS (
        WITH RECURSIVE up(id) AS (
            SELECT p.id FROM dependencies pd CROSS JOIN issues p ON p.id = pd.depends_on_id
            WHERE pd.issue_id = i.id AND pd.type = 'parent-child' AND p.status NOT IN ('closed', 'pinned')
            UNION
            SELECT p.id FROM up CROSS JOIN dependencies pd ON pd.issue_id = up.id AND pd.type = 'parent-child'
            CROSS JOIN issues p ON p.id = pd.depends_on_id WHERE p.status NOT IN ('closed', 'pinned')
        )
        SELECT 1 FROM up CROSS JOIN dependencies d ON d.issue_id = up.id WHERE {_DIRECT_EDGE}))"""

#: Reachability over ordering edges: ``reach(id)`` from the parameter ``:start``.
REACH_CTE = f"""
WITH RECURSIVE reach(id) AS (
    SELECT :start
    UNION
    SELECT d.depends_on_id FROM reach r
    CROSS JOIN dependencies d ON d.issue_id = r.id AND d.type IN ({_ordering})
)
"""

#: Condition true for a bead that is neither a template nor pinned (bd's ``is_template`` and ``pinned``
#: flags, kept in ``issues.extra``; most beads have an empty extra, so the JSON is rarely read).
NOT_TEMPLATE_SQL = (
    "(i.extra = '{}' OR (COALESCE(json_extract(i.extra, '$.is_template'), 0) = 0 "
    "AND COALESCE(json_extract(i.extra, '$.pinned'), 0) = 0))"
)

#: The ready set's tables and the triggers keeping it in step (see the module docstring); part of the
#: beads schema (:mod:`core.beads.store`). The order's last tie-breaker is the id, as in the computed
#: plans (a rowid is no key: VACUUM may renumber them). ``ready_set_pick`` holds every column a
#: claim's pick or a listing's filters read, in the priority order, so those scans never visit the
#: table. ``seq`` is unused (written 0): towns made before the id tie-break hold it as NOT NULL.
READY_SET_DDL = f"""
CREATE TABLE IF NOT EXISTS ready_set (
    id TEXT PRIMARY KEY,
    priority INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    defer_ns INTEGER,
    assignee TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ready_set_pick ON ready_set(priority, created_ns, id, defer_ns, assignee);
CREATE INDEX IF NOT EXISTS ready_set_when ON ready_set(created_ns, id);
CREATE TABLE IF NOT EXISTS ready_fresh (k INTEGER PRIMARY KEY CHECK (k >= 0));
CREATE TRIGGER IF NOT EXISTS ready_bead_added AFTER INSERT ON issues BEGIN
    DELETE FROM ready_fresh;
END;
CREATE TRIGGER IF NOT EXISTS ready_bead_deleted AFTER DELETE ON issues BEGIN
    DELETE FROM ready_fresh;
END;
CREATE TRIGGER IF NOT EXISTS ready_bead_kind AFTER UPDATE OF id, created_ns, issue_type, ephemeral, extra ON issues
WHEN old.id IS NOT new.id OR old.created_ns IS NOT new.created_ns OR old.issue_type IS NOT new.issue_type
    OR old.ephemeral IS NOT new.ephemeral OR old.extra IS NOT new.extra BEGIN
    DELETE FROM ready_fresh;
END;
CREATE TRIGGER IF NOT EXISTS ready_bead_status AFTER UPDATE OF status ON issues
WHEN old.status IS NOT new.status BEGIN
    DELETE FROM ready_fresh
    WHERE old.status IN ('closed', 'pinned') OR new.status IN ('closed', 'pinned', 'open');
    DELETE FROM ready_set WHERE id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS ready_bead_copied AFTER UPDATE OF priority, defer_ns, assignee ON issues
WHEN old.status IS new.status
    AND (old.priority IS NOT new.priority OR old.defer_ns IS NOT new.defer_ns OR old.assignee IS NOT new.assignee) BEGIN
    UPDATE ready_set SET priority = new.priority, defer_ns = new.defer_ns, assignee = new.assignee
    WHERE id = new.id;
END;
CREATE TRIGGER IF NOT EXISTS ready_edge_added AFTER INSERT ON dependencies
WHEN new.type IN ({_ordering}) BEGIN
    DELETE FROM ready_fresh;
END;
CREATE TRIGGER IF NOT EXISTS ready_edge_removed AFTER DELETE ON dependencies
WHEN old.type IN ({_ordering}) BEGIN
    DELETE FROM ready_fresh;
END;
CREATE TRIGGER IF NOT EXISTS ready_edge_changed AFTER UPDATE ON dependencies
WHEN old.type IN ({_ordering}) OR new.type IN ({_ordering}) BEGIN
    DELETE FROM ready_fresh;
END;
"""

#: True (one row) when the ready set is in step with the ledger.
FRESH_SQL = "SELECT 1 FROM ready_fresh WHERE k = 0"

#: Claims in a row that find the set stale before one rebuilds it (see :data:`MISS_SQL`).
REBUILD_AFTER = 8

#: Count a claim that found the set stale and return the count of such claims since the set went
#: stale (rows ``k`` = 1, 2, ... of ``ready_fresh``, which every staling trigger empties). A claim
#: alone pays a rebuild only after :data:`REBUILD_AFTER` of them: a burst of claims (30 polecats after
#: a pour) soon reads the set, a change between every claim (close, claim, close...) never rebuilds it
#: and keeps the per-bead plan, whose cost does not grow with the ledger as a rebuild's does.
MISS_SQL = "INSERT INTO ready_fresh (k) SELECT coalesce(max(k), 0) + 1 FROM ready_fresh RETURNING k"

#: What towns made before hold and a rebuild drops: the ready set's indexes before the id tie-break
#: (replaced by ``ready_set_pick`` and ``ready_set_when``), and the copying trigger before
#: ``ready_bead_copied``, which also fired for a claim (rewriting the row the status trigger deletes).
_OLD_OBJECTS = (("INDEX", "ready_set_order"), ("INDEX", "ready_set_age"), ("TRIGGER", "ready_bead_fields"))

#: Statements rebuilding the ready set (run them in one write transaction): the open beads that are
#: not blocked, not ephemeral, of a work type and no template (the rules of :func:`ready_sql` that
#: do not depend on the time or the asker).
REFRESH_SQL = (
    *(f"DROP {kind} IF EXISTS {name}" for kind, name in _OLD_OBJECTS),
    "DELETE FROM ready_fresh",
    "DELETE FROM ready_set",
    f"{BLOCKED_CTE} INSERT INTO ready_set (id, priority, created_ns, seq, defer_ns, assignee) "
    "SELECT i.id, i.priority, i.created_ns, 0, i.defer_ns, i.assignee FROM issues i "
    f"WHERE i.status = 'open' AND i.ephemeral = 0 AND i.issue_type NOT IN ({_non_work}) AND {NOT_TEMPLATE_SQL} "
    "AND i.id NOT IN (SELECT id FROM blocked)",
    "INSERT OR IGNORE INTO ready_fresh (k) VALUES (0)",
)

ORDER_BY = {
    "priority": "i.priority ASC, i.created_ns ASC, i.id ASC",
    "oldest": "i.created_ns ASC, i.id ASC",
    "newest": "i.created_ns DESC, i.id DESC",
}
#: :data:`ORDER_BY` over the ready set ``r`` (the same order: ``r`` copies the bead's priority and
#: ``created_ns``), so its indexes give the order.
_SET_ORDER_BY = {
    "priority": "r.priority ASC, r.created_ns ASC, r.id ASC",
    "oldest": "r.created_ns ASC, r.id ASC",
    "newest": "r.created_ns DESC, r.id DESC",
}


def ready_sql(
    now_ns: int,
    *,
    prefix: str | None = None,
    assignee: str | None = None,
    unassigned: bool = False,
    claimable_by: str | None = None,
    issue_type: str | None = None,
    priority: int | None = None,
    labels: tuple[str, ...] = (),
    sort: str = "priority",
    limit: int | None = None,
    columns: str = "i.id",
    ready_set: bool = False,
) -> tuple[str, list[Any]]:
    """SQL and parameters selecting ready beads (``columns`` of ``issues i``), ordered by ``sort``.

    now_ns: the current time in Unix ns (for ``defer_until``). prefix: only ids ``prefix-...``.
    claimable_by: only beads unassigned or assigned to that actor. labels: all of them required.
    ready_set: read the ready set (the caller saw it fresh, :data:`FRESH_SQL`, in the same
    transaction); the statement then has no ``WITH`` prefix. Otherwise, without ``limit`` the blocked
    set is computed once (:data:`BLOCKED_CTE`); with one each bead met in order is checked alone
    (:data:`NOT_BLOCKED_SQL`), so the statement has no ``WITH`` prefix and can serve as a subquery.
    Raises ValueError for an unknown sort (the caller validates user input first).
    """
    if sort not in ORDER_BY:
        raise ValueError(f"unknown sort {sort!r}")
    cap = f" LIMIT {int(limit)}" if limit is not None else ""
    if ready_set:
        return _set_sql(
            now_ns,
            prefix=prefix,
            assignee=assignee,
            unassigned=unassigned,
            claimable_by=claimable_by,
            issue_type=issue_type,
            priority=priority,
            labels=labels,
            order=_SET_ORDER_BY[sort] + cap,
            columns=columns,
        )
    where = [
        "i.status = 'open'",
        "i.ephemeral = 0",
        f"i.issue_type NOT IN ({_non_work})",
        NOT_TEMPLATE_SQL,
        "(i.defer_ns IS NULL OR i.defer_ns <= ?)",
    ]
    args: list[Any] = [now_ns]
    _common_filters(
        where,
        args,
        prefix=prefix,
        assignee=assignee,
        unassigned=unassigned,
        claimable_by=claimable_by,
        issue_type=issue_type,
        priority=priority,
        labels=labels,
    )
    if limit is None:
        where.append("i.id NOT IN (SELECT id FROM blocked)")
        return (
            f"{BLOCKED_CTE} SELECT {columns} FROM issues i WHERE {' AND '.join(where)} ORDER BY {ORDER_BY[sort]}",
            args,
        )
    where.append(NOT_BLOCKED_SQL)  # last: SQLite tests the cheap terms first
    return (
        f"SELECT {columns} FROM issues i WHERE {' AND '.join(where)} ORDER BY {ORDER_BY[sort]}{cap}",
        args,
    )


def _set_sql(
    now_ns: int,
    *,
    prefix: str | None,
    assignee: str | None,
    unassigned: bool,
    claimable_by: str | None,
    issue_type: str | None,
    priority: int | None,
    labels: tuple[str, ...],
    order: str,
    columns: str,
) -> tuple[str, list[Any]]:
    """:func:`ready_sql` over the ready set ``r``: the filters read its copies of the bead's
    fields; ``issues i`` is joined only for ``columns`` other than ``i.id`` or an ``issue_type``."""
    where = ["(r.defer_ns IS NULL OR r.defer_ns <= ?)"]
    args: list[Any] = [now_ns]
    _common_filters(
        where,
        args,
        prefix=prefix,
        assignee=assignee,
        unassigned=unassigned,
        claimable_by=claimable_by,
        issue_type=None,  # not copied into the ready set: read from issues below
        priority=priority,
        labels=labels,
        alias="r",
    )
    source = "ready_set r"
    if columns != "i.id" or issue_type is not None:
        source += " CROSS JOIN issues i ON i.id = r.id"
    else:
        columns = "r.id"
    if issue_type is not None:
        where.append("i.issue_type = ?")
        args.append(issue_type)
    return f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order}", args


def _common_filters(
    where: list[str],
    args: list[Any],
    *,
    prefix: str | None,
    assignee: str | None,
    unassigned: bool,
    claimable_by: str | None,
    issue_type: str | None,
    priority: int | None,
    labels: tuple[str, ...],
    alias: str = "i",
) -> None:
    """Append the ready filters to ``where``/``args``, reading the bead's fields from table ``alias``
    (``i``: issues; ``r``: the ready set, which holds copies of id, assignee and priority)."""
    a = alias
    if prefix is not None:
        # ids of a prefix sort between "p-" and "p." ('-' is 0x2d, '.' 0x2e): an index range scan.
        where.append(f"{a}.id >= ? AND {a}.id < ?")
        args.extend([f"{prefix}-", f"{prefix}."])
    if assignee is not None:
        where.append(f"{a}.assignee = ?")
        args.append(assignee)
    if unassigned:
        where.append(f"{a}.assignee = ''")
    if claimable_by is not None:
        where.append(f"({a}.assignee = '' OR {a}.assignee = ?)")
        args.append(claimable_by)
    if issue_type is not None:
        where.append(f"{a}.issue_type = ?")
        args.append(issue_type)
    if priority is not None:
        where.append(f"{a}.priority = ?")
        args.append(priority)
    for label in labels:
        where.append(f"EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = {a}.id AND l.label = ?)")
        args.append(label)


def blocked_sql() -> str:
    """SQL selecting the ids of every blocked bead (not closed or pinned), sorted."""
    return f"{BLOCKED_CTE} SELECT id FROM blocked ORDER BY id"


def reaches_sql() -> str:
    """SQL returning a row when ``:target`` is reachable from ``:start`` over ordering edges
    (the cycle check run before adding an edge ``:target -> :start``)."""
    return f"{REACH_CTE} SELECT 1 FROM reach WHERE id = :target LIMIT 1"
