"""What the cockpit's detail views show, read from the town (issue 21, part 3): a polecat's bead,
branch, commits ahead of its base, diff, state history and cost (:func:`polecat_detail`), its
transcript (:func:`polecat_transcript`, read apart: only when its tab is shown), and a merge request's batch, gate logs (failing lines first), culprit
verdict and follow-up bead (:func:`mr_detail`).

Plain values, read in a thread; the screens only render them. Everything here that an agent wrote
(commit subjects, the diff, the transcript, gate output, witness reasons quoting beads) has its
control characters and escape sequences removed (:func:`core.plaintext.strip_controls`); the screens
show it as text, never markup. Git reads go through :mod:`core.git`, gate logs through
:func:`core.gates.read_log`, costs through :func:`core.costs.cost_by`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.db import Database

from core import costs, events, git, mq, polecats, transcripts
from core.beads.store import BeadStore
from core.errors import GitError, GtError, NotFound
from core.gates import GateLog, read_log
from core.plaintext import one_line, strip_controls
from core.rigs import load_rig
from core.sessions import SessionHost, session_name
from core.upstream import start_point

#: Bytes of diff kept (the rest is cut at a line end and said so).
DIFF_BYTES = 200_000
#: Bytes of transcript kept (its end).
TRANSCRIPT_BYTES = 256 * 1024
#: Commits listed at most.
COMMITS = 200
#: State changes listed at most (the newest).
HISTORY = 200
#: Events that are a polecat's state history (the witness's decisions, and the work's own steps).
HISTORY_TYPES = (
    "sling",
    "spawn",
    "respawn",
    "respawn_failed",
    "done",
    "witness",
    "witness_state",
    "stalled",
    "gupp_violation",
    "zombie",
    "stuck",
    "stuck_retry",
    "worktree_lost",
    "merged",
    "merge_failed",
    "merge_conflict",
    "unsling",
    "nuke",
    "checkpoint",
)
_CR_LINE = re.compile(r"[^\n]*\r(?=[^\n])")  # what a carriage return overwrote (a spinner's frames)


@dataclass(frozen=True)
class Commit:
    """One commit ahead of the base: full ``sha`` and the ``subject`` line (controls removed)."""

    sha: str
    subject: str

    @property
    def short(self) -> str:
        """The sha's first 10 characters."""
        return self.sha[:10]


@dataclass(frozen=True)
class StateChange:
    """One event of a polecat's history: ``ts`` Unix seconds, ``kind`` the event type, ``state`` the
    witness's verdict (or the step: ``slung``, ``done COMPLETED``), ``reason`` why (one line, controls
    removed), ``bead`` the bead it was about."""

    ts: float
    kind: str
    state: str
    reason: str
    bead: str | None


@dataclass(frozen=True)
class PolecatDetail:
    """A polecat as its detail view shows it.

    rig, name: the polecat. state: its row's state; agent: its preset. session: its tmux session
    name. bead, bead_title, bead_status: the hooked bead (None/"" when nothing is hooked). branch;
    worktree: relative to the town root ("" without one). base: the commit its work is counted from
    (None when unknown). commits: ahead of base, newest first. diff: against base (at most
    :data:`DIFF_BYTES`; ``diff_truncated`` when cut). history: oldest first. cost: US dollars of the polecat, and
    ``bead_cost`` of its bead (None when a model has no price; ``cost_known`` False when nothing was
    recorded). notes: what could not be read, one line each.
    """

    rig: str
    name: str
    state: str
    agent: str | None
    session: str
    bead: str | None
    bead_title: str
    bead_status: str
    branch: str | None
    worktree: str
    base: str | None
    commits: tuple[Commit, ...]
    diff: str
    diff_truncated: bool
    history: tuple[StateChange, ...]
    cost: float | None
    bead_cost: float | None
    cost_known: bool
    notes: tuple[str, ...]

    @property
    def key(self) -> str:
        """The agent key the cockpit uses (``<rig>/<name>``)."""
        return f"{self.rig}/{self.name}"


@dataclass(frozen=True)
class MRDetail:
    """A merge request as its detail view shows it.

    mr: the row. batch: its last batch (None before any); batch_mrs: (MR id, status) of the MRs whose
    last batch it is. logs: its gate logs, newest first (:class:`core.gates.GateLog`); convicting:
    index in ``logs`` of the log that convicted it (None: none did). verdict: one line on what the
    refinery concluded. follow_up: the bead filed for the fix (id, title, status), or None.
    """

    mr: mq.MR
    batch: mq.BatchStats | None
    batch_mrs: tuple[tuple[str, str], ...]
    logs: tuple[GateLog, ...]
    convicting: int | None
    verdict: str
    follow_up: tuple[str, str, str] | None


