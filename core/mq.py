"""The merge queue: merge requests (MRs) waiting for their rig's refinery, and the batch metrics.

An MR is a polecat branch at one commit (``head_sha``) that ``gt done`` submitted. The table
``merge_requests`` holds the whole queue state, so a refinery that crashes mid-batch resumes from the
database: rows left ``merging`` go back to ``queued`` (:func:`requeue_merging`).

Statuses: ``queued`` -> ``merging`` -> ``merged`` | ``failed`` (a gate failed with it, found by
bisection) | ``conflict`` (does not merge cleanly); ``rejected`` by a human (``gt mq reject``) or
superseded by a newer commit of the same branch; ``pr_open`` when a ``pr`` rig opened a pull request
for it (its reason holds the URL; the forge merges it). The work of a board item this town claimed
is held as ``board`` (the refinery never takes it) until the engine's board loop hands it to the
board, ``submitted`` (:mod:`core.board_work`: the posting town's refinery merges it). ``gt mq retry``
puts a finished MR back to ``queued``.

Ordering (:func:`effective_priority`): priority first (0 is the most urgent, 4 the least), then age,
FIFO. Aging keeps old MRs from starving: an MR gains one priority level for every ``aging_step``
seconds it has waited (default 3600 s), down to 0. So a P4 MR waits at most about 4 hours before it
competes as P0, after which FIFO puts it ahead of every younger MR.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from core import events
from core.db import Database, inserted_id, register_schema, transaction
from core.errors import Conflict, GtError, NotFound

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

STATUSES = ("queued", "merging", "merged", "failed", "conflict", "rejected", "pr_open", "board", "submitted")
FINISHED = ("merged", "failed", "conflict", "rejected", "pr_open", "submitted")
AGING_STEP_S = 3600.0

_SHA = re.compile(r"^[0-9a-f]{40}$")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<![./])$")

register_schema(
    "mq",
    """
CREATE TABLE IF NOT EXISTS merge_requests (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE,
    rig TEXT NOT NULL,
    bead TEXT,
    polecat TEXT,
    branch TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    base_sha TEXT,
    convoy TEXT,
    priority INTEGER NOT NULL DEFAULT 2,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    retry_count INTEGER NOT NULL DEFAULT 0,
    merge_sha TEXT,
    gate_runs INTEGER NOT NULL DEFAULT 0,
    logs TEXT NOT NULL DEFAULT '[]',
    reason TEXT NOT NULL DEFAULT '',
    batch INTEGER,
    UNIQUE (branch, head_sha)
);
CREATE INDEX IF NOT EXISTS merge_requests_queue ON merge_requests(rig, status);
CREATE TABLE IF NOT EXISTS mq_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rig TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    wall_s REAL,
    mrs INTEGER NOT NULL DEFAULT 0,
    merged INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    gate_runs INTEGER NOT NULL DEFAULT 0,
    base_sha TEXT,
    tip_sha TEXT,
    outcome TEXT NOT NULL DEFAULT 'running'
);
CREATE INDEX IF NOT EXISTS mq_batches_rig ON mq_batches(rig, id)
""",
)

_COLUMNS = (
    "id",
    "rig",
    "bead",
    "polecat",
    "branch",
    "head_sha",
    "base_sha",
    "convoy",
    "priority",
    "created_at",
    "updated_at",
    "status",
    "retry_count",
    "merge_sha",
    "gate_runs",
    "logs",
    "reason",
    "batch",
)


@dataclass
class MR:
    """One merge request row. Times are Unix seconds; ``logs`` lists gate log paths (oldest first);
    ``gate_runs`` counts the gate runs whose stack held this MR; ``batch`` is the last batch id."""

    id: str
    rig: str
    bead: str | None
    polecat: str | None
    branch: str
    head_sha: str
    base_sha: str | None
    convoy: str | None
    priority: int
    created_at: float
    updated_at: float
    status: str
    retry_count: int = 0
    merge_sha: str | None = None
    gate_runs: int = 0
    logs: list[str] = field(default_factory=list)
    reason: str = ""
    batch: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every column."""
        return {c: getattr(self, c) for c in _COLUMNS}


@dataclass
class BatchStats:
    """One ``mq_batches`` row: a refinery batch and its figures (wall_s in seconds)."""

    id: int
    rig: str
    started_at: float
    finished_at: float | None
    wall_s: float | None
    mrs: int
    merged: int
    failed: int
    conflicts: int
    gate_runs: int
    base_sha: str | None
    tip_sha: str | None
    outcome: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _row_to_mr(row: tuple[Any, ...]) -> MR:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["logs"] = json.loads(values["logs"] or "[]")
    return MR(**values)


