"""One read of everything the cockpit shows: agents with state badges, convoys, ready beads, the merge
queue, problems and the header counts (:class:`TownSnapshot`, built by :func:`read_snapshot`).

It is read in a thread (blocking SQLite and tmux calls) and handed to the widgets as a plain value:
the widgets only render it. A polecat's state is the witness's (:func:`core.witness.polecat_state`,
the one rule: same names, same thresholds from ``[witness]``), observed here at a price a read every
second can pay (:class:`_SnapshotProbe`): liveness from the one ``tmux list-panes``, output from
the transcript's mtime (without the echo of the witness's nudges: :func:`core.witness.last_output`), a waiting agent from what its hooks reported (no screen capture), and the
progress a GUPP verdict needs (events, the worktree's last commit) only for a polecat silent for
``gupp_after``. The Mayor is ``running`` or ``absent``; a witness or refinery row a short summary.

Problems (:data:`PROBLEM_KINDS`, the one rule the header count, the problems view and ``gt prime``
show) are the polecats a human may need to look at (zombie, stuck, lost worktree, GUPP violation,
stalled, and waiting for an answer), the merge requests that failed their gates or conflict and are
still the newest of their bead (a retry or a new ``gt done`` takes them off; a rejected one is
settled), and the unacknowledged escalations (:mod:`core.escalation`: an escalation is a bead;
``gt escalate ack`` or closing it takes it off the list).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core import convoys as convoys_mod
from core import costs as costs_mod
from core import crew as crew_mod
from core import escalation, mq, transcripts, witness
from core import polecats as polecats_mod
from core import upstream as upstream_mod
from core.beads.model import Issue
from core.beads.store import BeadStore
from core.convoys import Convoy
from core.errors import GtError
from core.mq import MR
from core.plaintext import one_line
from core.rigs import Rig, list_rigs
from core.sessions import SessionHost, SessionInfo
from core.sling import UNWORKABLE_TYPES
from core.town import Town

if TYPE_CHECKING:
    from core.db import Database

MAYOR_SESSION = "mayor"
#: Problem kinds, most urgent first: polecat states of :data:`core.witness.POLECAT_STATES`
#: (:data:`POLECAT_PROBLEMS`), escalations and merge requests that failed or conflict.
PROBLEM_KINDS = (
    "zombie",
    "stuck",
    "worktree_lost",
    "escalation",
    "merge_failed",
    "merge_conflict",
    "gupp_violation",
    "stalled",
    "waiting",
)
#: The polecat states that are problems.
POLECAT_PROBLEMS = ("zombie", "stuck", "worktree_lost", "gupp_violation", "stalled", "waiting")
#: Merge request status -> problem kind.
MR_PROBLEMS = {"failed": "merge_failed", "conflict": "merge_conflict"}
#: Merge requests shown: the whole live queue plus this many finished ones.
FINISHED_MRS = 8
READY_LIMIT = 200


@dataclass(frozen=True)
class Agent:
    """One node of the agents tree.

    kind: ``mayor`` | ``witness`` | ``refinery`` | ``polecat`` | ``crew`` (a human's workspace,
    :mod:`core.crew`; state ``running``, ``exited`` or ``absent`` for its session). rig: its rig (None
    for the Mayor).
    session: the tmux session that shows it (None: no session, e.g. an in-engine refinery).
    state: for a polecat one of :data:`core.witness.POLECAT_STATES` (see the module docstring);
    ``running``/``absent`` for the Mayor, a short summary for witness/refinery. bead/title: the hooked bead. idle_s: seconds since its transcript
    last grew (None: never printed).
    """

    kind: str
    rig: str | None
    name: str
    session: str | None
    state: str
    bead: str | None = None
    title: str = ""
    idle_s: float | None = None

    @property
    def key(self) -> str:
        """A stable identity for tree nodes and selection: ``mayor``, ``<rig>/<role or polecat name>``,
        ``<rig>/crew/<name>`` (a crew workspace may share a polecat's name)."""
        if self.rig is None:
            return self.name
        return f"{self.rig}/crew/{self.name}" if self.kind == "crew" else f"{self.rig}/{self.name}"


@dataclass(frozen=True)
class Problem:
    """Something that needs a human: kind in :data:`PROBLEM_KINDS`; polecat/session/bead when known
    (for an escalation, ``bead`` is the escalation bead); mr: the merge request of a ``merge_failed``
    or ``merge_conflict`` problem; detail: one line; since: Unix seconds."""

    kind: str
    rig: str | None
    polecat: str | None
    session: str | None
    bead: str | None
    detail: str
    since: float
    mr: str | None = None


@dataclass
class TownSnapshot:
    """The cockpit's view of a town at ``taken_at`` (Unix seconds)."""

    town: str
    taken_at: float
    rigs: list[str] = field(default_factory=list)
    rig_prefixes: dict[str, str] = field(default_factory=dict)
    mayor: Agent | None = None
    agents: list[Agent] = field(default_factory=list)
    convoys: list[Convoy] = field(default_factory=list)
    ready: list[Issue] = field(default_factory=list)
    mrs: list[MR] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sessions: dict[str, SessionInfo] = field(default_factory=dict)
    upstream: dict[str, upstream_mod.UpstreamState] = field(default_factory=dict)
    costs: dict[str, float | None] = field(default_factory=dict)
    tmux_up: bool = True
    errors: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        """Polecats whose state is ``state`` (``stalled`` counts GUPP violations too, ``working`` the
        quiet ones, as the witness does)."""
        states = {"stalled": ("stalled", "gupp_violation"), "working": ("working", "quiet")}.get(state, (state,))
        return sum(1 for a in self.agents if a.kind == "polecat" and a.state in states)

    @property
    def queue_depth(self) -> int:
        """Merge requests waiting or merging."""
        return sum(1 for m in self.mrs if m.status in ("queued", "merging"))

    def agent(self, key: str) -> Agent | None:
        """The agent with ``key`` (see :attr:`Agent.key`), or None."""
        if self.mayor is not None and key == self.mayor.key:
            return self.mayor
        return next((a for a in self.agents if a.key == key), None)


class _SnapshotProbe:
    """:class:`core.witness.PolecatProbe` for a snapshot: what one read of the town already holds
    (tmux's list, the hooked beads, the agents' reported states), plus a stat of the worktree and,
    only when the rule asks for it (a polecat silent for ``gupp_after``), its newest event and commit."""

    def __init__(
        self,
        town: Town,
        db: Database,
        p: polecats_mod.Polecat,
        rig: Rig | None,
        info: SessionInfo | None,
        issue: Issue | None,
        grew: float | None,
        reported: str | None,
    ) -> None:
        self.town, self.db, self.p, self.rig, self.info, self.issue = town, db, p, rig, info, issue
        self.grew, self.reported = grew, reported

    def alive(self) -> bool:
        return self.info is not None and self.info.alive

    def bead_status(self) -> str:
        return self.issue.status if self.issue is not None else "missing"

    def worktree_lost(self) -> str | None:
        if self.rig is None:  # a rig removed (or unreadable) mid-read: no verdict
            return None
        return witness.worktree_lost(self.town, self.p, self.rig)

    def last_output(self) -> float | None:
        return self.grew

    def agent_waiting(self) -> str | None:
        return "its hooks say it ended its turn with work on its hook" if self.reported == "waiting" else None

    def last_progress(self) -> float:
        return max(witness.last_event(self.db, self.p.hook_bead or "", self.p.rig), witness.last_commit(self.p))


def read_snapshot(town: Town, db: Database, host: SessionHost, now: float | None = None) -> TownSnapshot:
    """Read the town's state once (SQLite, one ``tmux list-panes``, transcript mtimes).

    now: the time used for idle ages (Unix seconds, default the clock; tests freeze it). Never raises
    for a part that cannot be read (a rig removed mid-read, tmux gone): that part is left empty and
    the reason is added to ``errors``.
    """
    now = time.time() if now is None else now
    snap = TownSnapshot(town=town.root.name, taken_at=now)
    store = BeadStore(town, db=db)
    found: list[Rig] = []
    try:
        found = list_rigs(town)
        snap.rigs = [r.name for r in found]
        snap.rig_prefixes = {r.name: r.prefix for r in found}
    except GtError as exc:
        snap.errors.append(str(exc))
    try:
        sessions = {s.name: s for s in host.list()}
    except (GtError, OSError) as exc:
        sessions = {}
        snap.errors.append(f"tmux: {exc}")
    snap.sessions = sessions
    snap.tmux_up = bool(sessions) or host.socket_path().exists()
    mayor = sessions.get(MAYOR_SESSION)
    snap.mayor = Agent(
        "mayor", None, "mayor", MAYOR_SESSION, "running" if mayor is not None and mayor.alive else "absent"
    )
    th = witness.thresholds(town)
    by_name = {r.name: r for r in found}
    rows = polecats_mod.list_polecats(db)
    try:
        reported = dict(db.execute("SELECT session, state FROM agent_sessions").fetchall())
    except Exception:  # noqa: BLE001 - an old DB without the table: no hook-reported states
        reported = {}
    hooked = [p.hook_bead for p in rows if p.hook_bead]
    titles: dict[str, Issue] = {i.id: i for i in store.list(ids=hooked)} if hooked else {}
    snap.upstream = upstream_mod.states(db)  # behind counts: from the last fetch (core.upstream)
    try:
        snap.mrs = _mrs(db)
    except Exception as exc:  # noqa: BLE001 - a missing table (old DB) must not blank the cockpit
        snap.errors.append(f"merge queue: {exc}")
    agents: list[Agent] = []
    for rig in snap.rigs:
        merging = sum(1 for m in snap.mrs if m.rig == rig and m.status == "merging")
        queued = sum(1 for m in snap.mrs if m.rig == rig and m.status == "queued")
        agents.append(Agent("witness", rig, "witness", _session(sessions, f"{rig}-witness"), "patrol"))
        agents.append(
            Agent(
                "refinery",
                rig,
                "refinery",
                _session(sessions, f"{rig}-refinery"),
                f"merging {merging}" if merging else f"queue {queued}",
            )
        )
    for p in rows:
        session = p.session or f"{p.rig}-{p.name}"
        info = sessions.get(session)
        grew = None
        if _valid_session(session):
            log = host.log_path(session)
            # a hooked polecat's output leaves out the echo of the witness's nudges (the one rule)
            grew = witness.last_output(db, p.rig, p.hook_bead, log) if p.hook_bead else transcripts.last_activity(log)
        idle_s = None if grew is None else max(0.0, now - grew)
        issue = titles.get(p.hook_bead or "")
        seen = witness.polecat_state(
            p, _SnapshotProbe(town, db, p, by_name.get(p.rig), info, issue, grew, reported.get(session)), th, now
        )
        state = seen.state
        agents.append(
            Agent(
                "polecat",
                p.rig,
                p.name,
                session if info is not None else None,
                state,
                p.hook_bead,
                issue.title if issue else "",
                idle_s,
            )
        )
        problem = _polecat_problem(p, session, seen, idle_s, now)
        if problem is not None:
            snap.problems.append(problem)
    try:
        for c in crew_mod.list_crew(town, sessions=sessions, details=False):
            state = {"running": "running", "exited": "exited"}.get(c.session_state, "absent")
            agents.append(Agent("crew", c.rig, c.name, c.session if c.session_state != "none" else None, state))
    except GtError as exc:  # a rig removed mid-read
        snap.errors.append(f"crew: {exc}")
    snap.agents = agents
    snap.problems.extend(_escalations(store))
    try:
        snap.problems.extend(_mr_problems(db, sessions))
    except Exception as exc:  # noqa: BLE001 - a missing table (old DB) must not blank the cockpit
        snap.errors.append(f"merge queue problems: {exc}")
    snap.problems.sort(key=lambda pr: (PROBLEM_KINDS.index(pr.kind), pr.since))
    snap.convoys = convoys_mod.list_convoys(store, "open", convoys_mod.mr_lookup(db))
    try:
        snap.costs = _costs(town, db, snap)
    except Exception as exc:  # noqa: BLE001 - a bad price table or an old DB: no costs, a reason
        snap.errors.append(f"costs: {exc}")
    snap.ready = [i for i in store.ready(limit=READY_LIMIT) if i.issue_type not in UNWORKABLE_TYPES]
    return snap


def _costs(town: Town, db: Database, snap: TownSnapshot) -> dict[str, float | None]:
    """US dollars spent (:mod:`core.costs`, as the engine's last scan stored them) by agent key
    (:attr:`Agent.key`) and by convoy id; None where a model has no price."""
    table = costs_mod.prices(town)
    by_agent, by_bead = costs_mod.cost_by(db, table)
    out: dict[str, float | None] = {}
    for a in [*snap.agents, *([snap.mayor] if snap.mayor else [])]:
        where = {"polecat": f"{a.rig}/polecats/{a.name}", "crew": f"{a.rig}/crew/{a.name}"}.get(a.kind, a.name)
        if where in by_agent:
            out[a.key] = by_agent[where]
    for c in snap.convoys:
        costs = [by_bead[t.id] for t in c.tracked if t.id in by_bead]
        if costs:
            out[c.id] = None if None in costs else sum(x or 0.0 for x in costs)
    return out


def _session(sessions: dict[str, SessionInfo], name: str) -> str | None:
    return name if name in sessions else None


def _valid_session(name: str) -> bool:
    from core.sessions import SESSION_NAME

    return bool(SESSION_NAME.match(name))


def _mrs(db: Database) -> list[MR]:
    live = mq.list_mrs(db, statuses=("queued", "merging", "failed", "conflict"))
    done = mq.list_mrs(db, statuses=("merged", "rejected", "pr_open"), limit=FINISHED_MRS)
    return sorted(live + done, key=lambda m: (m.status not in ("merging", "queued"), -m.updated_at))


def _polecat_problem(
    p: polecats_mod.Polecat, session: str, seen: witness.PolecatState, idle_s: float | None, now: float
) -> Problem | None:
    """The problem polecat ``p`` is in (its state one of :data:`POLECAT_PROBLEMS`), else None."""
    state = seen.state
    if state not in POLECAT_PROBLEMS:
        return None
    quiet = seen.silent if seen.silent is not None else idle_s  # silence as the rule counted it
    detail = {
        "stalled": f"no output for {_age(quiet)}",
        "gupp_violation": f"GUPP violation: hooked, no progress for {_age(seen.stuck_for)}",
    }.get(state, seen.reason)
    since = (now - quiet) if quiet is not None else (p.started_at or p.updated_at)
    return Problem(state, p.rig, p.name, session, p.hook_bead, one_line(detail), since)


def _mr_problems(db: Database, sessions: dict[str, SessionInfo]) -> list[Problem]:
    """Merge requests that failed their gates or conflict (:data:`MR_PROBLEMS`) and are the newest MR
    of their bead (one indexed query; an older failure superseded by a new submission is settled)."""
    from core.sessions import session_name

    newest = {
        r[0]
        for r in db.execute(
            "SELECT m.id FROM merge_requests m WHERE m.status IN ('failed', 'conflict') AND NOT EXISTS "
            "(SELECT 1 FROM merge_requests n WHERE n.bead = m.bead AND n.n > m.n)"
        ).fetchall()
    }
    out = []
    for m in mq.list_mrs(db, statuses=tuple(MR_PROBLEMS)) if newest else []:
        if m.id not in newest:
            continue
        session = None
        if m.polecat:
            try:
                name = session_name("polecat", m.rig, m.polecat)
            except GtError:
                name = None
            session = name if name in sessions else None
        verdict = "failed its gates" if m.status == "failed" else "conflicts"
        detail = f"{m.id} {verdict}: {m.reason}" if m.reason else f"{m.id} {verdict}"
        out.append(
            Problem(MR_PROBLEMS[m.status], m.rig, m.polecat, session, m.bead, one_line(detail), m.updated_at, mr=m.id)
        )
    return out


def _escalations(store: BeadStore) -> list[Problem]:
    """Unacknowledged open escalations (:func:`core.escalation.list_open`)."""
    out = []
    for esc in escalation.list_open(store):
        out.append(
            Problem(
                "escalation",
                None,
                None,
                None,
                esc.id,
                one_line(
                    f"{esc.severity}: {esc.text.splitlines()[0] if esc.text else ''}"
                    + (f" (about {esc.about})" if esc.about else "")
                    + (f", raised {esc.raised}x" if esc.raised > 1 else "")
                ),
                esc.raised_at or 0.0,
            )
        )
    return out


def _age(seconds: float | None) -> str:
    return "ever" if seconds is None else age(seconds)


def age(seconds: float) -> str:
    """A short age: ``42s``, ``7m``, ``3h``, ``2d``."""
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"