def transcript_text(raw: bytes) -> str:
    """A session transcript (what tmux piped from the pane: text with escape sequences) as plain
    text: decoded leniently, a line's carriage-return overwrites resolved to what was last drawn,
    escape sequences and control characters removed (:func:`core.plaintext.strip_controls`)."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    return strip_controls(_CR_LINE.sub("", text))


def polecat_transcript(host: SessionHost, session: str, transcript_bytes: int = TRANSCRIPT_BYTES) -> str:
    """The end of tmux session ``session``'s output (its last ``transcript_bytes`` bytes, what
    :meth:`SessionHost.log_path` holds) as text (:func:`transcript_text`); "" before it printed
    anything. A read apart from :func:`polecat_detail`: a 256 KB transcript costs about as much as
    the rest of the detail, and the view reads it only when its tab is shown."""
    return transcript_text(transcripts.tail(host.log_path(session), transcript_bytes))


def polecat_detail(
    store: BeadStore,
    rig: str,
    name: str,
    *,
    diff_bytes: int = DIFF_BYTES,
) -> PolecatDetail:
    """Read polecat ``rig``/``name`` for its detail view (:class:`PolecatDetail`).

    The base is its open MR's base when it has one, else where its branch forked from the rig's
    start point (:func:`core.upstream.start_point`). Git failures (a removed worktree, an unknown
    base) become ``notes``, not errors. Raises NotFound for an unknown polecat or rig, GtError for a
    store opened without a town.
    """
    town, db = store.town, store.db
    if town is None:
        raise GtError("polecat_detail needs a town's bead store: open it with BeadStore(town)")
    p = polecats.require(db, rig, name)
    r = load_rig(town, rig)
    notes: list[str] = []
    bead, title, status = p.hook_bead, "", ""
    if bead:
        try:
            issue = store.get(bead)
            title, status = one_line(issue.title), issue.status
        except NotFound:
            status = "missing"
    worktree = Path(p.worktree) if p.worktree else r.polecats_dir / name
    has_tree = worktree.is_dir() and git.worktree_valid(worktree, r.repo_path)
    branch = p.branch or (git.current_branch(worktree) if has_tree else None)
    mrs = mq.of_bead(db, bead) if bead else []
    base = next((m.base_sha for m in mrs if m.polecat == name and m.base_sha), None)
    head = git.head_sha(worktree) if has_tree else (mrs[0].head_sha if mrs else None)
    if base is None and head is not None:
        start = start_point(r)
        base = git.merge_base(r.repo_path, start, head) if start else None
    commits: list[Commit] = []
    diff, cut = "", False
    if head is None:
        notes.append("no worktree and no merge request: nothing to diff")
    elif base is None:
        notes.append(f"no common base with {r.default_branch}: no commits or diff to show")
    else:
        try:
            commits = [Commit(sha, one_line(s)) for sha, s in git.commits_between(r.repo_path, base, head, COMMITS)]
            if has_tree:
                diff, cut = git.diff_text(worktree, base, diff_bytes)
            else:  # the worktree is gone: the commits its MR holds
                diff, cut = git.diff_text(r.repo_path, base, diff_bytes, head=head)
        except GitError as exc:
            notes.append(str(exc))
    session = p.session or session_name("polecat", rig, name)
    by_agent, by_bead = costs.cost_by(db, costs.prices(town))
    address = p.address
    return PolecatDetail(
        rig=rig,
        name=name,
        state=p.state,
        agent=p.agent,
        session=session,
        bead=bead,
        bead_title=title,
        bead_status=status,
        branch=branch,
        worktree=_relative(worktree, town.root) if has_tree else "",
        base=base,
        commits=tuple(commits),
        diff=strip_controls(diff),
        diff_truncated=cut,
        history=tuple(state_history(db, rig, name)),
        cost=by_agent.get(address),
        bead_cost=by_bead.get(bead) if bead else None,
        cost_known=address in by_agent,
        notes=tuple(one_line(n) for n in notes),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def state_history(db: Database, rig: str, name: str, limit: int = HISTORY) -> list[StateChange]:
    """The newest ``limit`` events of polecat ``rig``/``name`` (:data:`HISTORY_TYPES`, whose payload
    names it), oldest first: the witness's verdicts with their reasons, and the work's own steps."""
    marks = ",".join("?" * len(HISTORY_TYPES))
    rows = db.execute(
        f"SELECT id, ts, type, actor, rig, bead, payload FROM events WHERE rig = ? AND type IN ({marks})"
        " AND json_extract(payload, '$.polecat') = ? ORDER BY id DESC LIMIT ?",
        [rig, *HISTORY_TYPES, name, int(limit)],
    ).fetchall()
    out = []
    for r in reversed(rows):
        ev = events.Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]))
        out.append(_change(ev))
    return out


def _change(ev: events.Event) -> StateChange:
    """One event as a :class:`StateChange`: the verdict the witness wrote, or the step's name."""
    p = ev.payload
    if ev.type in ("witness", "witness_state", "stalled", "gupp_violation", "zombie", "stuck", "stuck_retry"):
        action = p.get("action")
        state = str(p.get("state") or ev.type) + (f" → {action}" if action and action != "none" else "")
    elif ev.type == "done":
        state = f"done {p.get('status', '')}".strip()
    else:
        state = ev.type
    reason = p.get("reason") or p.get("error") or p.get("mr") or p.get("branch") or ""
    return StateChange(ev.ts, ev.type, one_line(state), one_line(str(reason)), ev.bead)


