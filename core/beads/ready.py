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
(``priority``), or ``oldest`` / ``newest`` first.

Both plans are SQL evaluated by SQLite (no cache to keep in step): the whole blocked set as one recursive
CTE when every ready bead is wanted, or, under a ``LIMIT`` (``gt bead ready``'s first 10, a claim), a
correlated check of each bead met in ready order that walks its own parent chain.
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

ORDER_BY = {
    "priority": "i.priority ASC, i.created_ns ASC, i.rowid ASC",
    "oldest": "i.created_ns ASC, i.rowid ASC",
    "newest": "i.created_ns DESC, i.rowid DESC",
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
) -> tuple[str, list[Any]]:
    """SQL and parameters selecting ready beads (``columns`` of ``issues i``), ordered by ``sort``.

    now_ns: the current time in Unix ns (for ``defer_until``). prefix: only ids ``prefix-...``.
    claimable_by: only beads unassigned or assigned to that actor. labels: all of them required.
    Without ``limit`` the blocked set is computed once (:data:`BLOCKED_CTE`); with one each bead met
    in order is checked alone (:data:`NOT_BLOCKED_SQL`), so the statement has no ``WITH`` prefix and
    can serve as a subquery (the claim's UPDATE).
    Raises ValueError for an unknown sort (the caller validates user input first).
    """
    if sort not in ORDER_BY:
        raise ValueError(f"unknown sort {sort!r}")
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
        f"SELECT {columns} FROM issues i WHERE {' AND '.join(where)} ORDER BY {ORDER_BY[sort]} LIMIT {int(limit)}",
        args,
    )


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
) -> None:
    if prefix is not None:
        # ids of a prefix sort between "p-" and "p." ('-' is 0x2d, '.' 0x2e): an index range scan.
        where.append("i.id >= ? AND i.id < ?")
        args.extend([f"{prefix}-", f"{prefix}."])
    if assignee is not None:
        where.append("i.assignee = ?")
        args.append(assignee)
    if unassigned:
        where.append("i.assignee = ''")
    if claimable_by is not None:
        where.append("(i.assignee = '' OR i.assignee = ?)")
        args.append(claimable_by)
    if issue_type is not None:
        where.append("i.issue_type = ?")
        args.append(issue_type)
    if priority is not None:
        where.append("i.priority = ?")
        args.append(priority)
    for label in labels:
        where.append("EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = i.id AND l.label = ?)")
        args.append(label)


def blocked_sql() -> str:
    """SQL selecting the ids of every blocked bead (not closed or pinned), sorted."""
    return f"{BLOCKED_CTE} SELECT id FROM blocked ORDER BY id"


def reaches_sql() -> str:
    """SQL returning a row when ``:target`` is reachable from ``:start`` over ordering edges
    (the cycle check run before adding an edge ``:target -> :start``)."""
    return f"{REACH_CTE} SELECT 1 FROM reach WHERE id = :target LIMIT 1"
