"""Convoy runs: a formula poured and handed to the scheduler, followed until its convoy lands or a
bead fails, and the run's summary (issue 8: ``gt formula run`` and ``gastown-tui --no-ui run``).

Starting a run (:func:`plan_run`, then :func:`launch`): the formula is cooked and planned first, so
bad input (unknown formula or rig, a missing variable, an unknown agent) is refused before anything is
written; then the molecule is poured and every step bead queued (:mod:`core.scheduler`) in ONE
transaction, so a run is either fully queued or not there at all. The scheduler slings a queued
bead only once its blockers are closed (merged), so the DAG runs in order, and in parallel where the
``needs`` allow, within the town's capacity. An existing convoy is queued by :func:`queue_convoy`.

Following a run (:class:`ConvoyWatch`, UI-free; the headless runner and the tests drive it): it reads
the events written after the run started (by any process) and decides:

- ``landed``: the convoy is closed as landed (every tracked bead closed);
- ``failed``: (with ``keep_going``: once no other bead can still land) a tracked bead's merge request failed a gate (``merge_failed``) or conflicts
  (``merge_conflict``), the bead or its polecat was escalated (``escalation``, ``gt done --status
  ESCALATED``) or given up on (``stuck``, too many restarts), or the scheduler refused to sling it
  for good (``dequeued`` with ``sling refused``). Failures already standing when the run starts (a
  newest MR failed or conflicting, a stuck polecat) count too, so re-running a failed convoy says so.

A run is not judged on an agent that merely stops talking: the witness nudges it, and only once it
breaks GUPP (nothing moved for ``[witness] gupp_after``) does the witness escalate it, which is a
failure like any escalation; before that the caller's timeout decides.

The summary (:meth:`ConvoyWatch.summary`) is a JSON-ready dict: per bead its step, status, polecat,
agent, attempts (session starts: the first spawn plus each respawn), newest MR (id, status, merge
sha, gate runs that held it), the failure if any, timestamps (Unix seconds) and durations (seconds:
waiting in the queue, working, waiting for the merge, total); totals: beads, merged, closed,
failed, pending, MRs, gate runs, wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core import convoys, events, mq, polecats, runtimes, scheduler
from core.beads import routes
from core.beads.store import BeadStore
from core import pour as formula_pour
from core.errors import GtError
from core.molecules import MoleculePlan, PouredMolecule, pour
from core.rigs import load_rig
from core.sessions import session_name
from core.sling import UNWORKABLE_TYPES
from core.town import Town

#: Feed events about a run's beads that end it as failed (see the module docstring).
FAILURE_TYPES = ("merge_failed", "merge_conflict", "escalation", "stuck", "stuck_retry", "dequeued")
#: The beads audit trail: not shown as run progress (the feed events say the same in fewer lines).
AUDIT_TYPES = (
    "created",
    "updated",
    "status_changed",
    "claimed",
    "hooked",
    "reopened",
    "commented",
    "dependency_added",
    "dependency_removed",
    "label_added",
    "label_removed",
)
#: Town-wide events worth showing during a run whatever bead they name.
ENGINE_TYPES = ("engine_error",)


@dataclass
class Launch:
    """A started run: the ``convoy`` id, and for a formula run the ``formula``, the molecule's
    ``root`` bead and ``steps`` (step id -> bead id); ``queued``: the bead ids put in the sling queue."""

    convoy: str
    queued: list[str]
    formula: str | None = None
    root: str | None = None
    steps: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plan_run(
    town: Town, name: str, values: dict[str, str], rig_name: str | None, agent: str | None = None
) -> MoleculePlan:
    """Cook formula ``name`` with ``values`` for rig ``rig_name`` and plan its molecule
    (:func:`core.pour.plan`, the pipeline ``gt formula pour`` and the cockpit use; nothing is
    written). agent: a preset every step will use (checked here).

    Raises GtError without a rig, NotFound for an unknown rig, formula or agent, GtError for a
    missing or invalid variable, an uninstalled agent, or a formula without steps.
    """
    if not rig_name:
        raise GtError(f"running formula {name!r} needs a rig: pass --rig RIG (see 'gt rig list')")
    rig = load_rig(town, rig_name)
    if agent is not None:
        runtimes.resolve(town, agent)
    planned = formula_pour.plan(town, name, values, rig)
    if not planned.children:
        raise GtError(f"formula {name!r} has no steps to run: add [[steps]] to it, or pour it with 'gt formula pour'")
    return planned


def launch(
    town: Town, planned: MoleculePlan, *, actor: str, agent: str | None = None, store: BeadStore | None = None
) -> Launch:
    """Pour ``planned`` (from :func:`plan_run`) and queue its step beads for its rig, in one
    transaction (see :func:`queue_convoy` for the agent of each step). Returns the Launch.

    store: an open store to use; default: a new one on the town database. Raises GtError (nothing
    is left behind then).
    """
    own = store is None
    store = store or BeadStore(town)
    try:
        with store.transaction():
            poured: PouredMolecule = pour(town, planned, actor=actor, store=store)
            queued = queue_convoy(store, poured.convoy, planned.rig, actor=actor, agent=agent)
    finally:
        if own:
            store.disconnect()
    return Launch(
        convoy=poured.convoy, queued=queued, formula=poured.formula, root=poured.root, steps=dict(poured.steps)
    )


def queue_convoy(
    store: BeadStore, convoy_id: str, rig_name: str | None, *, actor: str, agent: str | None = None
) -> list[str]:
    """Queue every open work bead of convoy ``convoy_id`` for slinging, in one transaction; beads
    already hooked, in progress or closed are left to run. Returns the bead ids queued.

    Each bead goes to the rig of its prefix, else (a town-level ``hq-`` bead) to ``rig_name``.
    agent: the preset for every bead; None: the step's own ``agent`` (formula metadata), else the
    town default. This is :func:`core.scheduler.enqueue_convoy` with a rig and an agent per bead.
    Raises NotFound (convoy, rig, agent), GtError (see :func:`check_convoy`).
    """
    queued = []
    with store.transaction():
        convoy = check_convoy(store, convoy_id, rig_name)
        for t in convoy.tracked:
            if t.status == "open" and t.issue_type not in UNWORKABLE_TYPES:
                step_agent = agent or (store.get(t.id).metadata or {}).get("agent")
                scheduler.enqueue(
                    store,
                    t.id,
                    _rig_of(store, convoy.id, t.id, rig_name),
                    actor=actor,
                    agent=step_agent,
                    convoy=convoy.id,
                )
                queued.append(t.id)
    return queued


def check_convoy(store: BeadStore, convoy_id: str, rig_name: str | None = None) -> convoys.Convoy:
    """The convoy ``convoy_id`` if it can be run: it exists, tracks beads, was not closed without
    landing, and each open work bead has a rig (its prefix's, else ``rig_name``, which must exist).
    Nothing is written. Raises NotFound, GtError."""
    if store.town is None:
        raise GtError("a convoy run needs a town")
    convoy = convoys.get(store, convoy_id)
    if not convoy.tracked:
        raise GtError(f"convoy {convoy.id} tracks no beads: add some with 'gt convoy add {convoy.id} BEAD'")
    if convoy.status == "closed" and convoy.state != convoys.LANDED:
        raise GtError(
            f"convoy {convoy.id} was closed ({convoy.close_reason or 'closed'}): add beads to "
            f"reopen it with 'gt convoy add {convoy.id} BEAD'"
        )
    if rig_name:
        load_rig(store.town, rig_name)
    for t in convoy.tracked:
        if t.status == "open" and t.issue_type not in UNWORKABLE_TYPES:
            _rig_of(store, convoy.id, t.id, rig_name)
    return convoy


def _rig_of(store: BeadStore, convoy: str, bead: str, rig_name: str | None) -> str:
    """The rig that works ``bead``: its prefix's, else ``rig_name``. Raises GtError with neither."""
    assert store.town is not None
    rig = routes.rig_of(store.town, bead)
    if rig is not None:
        return rig
    if not rig_name:
        raise GtError(f"bead {bead} of convoy {convoy} is town-level: name the rig that works it with --rig RIG")
    return rig_name


@dataclass
class Failure:
    """Why a bead of the run failed. kind: ``merge_failed``, ``merge_conflict``, ``escalated``,
    ``stuck`` or ``sling_refused``; gate: the failing gate's name (merge_failed); mr: the MR id;
    log: the gate log path; reason: one line; event: the event id (0 for a standing failure)."""

    bead: str
    kind: str
    reason: str
    gate: str | None = None
    mr: str | None = None
    log: str | None = None
    event: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ConvoyWatch:
    """Follows the run of convoy ``convoy_id`` from event id ``after_id`` on (see the module
    docstring). store: its own BeadStore (use the watch from one thread at a time). started: Unix
    seconds when the run began (for the wall time). keep_going: a failure ends the run only once
    every other bead has landed or waits on a failed one (like ``make -k``)."""

    def __init__(
        self, store: BeadStore, convoy_id: str, after_id: int, started: float | None = None, keep_going: bool = False
    ) -> None:
        self.store = store
        self.keep_going = keep_going
        self.db = store.db
        self.convoy_id = convoy_id
        self.after_id = after_id
        self.started = time.time() if started is None else started
        self.failures: dict[str, Failure] = {}
        self.convoy = convoys.get(store, convoy_id, convoys.mr_lookup(self.db))
        self.beads = {t.id for t in self.convoy.tracked}
        self._standing_failures()

    # -- following ------------------------------------------------------------------------------

    def poll(self) -> list[events.Event]:
        """Read the events written since the last poll; return those that show the run's progress
        (feed events about its beads, its convoy and molecule, engine errors), oldest first. Records
        failures and refreshes :attr:`convoy`."""
        new = events.query(self.db, after_id=self.after_id, limit=2000)
        if new:
            self.after_id = new[-1].id
        self.convoy = convoys.get(self.store, self.convoy_id, convoys.mr_lookup(self.db))
        self.beads = {t.id for t in self.convoy.tracked}
        own = {self.convoy_id, (self.convoy.metadata or {}).get("molecule")} - {None}
        shown = []
        for ev in new:
            ours = ev.bead in self.beads or ev.bead in own
            if ours and ev.bead in self.beads and ev.type in FAILURE_TYPES:
                self._failure_from(ev)
            if (ours and ev.type not in AUDIT_TYPES) or ev.type in ENGINE_TYPES:
                shown.append(ev)
        return shown

    def verdict(self) -> str | None:
        """``landed``, ``failed``, or None while the run goes on (a landing wins over failures that
        were fixed meanwhile)."""
        if self.convoy.state == convoys.LANDED:
            return "landed"
        if self.failures and (not self.keep_going or not self.pending()):
            return "failed"
        return None

    def pending(self) -> list[str]:
        """Tracked beads that may still land: not closed, not failed, and not held back by a failed
        bead (an open ``blocks`` edge to a failed bead, directly or through other held beads)."""
        open_ = {t.id for t in self.convoy.tracked if t.status != "closed"} - set(self.failures)
        blockers = {b: set(self.store.blockers(b)) for b in open_}
        held = set(self.failures)
        grew = True
        while grew:
            grew = False
            for b in open_ - held:
                if blockers[b] & held:
                    held.add(b)
                    grew = True
        return sorted(open_ - held)

    def _failure_from(self, ev: events.Event) -> None:
        p = ev.payload
        bead = str(ev.bead)
        if ev.type == "merge_failed":
            gate = p.get("gate")
            why = (
                f"gate {gate} failed"
                if gate
                else ("commit missing from the rig repository" if p.get("missing") else "the merge failed")
            )
            self._fail(
                Failure(
                    bead,
                    "merge_failed",
                    f"{p.get('mr')}: {why}",
                    gate=gate,
                    mr=p.get("mr"),
                    log=p.get("log"),
                    event=ev.id,
                )
            )
        elif ev.type == "merge_conflict":
            files = ", ".join(p.get("files") or []) or "the tree"
            self._fail(
                Failure(bead, "merge_conflict", f"{p.get('mr')} conflicts in {files}", mr=p.get("mr"), event=ev.id)
            )
        elif ev.type == "escalation":
            self._fail(
                Failure(
                    bead, "escalated", f"escalated ({p.get('severity', '?')}): {p.get('reason', '')}"[:300], event=ev.id
                )
            )
        elif ev.type == "stuck":
            self._fail(
                Failure(bead, "stuck", str(p.get("reason", "given up on after too many restarts"))[:300], event=ev.id)
            )
        elif ev.type == "stuck_retry" and p.get("action") == "retry":
            # the witness tried a stuck polecat again (core.witness): the bead is in play once more
            if bead in self.failures and self.failures[bead].kind == "stuck":
                del self.failures[bead]
        elif ev.type == "dequeued" and str(p.get("reason", "")).startswith("sling refused"):
            self._fail(Failure(bead, "sling_refused", str(p["reason"])[:300], event=ev.id))

    def _fail(self, failure: Failure) -> None:
        self.failures.setdefault(failure.bead, failure)

    def _standing_failures(self) -> None:
        """Failures already there when the run starts: a newest MR failed or conflicting on a bead
        still awaiting its merge (``in_progress``), a stuck polecat."""
        for t in self.convoy.tracked:
            if t.status == "closed":
                continue
            if t.status == "in_progress" and t.mr and t.mr_status in ("failed", "conflict"):
                m = mq.get(self.db, t.mr)
                self._fail(
                    Failure(
                        t.id,
                        "merge_failed" if m.status == "failed" else "merge_conflict",
                        f"{m.id}: {m.reason}"[:300],
                        mr=m.id,
                    )
                )
            p = polecats.by_bead(self.db, t.id)
            if p is not None and p.state == "stuck":
                self._fail(Failure(t.id, "stuck", f"{p.address} is stuck (too many restarts)"))

    # -- after the run --------------------------------------------------------------------------

    def sessions(self) -> list[str]:
        """The tmux sessions of the polecats that worked this run's beads and hold nothing else now
        (idle, or hooked to a bead of the run): the ones the run may stop at its end."""
        out: list[str] = []
        for bead in sorted(self.beads):
            for ev in events.query(self.db, bead=bead, types=("spawn", "respawn")):
                if not ev.rig or not ev.payload.get("polecat"):
                    continue
                p = polecats.get(self.db, ev.rig, str(ev.payload["polecat"]))
                if p is None or (p.hook_bead and p.hook_bead not in self.beads):
                    continue
                name = p.session or session_name("polecat", p.rig, p.name)
                if name not in out:
                    out.append(name)
        return out

    def summary(self, outcome: str, exit_code: int, finished: float | None = None) -> dict[str, Any]:
        """The run summary (see the module docstring). outcome: ``landed``, ``failed``, ``timeout``
        or ``interrupted``; exit_code: the process status the run ends with."""
        finished = time.time() if finished is None else finished
        convoy = self.convoy
        newest: dict[str, mq.MR] = {}
        for m in mq.list_mrs(self.db):  # newest first
            if m.bead in self.beads and m.bead not in newest:
                newest[m.bead] = m
        beads = [self._bead_summary(t, newest.get(t.id), finished) for t in convoy.tracked]
        batches = self._batches()
        gate_runs = 0
        if batches:
            row = self.db.execute(
                f"SELECT COALESCE(SUM(gate_runs), 0) FROM mq_batches WHERE id IN ({','.join('?' * len(batches))})",
                sorted(batches),
            ).fetchone()
            gate_runs = int(row[0])
        meta = convoy.metadata or {}
        return {
            "outcome": outcome,
            "exit_code": exit_code,
            "convoy": {"id": convoy.id, "name": convoy.name, "state": convoy.state},
            "formula": meta.get("formula"),
            "molecule": meta.get("molecule"),
            "started_at": round(self.started, 3),
            "finished_at": round(finished, 3),
            "failures": [f.as_dict() for f in self.failures.values()],
            "beads": beads,
            "totals": {
                "beads": len(beads),
                "merged": sum(1 for b in beads if b["mr_status"] == "merged"),
                "closed": sum(1 for b in beads if b["status"] == "closed"),
                "failed": len(self.failures),
                "pending": sum(1 for b in beads if b["status"] != "closed" and b["id"] not in self.failures),
                "mrs": len(newest),
                "batches": len(batches),
                "gate_runs": gate_runs,
                "wall_s": round(finished - self.started, 3),
            },
        }

    def _batches(self) -> set[int]:
        """Refinery batches that settled an MR of this run (their gate runs are the run's)."""
        out: set[int] = set()
        for bead in self.beads:
            for ev in events.query(self.db, bead=bead, types=("merged", "merge_failed", "merge_conflict")):
                if isinstance(ev.payload.get("batch"), int):
                    out.add(ev.payload["batch"])
        return out

    def _bead_summary(self, t: convoys.TrackedBead, m: mq.MR | None, finished: float) -> dict[str, Any]:
        evs = events.query(self.db, bead=t.id)

        def first(*kinds: str) -> float | None:
            return next((e.ts for e in evs if e.type in kinds), None)

        def last(*kinds: str) -> float | None:
            return next((e.ts for e in reversed(evs) if e.type in kinds), None)

        starts = [e for e in evs if e.type in ("spawn", "respawn")]
        spawn = next((e for e in reversed(evs) if e.type == "spawn"), None)
        queued, slung, done = first("queued"), first("sling"), last("done")
        started = starts[0].ts if starts else None
        merged = last("merged") if m is not None and m.status == "merged" else None
        closed = last("closed") if t.status == "closed" else None
        end = merged or closed or finished
        polecat = None
        if spawn is not None and spawn.rig:
            polecat = f"{spawn.rig}/polecats/{spawn.payload.get('polecat')}"
        failure = self.failures.get(t.id)
        meta = (self.store.get(t.id).metadata or {}) if self.store.exists(t.id) else {}
        return {
            "id": t.id,
            "step": meta.get("step"),
            "title": t.title,
            "status": t.status,
            "polecat": polecat or t.polecat,
            "agent": spawn.payload.get("agent") if spawn is not None else None,
            "attempts": len(starts),
            "mr": m.id if m else None,
            "mr_status": m.status if m else None,
            "merge_sha": m.merge_sha if m else None,
            "gate_runs": m.gate_runs if m else 0,
            "failure": failure.as_dict() if failure else None,
            "times": {
                k: (round(v, 3) if v is not None else None)
                for k, v in (
                    ("queued", queued),
                    ("slung", slung),
                    ("started", started),
                    ("done", done),
                    ("merged", merged),
                    ("closed", closed),
                )
            },
            "durations": {
                "queue_wait_s": _span(queued, slung),
                "work_s": _span(started, done),
                "merge_wait_s": _span(done, merged),
                "total_s": _span(queued or slung, end if (queued or slung) else None),
            },
        }


def _span(a: float | None, b: float | None) -> float | None:
    """Seconds from ``a`` to ``b`` (None when either is unknown)."""
    return round(b - a, 3) if a is not None and b is not None else None