def mr_detail(store: BeadStore, mr_id: str) -> MRDetail:
    """Read merge request ``mr_id`` for its detail view (:class:`MRDetail`): its batch, its gate
    logs newest first (:func:`core.gates.read_log`), the refinery's verdict from its last
    ``merge_failed``/``merge_conflict``/``merged`` event, and the follow-up bead that event names.
    Raises NotFound for an unknown MR."""
    db = store.db
    m = mq.get(db, mr_id)
    batch = mq.batch(db, m.batch) if m.batch is not None else None
    members = tuple(mq.batch_members(db, m.batch)) if m.batch is not None else ()
    logs = tuple(read_log(p) for p in reversed(m.logs))
    ev = _last_verdict_event(db, m)
    convicting = None
    if ev is not None and ev.payload.get("log"):
        want = Path(str(ev.payload["log"]))
        convicting = next((i for i, g in enumerate(logs) if g.path == want), None)
    if convicting is None and m.status == "failed":
        convicting = next((i for i, g in enumerate(logs) if g.ok is False), None)
    follow_up = None
    ref = (ev.payload.get("follow_up") or ev.payload.get("conflict_bead")) if ev is not None else None
    if ref:
        try:
            issue = store.get(str(ref))
            follow_up = (issue.id, one_line(issue.title), issue.status)
        except NotFound:
            follow_up = (str(ref), "", "missing")
    return MRDetail(m, batch, members, logs, convicting, _verdict(m, batch, ev, logs, convicting), follow_up)


def _last_verdict_event(db: Database, m: mq.MR) -> events.Event | None:
    """The newest merged/merge_failed/merge_conflict event of ``m``."""
    row = db.execute(
        "SELECT id, ts, type, actor, rig, bead, payload FROM events WHERE rig = ?"
        " AND type IN ('merged', 'merge_failed', 'merge_conflict') AND json_extract(payload, '$.mr') = ?"
        " ORDER BY id DESC LIMIT 1",
        [m.rig, m.id],
    ).fetchone()
    return events.Event(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6])) if row else None


def _verdict(
    m: mq.MR, batch: mq.BatchStats | None, ev: events.Event | None, logs: tuple[GateLog, ...], convicting: int | None
) -> str:
    """One line: what the refinery concluded about ``m``."""
    size = f"batch {batch.id} of {batch.mrs} MR{'s' if batch.mrs != 1 else ''}" if batch else "its batch"
    if m.status == "failed":
        if convicting is not None:
            g = logs[convicting]
            alone = " on its own" if batch is None or batch.mrs == 1 else f", isolated by bisection of {size}"
            return f"culprit: failed the {g.gate} gate ({g.outcome}){alone}"
        return f"failed: {one_line(m.reason) or 'no gate log'}"
    if m.status == "conflict":
        return f"conflict: {one_line(m.reason)}"
    if m.status == "merged":
        return f"merged with {size}" + (f" at {m.merge_sha[:10]}" if m.merge_sha else "")
    if m.status in ("queued", "merging"):
        return f"{m.status}: {m.gate_runs} gate run{'s' if m.gate_runs != 1 else ''} so far" + (
            f" (retry {m.retry_count})" if m.retry_count else ""
        )
    return f"{m.status}: {one_line(m.reason)}" if m.reason else m.status
