"""The deacon: the town-level reconcile loop (DESIGN section 8; Gas Town's deacon patrol).

:meth:`Deacon.patrol` (every ``[deacon] patrol_interval`` and on database changes):

- convoys: lands every open convoy whose tracked beads are all closed (:func:`core.convoys.check_all`,
  a compare-and-swap rechecked inside its transaction, notification mail sent once);
- stranded work: a bead ``hooked`` to ``<rig>/polecats/<name>`` whose polecat no longer holds it (row
  gone, nuked, or hooked to something else) goes back to ``open`` (compare-and-swap on the
  assignee) and is queued again for that rig, with a ``stranded`` event;
- escalations: unacknowledged ones are raised again one severity higher (:func:`core.escalation.restale`);
- the Mayor: a wanted Mayor whose session is gone is started again on its conversation
  (:func:`core.mayor.supervise`); when its restarts keep failing, a high escalation.

:meth:`Deacon.checkpoint` (every ``checkpoint_interval``): a snapshot of each working polecat's dirty
worktree on ``refs/checkpoints/<polecat>/<bead>`` (:func:`core.done.save_checkpoint` with
``session_alive=True``: the agent's branch, HEAD and index never move).

:meth:`Deacon.sync_ledger` (every tick): commits the JSONL ledger once it has been quiet for
``[ledger] commit_debounce`` seconds (at most :data:`core.beads.sync.MAX_DELAY_S` after the oldest
change).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import convoys, escalation, events, polecats, scheduler
from core.beads.store import BeadStore
from core.beads.sync import MAX_DELAY_S, SyncResult, sync
from core.done import save_checkpoint
from core.errors import GtError, NotFound
from core.rigs import load_rig
from core.sessions import SessionHost
from core.town import Town


@dataclass
class PatrolReport:
    """One deacon patrol: convoys landed, beads released as stranded, escalations re-raised."""

    landed: list[str] = field(default_factory=list)
    stranded: list[str] = field(default_factory=list)
    reescalated: list[str] = field(default_factory=list)
    mayor: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Deacon:
    """The deacon of ``town``. ``store``: its own BeadStore (one connection, used from one thread at
    a time); ``host``: the SessionHost. clock: Unix seconds."""

    actor = "deacon"

    def __init__(self, town: Town, host: SessionHost, store: BeadStore, clock: Callable[[], float] = time.time) -> None:
        self.town = town
        self.host = host
        self.store = store
        self.db = store.db
        self.clock = clock
        self._checkpointed: dict[str, float] = {}

    def patrol(self) -> PatrolReport:
        """Convoys, stranded work and stale escalations (see the module docstring)."""
        report = PatrolReport()
        report.landed = convoys.check_all(self.store, actor=self.actor)
        report.stranded = self.release_stranded()
        report.reescalated = escalation.restale(
            self.store, float(self.town.setting("deacon", "stale_after")), actor=self.actor, now=self.clock()
        )
        report.mayor = self.supervise_mayor()
        return report

    def supervise_mayor(self) -> str | None:
        """Restart a wanted Mayor that is gone (:func:`core.mayor.supervise`); an event when it was
        restarted, an escalation when the deacon gave up. Returns what supervise returned."""
        from core import mayor

        outcome = mayor.supervise(self.town, self.host, self.db)
        if outcome == "restarted":
            with self.store.transaction():
                events.append(self.db, "mayor_restarted", self.actor, payload={})
        elif outcome == "gave up":
            escalation.escalate(
                self.store,
                f"the Mayor failed to start {mayor.MAX_RESTART_FAILURES} times in a row: the deacon stopped "
                "restarting it; look with 'gt mayor attach' and 'gt doctor'",
                "high",
                actor=self.actor,
            )
        return outcome

    def stranded(self) -> list[tuple[str, str, str]]:
        """Beads ``hooked`` to ``<rig>/polecats/<name>`` whose polecat no longer holds them (row
        gone, nuked, or hooked to something else): (bead, assignee, why) tuples. Reads only."""
        out = []
        rows = self.db.execute(
            "SELECT id, assignee FROM issues WHERE status = 'hooked' AND assignee LIKE '%/polecats/%'"
        ).fetchall()
        for bead, assignee in rows:
            rig, _, name = assignee.split("/", 2)
            p = polecats.get(self.db, rig, name)
            if p is not None and p.state != "nuked" and p.hook_bead == bead:
                continue
            why = (
                "its polecat is gone"
                if p is None or p.state == "nuked"
                else f"{assignee} holds {p.hook_bead or 'nothing'}"
            )
            out.append((bead, assignee, why))
        return out

    def release_stranded(self) -> list[str]:
        """Reopen and requeue the :meth:`stranded` beads. Returns their ids."""
        out = []
        for bead, assignee, why in self.stranded():
            rig, _, name = assignee.split("/", 2)
            with self.store.transaction():
                if not self.store.cas_status(
                    bead,
                    {"hooked"},
                    "open",
                    self.actor,
                    assignee=None,
                    expected_assignee=assignee,
                    note=f"stranded: {why}",
                ):
                    continue
                self.store.add_comment(
                    bead, f"Stranded ({why}): released by the {self.actor} and queued again.", self.actor
                )
                events.append(
                    self.db,
                    "stranded",
                    self.actor,
                    rig=rig,
                    bead=bead,
                    payload={"polecat": name, "reason": why, "action": "requeue"},
                )
            try:
                scheduler.enqueue(self.store, bead, rig, actor=self.actor)
            except GtError:
                pass  # the rig is gone, or the bead changed again: left open for a human
            out.append(bead)
        return out

    def checkpoint(self) -> list[str]:
        """Snapshot the dirty worktrees of working polecats not checkpointed for
        ``checkpoint_interval`` seconds. Returns the checkpoint commit shas made."""
        interval = float(self.town.setting("deacon", "checkpoint_interval"))
        now = self.clock()
        shas = []
        for p in polecats.list_polecats(self.db, states=("working",)):
            if not p.hook_bead or now - self._checkpointed.get(p.address, 0.0) < interval:
                continue
            self._checkpointed[p.address] = now
            try:
                rig = load_rig(self.town, p.rig)
                sha = save_checkpoint(self.town, rig, p, actor=self.actor, session_alive=True, store=self.store)
            except (GtError, NotFound, OSError):
                continue
            if sha:
                shas.append(sha)
        return shas

    def sync_ledger(self, force: bool = False) -> SyncResult | None:
        """Commit the ledger when it has been quiet for ``[ledger] commit_debounce`` (or ``force``).
        Returns the SyncResult, or None when it is not time yet (or nothing changed)."""
        dirty = self.store.dirty()
        if not dirty and not force:
            return None
        if dirty and not force:
            debounce = float(self.town.setting("ledger", "commit_debounce"))
            now = time.time()
            oldest = min(ts for _, ts in dirty)
            newest = max(ts for _, ts in dirty)
            if now - newest < debounce and now - oldest < MAX_DELAY_S:
                return None
        return sync(self.town, store=self.store)