_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM merge_requests"


def effective_priority(priority: int, created_at: float, now: float, aging_step: float = AGING_STEP_S) -> int:
    """Priority after aging: ``priority`` minus one level per ``aging_step`` seconds waited, at least 0.

    priority: 0 (most urgent) .. 4; created_at, now: Unix seconds; aging_step: seconds (> 0).
    """
    waited = max(0.0, now - created_at)
    return max(0, int(priority) - int(waited // aging_step))


def submit(
    db: Database,
    rig: Any,
    bead: str | None,
    polecat: str | None,
    branch: str,
    head_sha: str,
    base_sha: str | None = None,
    priority: int = 2,
    convoy: str | None = None,
    actor: str = "",
    status: str = "queued",
) -> MR:
    """Queue branch ``branch`` at commit ``head_sha`` of ``rig`` (a rig name or a ``core.rigs.Rig``).

    Idempotent per (branch, head_sha): submitting the same pair again returns the existing MR
    unchanged. A new sha on a branch supersedes that branch's still-queued MRs (they become
    ``rejected``, reason ``superseded by mr-N``). Appends an ``mr_submitted`` event.
    priority: 0..4. status: ``queued``, or ``board`` for a claimed board item's work (held for the
    board loop, :mod:`core.board_work`). Raises GtError for a malformed branch name, sha or priority.
    """
    rig_name = str(getattr(rig, "name", rig))
    if not _BRANCH.match(branch or ""):
        raise GtError(f"invalid branch name {branch!r}: use letters, digits and . _ / - (no '..')")
    for label, sha in (("head", head_sha), ("base", base_sha)):
        if sha is not None and not _SHA.match(sha):
            raise GtError(f"invalid {label} sha {sha!r}: give a full 40-character hex commit id")
    if not 0 <= int(priority) <= 4:
        raise GtError(f"invalid priority {priority!r}: use 0 (urgent) to 4 (backlog)")
    if status not in ("queued", "board"):
        raise GtError(f"invalid merge request status {status!r}: a new MR is queued or board")
    now = time.time()
    with transaction(db):
        row = db.execute(f"{_SELECT} WHERE branch = ? AND head_sha = ?", [branch, head_sha]).fetchone()
        if row is not None:
            return _row_to_mr(row)
        cur = db.execute(
            "INSERT INTO merge_requests (rig, bead, polecat, branch, head_sha, base_sha, convoy, priority,"
            " created_at, updated_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rig_name, bead, polecat, branch, head_sha, base_sha, convoy, int(priority), now, now, status],
        )
        n = inserted_id(cur)
        mr_id = f"mr-{n}"
        db.execute("UPDATE merge_requests SET id = ? WHERE n = ?", [mr_id, n])
        old = db.execute(
            "SELECT id FROM merge_requests WHERE branch = ? AND status = 'queued' AND n != ?", [branch, n]
        ).fetchall()
        for (old_id,) in old:
            db.execute(
                "UPDATE merge_requests SET status = 'rejected', reason = ?, updated_at = ? WHERE id = ?",
                [f"superseded by {mr_id}", now, old_id],
            )
        events.append(
            db,
            "mr_submitted",
            actor,
            rig=rig_name,
            bead=bead,
            payload={"mr": mr_id, "branch": branch, "head": head_sha, "superseded": [o[0] for o in old]},
        )
    return get(db, mr_id)


def get(db: Database, mr_id: str) -> MR:
    """The MR ``mr_id`` (e.g. ``mr-12``). Raises NotFound."""
    row = db.execute(f"{_SELECT} WHERE id = ?", [mr_id]).fetchone()
    if row is None:
        raise NotFound(f"no merge request {mr_id!r}: list them with 'gt mq list'")
    return _row_to_mr(row)


def list_mrs(
    db: Database, rig: str | None = None, statuses: tuple[str, ...] | None = None, limit: int | None = None
) -> list[MR]:
    """MRs (of ``rig``, with one of ``statuses``), newest first."""
    where, args = _filters(rig, statuses)
    sql = f"{_SELECT}{where} ORDER BY n DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_row_to_mr(r) for r in db.execute(sql, args).fetchall()]


def of_bead(db: Database, bead: str, statuses: tuple[str, ...] | None = None) -> list[MR]:
    """The MRs of bead ``bead`` (with one of ``statuses``), newest first."""
    sql = f"{_SELECT} WHERE bead = ?"
    args: list[Any] = [bead]
    if statuses:
        sql += f" AND status IN ({','.join('?' * len(statuses))})"
        args.extend(statuses)
    return [_row_to_mr(r) for r in db.execute(sql + " ORDER BY n DESC", args).fetchall()]


def _filters(rig: str | None, statuses: tuple[str, ...] | None) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if rig is not None:
        clauses.append("rig = ?")
        args.append(rig)
    if statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        args.extend(statuses)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def queue(db: Database, rig: str, now: float | None = None, aging_step: float = AGING_STEP_S) -> list[MR]:
    """The queued MRs of ``rig`` in merge order: :func:`effective_priority`, then age (FIFO), then id."""
    now = time.time() if now is None else now
    mrs = list_mrs(db, rig, ("queued",))
    n = {mr.id: int(mr.id.split("-", 1)[1]) for mr in mrs}
    return sorted(
        mrs, key=lambda m: (effective_priority(m.priority, m.created_at, now, aging_step), m.created_at, n[m.id])
    )


def claim_batch(
    db: Database, rig: str, size: int, now: float | None = None, aging_step: float = AGING_STEP_S
) -> tuple[int, list[MR]]:
    """Start a batch of ``rig``: take the first ``size`` queued MRs (queue order), mark them ``merging``
    and create its ``mq_batches`` row, in one transaction. Returns (batch id, MRs); batch id 0 and []
    when nothing is queued (no row is created then)."""
    with transaction(db):
        mrs = queue(db, rig, now, aging_step)[: max(1, int(size))]
        if not mrs:
            return 0, []
        t = time.time()
        batch = inserted_id(
            db.execute("INSERT INTO mq_batches (rig, started_at, mrs) VALUES (?, ?, ?)", [rig, t, len(mrs)])
        )
        for mr in mrs:
            db.execute(
                "UPDATE merge_requests SET status = 'merging', batch = ?, updated_at = ? WHERE id = ?",
                [batch, t, mr.id],
            )
            mr.status, mr.batch, mr.updated_at = "merging", batch, t
    return batch, mrs


def requeue_merging(db: Database, rig: str) -> list[str]:
    """Crash recovery: put ``rig``'s MRs left ``merging`` back to ``queued`` and mark unfinished batch
    rows ``abandoned``. Returns the MR ids requeued."""
    with transaction(db):
        ids = [
            r[0]
            for r in db.execute("SELECT id FROM merge_requests WHERE rig = ? AND status = 'merging'", [rig]).fetchall()
        ]
        now = time.time()
        db.execute(
            "UPDATE merge_requests SET status = 'queued', updated_at = ? WHERE rig = ? AND status = 'merging'",
            [now, rig],
        )
        db.execute(
            "UPDATE mq_batches SET outcome = 'abandoned', finished_at = ? WHERE rig = ? AND outcome = 'running'",
            [now, rig],
        )
        if ids:
            events.append(db, "mq_requeued", f"{rig}/refinery", rig=rig, payload={"mrs": ids})
    return ids


def finish(db: Database, mr_id: str, status: str, reason: str = "", merge_sha: str | None = None) -> None:
    """Set the final ``status`` of MR ``mr_id`` (plain SQL: joins the caller's transaction).

    Raises GtError for a status that is not a finished one.
    """
    if status not in FINISHED:
        raise GtError(f"invalid final status {status!r}: use one of {', '.join(FINISHED)}")
    db.execute(
        "UPDATE merge_requests SET status = ?, reason = ?, merge_sha = ?, updated_at = ? WHERE id = ?",
        [status, reason, merge_sha, time.time(), mr_id],
    )


def record_gate_run(db: Database, mr_ids: list[str], log_paths: list[str]) -> None:
    """Count one gate run against each MR of ``mr_ids`` and link its ``log_paths`` (plain SQL)."""
    for mr_id in mr_ids:
        row = db.execute("SELECT logs FROM merge_requests WHERE id = ?", [mr_id]).fetchone()
        logs = json.loads(row[0] or "[]") + list(log_paths)
        db.execute(
            "UPDATE merge_requests SET gate_runs = gate_runs + 1, logs = ? WHERE id = ?", [json.dumps(logs), mr_id]
        )


def finish_batch(
    db: Database,
    batch: int,
    outcome: str,
    merged: int,
    failed: int,
    conflicts: int,
    gate_runs: int,
    base_sha: str | None,
    tip_sha: str | None,
) -> None:
    """Close batch row ``batch`` with its figures (plain SQL: joins the caller's transaction)."""
    now = time.time()
    db.execute(
        "UPDATE mq_batches SET finished_at = ?, wall_s = ? - started_at, merged = ?, failed = ?,"
        " conflicts = ?, gate_runs = ?, base_sha = ?, tip_sha = ?, outcome = ? WHERE id = ?",
        [now, now, merged, failed, conflicts, gate_runs, base_sha, tip_sha, outcome, batch],
    )


def retry(db: Database, mr_id: str, actor: str = "") -> MR:
    """Put a failed, conflicting or rejected MR back in the queue (retry_count + 1); the work of a
    claimed board item goes back to ``board`` (held for the board loop, never this town's refinery).

    Raises NotFound for an unknown MR, Conflict if it is queued, merging or already merged.
    """
    from core.board import held_for_board

    with transaction(db):
        mr = get(db, mr_id)
        if mr.status not in ("failed", "conflict", "rejected"):
            raise Conflict(f"{mr_id} is {mr.status}: only failed, conflict or rejected MRs can be retried")
        status = "board" if mr.bead and held_for_board(db, mr.bead) else "queued"
        db.execute(
            "UPDATE merge_requests SET status = ?, retry_count = retry_count + 1, reason = '',"
            " updated_at = ? WHERE id = ?",
            [status, time.time(), mr_id],
        )
        events.append(db, "mr_retry", actor, rig=mr.rig, bead=mr.bead, payload={"mr": mr_id})
    return get(db, mr_id)


def reject(db: Database, mr_id: str, reason: str, actor: str = "") -> MR:
    """Take MR ``mr_id`` out of the queue for good (status ``rejected`` with ``reason``).

    Raises NotFound for an unknown MR, Conflict if it is merging or merged, GtError for an empty reason.
    """
    if not reason.strip():
        raise GtError("a rejection needs a reason: pass --reason TEXT")
    with transaction(db):
        mr = get(db, mr_id)
        if mr.status in ("merging", "merged"):
            raise Conflict(f"{mr_id} is {mr.status}: it can no longer be rejected")
        db.execute(
            "UPDATE merge_requests SET status = 'rejected', reason = ?, updated_at = ? WHERE id = ?",
            [reason.strip(), time.time(), mr_id],
        )
        events.append(db, "mr_rejected", actor, rig=mr.rig, bead=mr.bead, payload={"mr": mr_id, "reason": reason})
    return get(db, mr_id)


_BATCH_COLUMNS = (
    "id, rig, started_at, finished_at, wall_s, mrs, merged, failed, conflicts, gate_runs, base_sha, tip_sha, outcome"
)


def batches(db: Database, rig: str | None = None, limit: int = 20) -> list[BatchStats]:
    """The last ``limit`` batches (of ``rig``), newest first."""
    where, args = _filters(rig, None)
    rows = db.execute(
        f"SELECT {_BATCH_COLUMNS} FROM mq_batches{where} ORDER BY id DESC LIMIT {int(limit)}", args
    ).fetchall()
    return [BatchStats(*r) for r in rows]


def batch(db: Database, batch_id: int) -> BatchStats | None:
    """The batch ``batch_id`` (an MR's ``batch``), or None when there is no such row."""
    row = db.execute(f"SELECT {_BATCH_COLUMNS} FROM mq_batches WHERE id = ?", [int(batch_id)]).fetchone()
    return BatchStats(*row) if row else None


def batch_members(db: Database, batch_id: int) -> list[tuple[str, str]]:
    """(MR id, status) of the MRs whose last batch is ``batch_id``, in submission order."""
    rows = db.execute("SELECT id, status FROM merge_requests WHERE batch = ? ORDER BY n", [int(batch_id)]).fetchall()
    return [(str(i), str(s)) for i, s in rows]


def stats(db: Database, rig: str | None = None) -> dict[str, Any]:
    """Totals over finished batches (of ``rig``): batches, mrs, merged, failed, conflicts, gate_runs,
    gate_runs_per_mr, mean wall_s per batch, plus the MR counts by status."""
    where, args = _filters(rig, None)
    cond = (where + " AND" if where else " WHERE") + " outcome != 'running'"
    row = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM(mrs),0), COALESCE(SUM(merged),0), COALESCE(SUM(failed),0),"
        f" COALESCE(SUM(conflicts),0), COALESCE(SUM(gate_runs),0), AVG(wall_s)"
        f" FROM mq_batches{cond}",
        args,
    ).fetchone()
    counts = dict(db.execute(f"SELECT status, COUNT(*) FROM merge_requests{where} GROUP BY status", args).fetchall())
    settled = row[2] + row[3] + row[4]
    return {
        "rig": rig,
        "batches": row[0],
        "mrs": row[1],
        "merged": row[2],
        "failed": row[3],
        "conflicts": row[4],
        "gate_runs": row[5],
        "gate_runs_per_mr": round(row[5] / settled, 3) if settled else None,
        "mean_batch_wall_s": round(row[6], 3) if row[6] is not None else None,
        "by_status": {s: counts.get(s, 0) for s in STATUSES},
    }
