"""Sling: hook a bead to a polecat and start it working (DESIGN section 5); unsling, resume and nuke.

``sling`` claims the bead with the beads compare-and-swap (open -> hooked) and allocates the polecat in
the same SQLite transaction, so two processes slinging one bead at the same moment cannot both win.
Then it creates (or reuses) the worktree (a ``direct`` or ``pr`` rig's upstream is fetched first,
within ``[upstream] sling_timeout``, so a new branch starts from the freshest tip), writes the role
context files, and starts the agent session with the beacon prompt. If anything after the claim fails, everything is rolled back: the session is
killed, a worktree made for this sling is removed, the polecat is released and the bead is open again.

Claims are exclusive (:meth:`Slinger.judge_claim`). A bead that is ``hooked`` or ``in_progress`` is
taken over only when what was seen proves its work stopped: its holder is a polecat of this town
whose hook still holds it and whose session tmux reports gone or with a dead pane (past the spawn
grace of a sling still starting it), or a polecat that finished it with ``gt done`` and whose MR then
failed, conflicted or was rejected. A bead with a ``queued`` or ``merging`` MR (awaiting merge) is
never slung again, whatever its status. Any other claim (``gt bead ready --claim``, ``gt bead update
--claim``, an assignee that is no polecat of this town, a polecat's agent claiming a second bead) is
respected unless ``force``. The takeover's comment and events say what was seen; the old holder's
hook is cleared in the same transaction, which checks again that nothing seen has changed.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from core import convoys, events, git, mq, namepool, polecats, runtimes, upstream
from core.actor import current_actor
from core.beads import routes
from core.beads.model import Issue
from core.beads.store import BeadStore
from core.costs import check_budget
from core.errors import Conflict, GtError, NotFound
from core.names import check_polecat_name
from core.pidfile import pid_alive
from core.plaintext import one_line
from core.polecats import Polecat
from core.rigs import Rig, load_rig
from core.roles import context_text, write_context_files
from core.sessions import SessionHost, session_name
from core.town import Town
from core.worktrees import ensure_worktree, remove_worktree, worktree_path

WORKABLE_STATUSES = ("open",)
UNWORKABLE_TYPES = ("message", "convoy", "molecule", "gate", "merge-request", "agent", "epic")
#: The work formula a plain sling attaches (Gas Town auto-applies ``mol-polecat-work``): the first
#: of these names on the rig's formula path, so a project or town ``mol-polecat-work`` wins over the
#: built-in ``polecat-work``.
DEFAULT_WORK_FORMULAS = ("mol-polecat-work", "polecat-work")


def default_work_formula(town: Town, rig: Rig) -> str | None:
    """The formula a plain ``gt sling`` attaches to a bead of ``rig`` (see
    :data:`DEFAULT_WORK_FORMULAS`), or None when none is on the path."""
    # imported here: a sling asks this while git checks the worktree out, not before its claim
    from core.formulas import FormulaLibrary

    lib = FormulaLibrary(town=town, rig=rig)
    names = {f.name for f in lib.files()}
    return next((n for n in DEFAULT_WORK_FORMULAS if n in names), None)


class _Background:
    """``fn(*args)`` run in a thread from now on (for a step that mostly waits on a subprocess, so the
    caller's Python work overlaps it). :meth:`result` waits and returns its value or raises its
    exception; :meth:`outcome` waits and returns the value, or None when it raised."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="gt-sling-worktree", daemon=True)
        self._thread.start()

    def _run(self, fn: Any, args: tuple[Any, ...]) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> Any:
        """The function's return value (after waiting for it). Raises what the function raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def outcome(self) -> Any:
        """The function's return value (after waiting for it), or None when it raised."""
        self._thread.join()
        return None if self._error is not None else self._value


AWAITING_MERGE = ("queued", "merging")
RELEASED_BY_REFINERY = ("failed", "conflict", "rejected")


@dataclass(frozen=True)
class Takeover:
    """A claim a sling may take over: the ``assignee`` it replaces, what was ``seen`` (one sentence,
    for the comment and events), the bead's ``status`` then, and the holding polecat's row as seen
    (None when the claim is not a polecat's), checked again inside the claim transaction. ``resume``: the holder is the polecat the
    sling would pick anyway, so its dead session is restarted instead."""

    assignee: str
    seen: str
    status: str = "hooked"
    holder: Polecat | None = None
    resume: bool = False


def session_seen(host: SessionHost, p: Polecat) -> tuple[bool | None, str]:
    """What tmux says of polecat ``p``'s session: (True, why) when it is proven dead (no such session,
    its pane is dead, or its process exited), (False, why) when it runs, (None, why) when tmux could
    not be asked (not proof of anything)."""
    name = p.session or session_name("polecat", p.rig, p.name)
    try:
        info = host.info(name)
    except (GtError, OSError, subprocess.SubprocessError) as exc:
        return None, f"tmux could not tell whether session {name} is alive ({exc})"
    if info is None:
        return True, f"tmux has no session {name}"
    if not info.alive:
        status = "" if info.exit_status is None else f", exit status {info.exit_status}"
        return True, f"the pane of session {name} is dead{status}"
    if not pid_alive(info.pid):
        return True, f"the process {info.pid} of session {name} has exited"
    return False, f"session {name} is running (pid {info.pid})"


@dataclass
class SlingResult:
    """What a sling did: the bead, the polecat (``<rig>/polecats/<name>``), its session, branch and
    worktree, the agent preset, the convoy (auto or existing, or None) and ``resumed``."""

    bead: str
    rig: str
    polecat: str
    session: str
    branch: str
    worktree: str
    agent: str
    convoy: str | None
    resumed: bool = False
    took_over_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SlingBatch:
    """What a sling of several beads did: ``slung`` (one SlingResult per bead that went out, in the
    order given), ``failed`` (bead id or reference as given, the refusal) for each bead that did not,
    and ``convoy``: the one convoy tracking the batch's beads (None with ``convoy=False``, or when
    nothing was slung)."""

    slung: list[SlingResult]
    failed: list[tuple[str, GtError]]
    convoy: str | None = None

    @property
    def exit_code(self) -> int:
        """0 when every bead went out, else the highest exit code of the refusals (2 for a refusal,
        1 for an agent that did not start)."""
        return max((exc.exit_code for _, exc in self.failed), default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "slung": [r.as_dict() for r in self.slung],
            "convoy": self.convoy,
            "failed": [{"bead": bead, "error": str(exc)} for bead, exc in self.failed],
        }


def beacon(rig: str, polecat: str, bead: str, resumed: bool = False, handoff: str | None = None) -> str:
    """The first prompt a polecat's agent gets (Gas Town's beacon format). handoff: the note a
    predecessor left with ``gt handoff`` (agent text: made one line, at most 500 characters)."""
    text = f"[GAS TOWN] {rig}/polecats/{polecat} assigned:{bead}. Run gt prime and begin work on your hook."
    if handoff is not None:
        text += f" Handoff from your predecessor: {one_line(handoff)[:500] or '(no note)'}"
    elif resumed:
        text += " Your session was restarted: your worktree keeps the work done so far."
    return text


def session_env(town: Town, rig: Rig, polecat: str, bead: str) -> dict[str, str]:
    """The environment of a polecat session (DESIGN section 7): GT_* identity, BD_ACTOR and the git author."""
    address = f"{rig.name}/polecats/{polecat}"
    email = f"{polecat}@{rig.name}.gastown"
    return {
        "GT_TOWN": str(town.root),
        "GT_ROLE": "polecat",
        "GT_RIG": rig.name,
        "GT_POLECAT": polecat,
        "GT_BEAD": bead,
        "BD_ACTOR": address,
        "GIT_AUTHOR_NAME": address,
        "GIT_COMMITTER_NAME": address,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_EMAIL": email,
    }


def check_bead_for_rig(town: Town, rig: Rig, bead: str) -> None:
    """A rig-prefixed bead goes only to its rig; a town-level bead may go to any rig. Raises GtError."""
    prefix = routes.prefix_of(bead)
    if prefix in (rig.prefix, town.prefix):
        return
    owner = routes.rig_of(town, bead)
    where = f"rig {owner}" if owner else f"no rig (prefix {prefix!r} is unknown)"
    hint = f"sling it to {owner}" if owner else "create it in this rig"
    raise GtError(f"bead {bead} belongs to {where}, not {rig.name}: {hint}")


class Slinger:
    """Sling, resume, unsling and nuke on one town. ``host`` defaults to the town's SessionHost."""

    def __init__(
        self, town: Town, host: SessionHost | None = None, store: BeadStore | None = None, actor: str | None = None
    ) -> None:
        self.town = town
        self.host = host or SessionHost(town)
        self.store = store or BeadStore(town)
        self.db = self.store.db
        self.actor = actor or current_actor()

    # ------------------------------------------------------------------ sling

    def sling(
        self,
        bead_ref: str,
        rig_name: str,
        agent: str | None = None,
        polecat: str | None = None,
        formula: str | None = None,
        convoy: bool = True,
        force: bool = False,
    ) -> SlingResult:
        """Hook ``bead_ref`` (an id or unique partial id) to a polecat of ``rig_name`` and start it.

        agent: preset name (default: the town's default_agent). polecat: a name to use (default: an
        idle polecat of the rig, else a new name from the pool). formula: a formula name attached to
        the bead (``gt prime`` shows its steps); None on a bead without one attaches the default work
        formula (:func:`default_work_formula`), as Gas Town does. convoy: give a bead slung alone an auto convoy.
        force: take over a human's or an agent's claim (:meth:`judge_claim`; never work awaiting
        merge or held by a live polecat).
        Raises NotFound (bead, rig, preset), GtError (closed/deferred/unworkable bead, wrong rig,
        missing agent binary), Conflict (awaiting merge, claimed by someone else, already hooked by a
        live polecat, rig at capacity, dirty worktree, lost a race). On any error nothing is left changed.
        """
        rig, bead, issue = self._workable(rig_name, bead_ref, "sling")
        if issue.status == "deferred":
            raise GtError(f"bead {bead} is deferred: set it open first with 'gt bead update {bead} --status open'")
        takeover = self.judge_claim(bead, rig.name, polecat, force)
        if takeover is not None and takeover.resume:
            return self.resume(bead, agent=agent)
        took_over = takeover.assignee if takeover else None
        check_budget(self.town, self.store, [bead], actor=self.actor)
        if formula is not None:
            from core.formulas import FormulaLibrary

            FormulaLibrary(town=self.town, rig=rig).find(formula)
        preset = runtimes.resolve(self.town, agent)
        if polecat is not None:
            check_polecat_name(polecat)
            session_name("polecat", rig.name, polecat)  # refuses names reserved for rig roles
        self._follow_upstream(rig)
        name, created_row = self._claim(rig, bead, polecat, preset.name, takeover)
        session = session_name("polecat", rig.name, name)
        new_worktree = False
        # git worktree add (the longest step) runs while this thread prepares the rest: the default
        # formula (read from the rig's repository), the bead's metadata, an old session's end
        worktree = _Background(ensure_worktree, rig, name, bead)
        try:
            if formula is None and not (issue.metadata or {}).get("formula"):
                formula = default_work_formula(self.town, rig)
            if formula is not None:
                self.store.update(bead, self.actor, metadata={**(issue.metadata or {}), "formula": formula})
            if self.host.exists(session):
                self.host.kill(session)  # an idle polecat's old session: sessions are cattle
            path, branch, new_worktree = worktree.result()
            polecats.upsert(self.db, rig.name, name, session=session, branch=branch, worktree=str(path))
            self._start_agent(rig, name, bead, issue.title, preset, path, resumed=False)
            self._working(rig.name, name, bead)
            events.append(
                self.db,
                "spawn",
                self.actor,
                rig=rig.name,
                bead=bead,
                payload={"polecat": name, "session": session, "agent": preset.name, "branch": branch},
            )
        except BaseException as exc:
            made = worktree.outcome()  # wait for git: a worktree it made is removed with the rest
            new_worktree = new_worktree or (made is not None and made[2])
            self._rollback(rig, name, bead, created_row, new_worktree, session, takeover, exc)
            raise
        convoy_id = self._auto_convoy(bead, rig) if convoy else None
        return SlingResult(
            bead,
            rig.name,
            f"{rig.name}/polecats/{name}",
            session,
            branch,
            str(path),
            preset.name,
            convoy_id,
            took_over_from=took_over,
        )

    def _workable(self, rig_name: str, bead_ref: str, verb: str) -> tuple[Rig, str, Issue]:
        """(rig, bead id, issue) of a bead about to be hooked in ``rig_name``: the rig exists, the bead
        resolves, belongs there, is work and is not closed. ``verb`` (sling, hook) names the fix.
        Raises NotFound (rig, bead) or GtError."""
        rig = load_rig(self.town, rig_name)
        bead = self.store.resolve(bead_ref)
        check_bead_for_rig(self.town, rig, bead)
        issue = self.store.get(bead)
        if issue.issue_type in UNWORKABLE_TYPES:
            raise GtError(f"bead {bead} is a {issue.issue_type}, which polecats do not work: {verb} its work beads")
        if issue.status == "closed":
            raise GtError(f"bead {bead} is closed: reopen it first with 'gt bead reopen {bead}'")
        return rig, bead, issue

    def sling_beads(
        self,
        bead_refs: list[str],
        rig_name: str,
        agent: str | None = None,
        polecat: str | None = None,
        formula: str | None = None,
        convoy: bool = True,
        force: bool = False,
    ) -> SlingBatch:
        """Sling each of ``bead_refs`` to its own polecat of ``rig_name``: the one rule of ``gt sling
        A B RIG`` and of the cockpit's sling of marked beads (Gas Town's ``runBatchSling``).

        Every reference is resolved first (an unknown or ambiguous one raises NotFound/GtError before
        anything is slung). One bead: exactly :meth:`sling` (its refusal raises; ``convoy``: its auto
        convoy). Several: each is slung in turn and a refusal of one does not stop the others (it is
        in ``failed``; that bead is left as it was); then the slung beads not tracked by a convoy yet
        get ONE convoy together (``sling to <rig>: <ids>``, metadata ``auto``), unless ``convoy`` is
        False. ``polecat`` names one polecat, so it is refused (GtError) with several beads.
        Arguments as for :meth:`sling`.
        """
        if not bead_refs:
            raise GtError("no bead to sling: give at least one bead id")
        if polecat is not None and len(bead_refs) > 1:
            raise GtError("a polecat name picks one polecat: sling one bead with it, or let sling pick")
        beads = [self.store.resolve(ref) for ref in bead_refs]
        if len(beads) == 1:
            result = self.sling(
                beads[0], rig_name, agent=agent, polecat=polecat, formula=formula, convoy=convoy, force=force
            )
            return SlingBatch([result], [], result.convoy)
        batch = SlingBatch([], [])
        for bead in beads:
            try:
                batch.slung.append(self.sling(bead, rig_name, agent=agent, formula=formula, convoy=False, force=force))
            except GtError as exc:
                batch.failed.append((bead, exc))
        if convoy and batch.slung:
            untracked = [r.bead for r in batch.slung if not convoys.convoys_tracking(self.store, r.bead)]
            if untracked:
                rig = batch.slung[0].rig
                batch.convoy = convoys.create(
                    self.store,
                    f"sling to {rig}: {', '.join(untracked)}"[:200],
                    untracked,
                    actor=self.actor,
                    metadata={"auto": True},
                    rig=rig,
                ).id
            for r in batch.slung:
                if r.bead in untracked:
                    r.convoy = batch.convoy
                else:
                    tracking = convoys.convoys_tracking(self.store, r.bead)
                    r.convoy = tracking[0] if tracking else None
        return batch

    def _start_agent(
        self,
        rig: Rig,
        name: str,
        bead: str,
        title: str,
        preset: runtimes.Preset,
        path: Any,
        resumed: bool,
        handoff: str | None = None,
    ) -> None:
        """Write the role context files and start the agent with the beacon, verified taken
        (:func:`core.runtimes.start_agent`; raises AgentStartError when it is not). handoff: a
        predecessor's note; the agent then starts a new conversation."""
        written = write_context_files(rig.repo_path, path, rig.name, name, bead, title)
        runtimes.start_agent(
            self.host,
            session_name("polecat", rig.name, name),
            preset,
            beacon(rig.name, name, bead, resumed=resumed, handoff=handoff),
            path,
            env=session_env(self.town, rig, name, bead),
            town=self.town,
            db=self.db,
            bead=bead,
            resume=resumed and handoff is None,
            context=context_text(rig.name, name, bead, title),
            context_files=tuple(written),
            heartbeat=lambda: self._heartbeat(rig.name, name),
        )

    def _working(self, rig: str, name: str, bead: str) -> None:
        """Mark the started polecat ``working`` unless its agent already finished: a fast agent can
        run ``gt done`` (hook cleared, idle) before the sling gets here."""
        self.db.execute(
            "UPDATE polecats SET state = 'working', updated_at = ? WHERE rig = ? AND name = ? AND hook_bead = ?",
            [time.time(), rig, name, bead],
        )

    def _heartbeat(self, rig: str, name: str) -> None:
        """Tell the witness this sling is alive while it waits for the agent (a spawning polecat's
        ``updated_at`` is its heartbeat; see :meth:`_spawning`)."""
        with self.store.transaction():
            self.db.execute(
                "UPDATE polecats SET updated_at = ? WHERE rig = ? AND name = ? AND state = 'spawning'",
                [time.time(), rig, name],
            )

    def _holder(self, assignee: str) -> Polecat | None:
        """The polecat of this town named by ``assignee`` (``<rig>/polecats/<name>``), or None."""
        parts = assignee.split("/")
        if len(parts) == 3 and parts[1] == "polecats":
            p = polecats.get(self.db, parts[0], parts[2])
            return p if p is not None and p.state != "nuked" else None
        return None

    def awaiting_merge(self, bead: str) -> mq.MR | None:
        """The newest ``queued`` or ``merging`` MR of ``bead`` (the bead awaits merge), or None."""
        active = mq.of_bead(self.db, bead, AWAITING_MERGE)
        return active[0] if active else None

    def judge_claim(self, bead: str, rig: str, wanted: str | None = None, force: bool = False) -> Takeover | None:
        """May a sling of ``bead`` to ``rig`` (polecat ``wanted`` or any) take it? None: it is open
        and free; a Takeover: the claim it replaces and what was seen (see the module docstring).

        Raises Conflict when the bead awaits merge (a queued or merging MR), a sling is still starting
        its polecat, its polecat's session runs or tmux cannot tell, or someone else's claim stands
        (without ``force``); GtError when it is in a status that is never slung.
        """
        issue = self.store.get(bead)
        pending = self.awaiting_merge(bead)
        if pending is not None:
            who = f" by {pending.polecat}" if pending.polecat else ""
            raise Conflict(
                f"{bead} awaits merge: {pending.id} ({pending.branch}{who}) is {pending.status}; "
                f"let the refinery finish it, or take it out with 'gt mq reject {pending.id} "
                "--reason WHY' before slinging it again"
            )
        if issue.status == "open":
            return None
        if issue.status not in ("hooked", "in_progress") or not issue.assignee:
            raise GtError(f"bead {bead} is {issue.status}: only open beads can be slung")
        who, holder = issue.assignee, self._holder(issue.assignee)
        if holder is not None and holder.hook_bead == bead:
            if self._spawning(holder):
                raise Conflict(
                    f"{bead} is already hooked by {who}: a sling is starting it; wait for it, or "
                    f"unsling it with 'gt unsling {bead}'"
                )
            dead, seen = session_seen(self.host, holder)
            if dead is None:
                raise Conflict(
                    f"{bead} is already hooked by {who} and {seen}: retry, or unsling it first with 'gt unsling {bead}'"
                )
            if not dead:
                raise Conflict(f"{bead} is already hooked by {who} ({seen}): unsling it first with 'gt unsling {bead}'")
            resume = holder.rig == rig and wanted in (None, holder.name)
            return Takeover(who, f"{who} holds it on its hook and {seen}", issue.status, holder, resume=resume)
        if holder is not None:
            last = next(iter(mq.of_bead(self.db, bead)), None)
            if last is not None and last.polecat == holder.name and last.status in RELEASED_BY_REFINERY:
                return Takeover(
                    who,
                    f"{who} finished it with gt done and holds no hook on it, and its {last.id} {last.status}",
                    issue.status,
                    holder,
                )
        what = "an agent's" if holder is not None else "a claim that is not a polecat's hook"
        if not force:
            raise Conflict(
                f"{bead} is claimed by {who} ({issue.status}, {what}): it is their work; ask "
                f"them to release it, or take it over with 'gt sling {bead} {rig} --force'"
            )
        return Takeover(
            who, f"{who} claimed it ({issue.status}, {what}); taken over with --force", issue.status, holder
        )

    def _spawning(self, p: Polecat) -> bool:
        """True while another sling is still starting ``p``: the row's heartbeat (a sling waiting for
        its agent touches it every second) is younger than ``[witness] spawn_grace``."""
        return polecats.sling_starting(p, float(self.town.setting("witness", "spawn_grace")), time.time())

    def _claim(
        self, rig: Rig, bead: str, wanted: str | None, agent: str, takeover: Takeover | None
    ) -> tuple[str, bool]:
        """In one transaction: capacity check, polecat allocation, hook compare-and-swap (for a
        ``takeover``: that nothing it saw has changed, and the old holder's hook cleared), sling
        event. Returns (polecat name, whether its row is new)."""
        took_over = takeover.assignee if takeover else None
        town_max = int(self.town.setting("scheduler", "max_polecats"))
        rig_max = int(self.town.setting("scheduler", "max_polecats_per_rig"))
        with self.store.transaction():
            if polecats.count_busy(self.db) >= town_max:
                raise Conflict(
                    f"the town is at capacity ({town_max} polecats working): wait for one to finish, "
                    "or raise [scheduler] max_polecats in town.toml"
                )
            if polecats.count_busy(self.db, rig=rig.name) >= rig_max:
                raise Conflict(
                    f"rig {rig.name} is at capacity ({rig_max} polecats working): wait for one to "
                    "finish, or raise [scheduler] max_polecats_per_rig in town.toml"
                )
            name = wanted or self._pick_polecat(rig)
            existing = polecats.get(self.db, rig.name, name)
            if existing is not None and existing.state in polecats.BUSY_STATES:
                raise Conflict(
                    f"polecat {name} of rig {rig.name} is busy with {existing.hook_bead}: "
                    "choose another with --polecat, or let sling pick one"
                )
            address = f"{rig.name}/polecats/{name}"
            pending = self.awaiting_merge(bead)
            if pending is not None:
                raise Conflict(
                    f"{bead} awaits merge: {pending.id} is {pending.status} (queued while slinging); "
                    "let the refinery finish it"
                )
            if takeover is not None:
                self._take_over(bead, address, takeover)
            else:
                self.store.hook(bead, address, self.actor)
            polecats.upsert(
                self.db,
                rig.name,
                name,
                state="spawning",
                hook_bead=bead,
                agent=agent,
                started_at=time.time(),
                respawns=0,
                session=None,
            )
            events.append(
                self.db,
                "sling",
                self.actor,
                rig=rig.name,
                bead=bead,
                payload={
                    "polecat": name,
                    "agent": agent,
                    "took_over_from": took_over,
                    "seen": takeover.seen if takeover else None,
                },
            )
        return name, existing is None

    def _take_over(self, bead: str, address: str, takeover: Takeover) -> None:
        """Inside the claim transaction: check that the claim and its holder's row are as seen, swap
        the bead to ``address`` (status and assignee compare-and-swap), clear the old holder's hook,
        and say on the bead what was seen. Raises Conflict when anything changed."""
        changed = Conflict(f"{bead} changed while slinging: look at it with 'gt bead show {bead}'")
        old = takeover.holder
        if old is not None:
            now = polecats.get(self.db, old.rig, old.name)
            if now is None or (now.state, now.hook_bead, now.session, now.updated_at) != (
                old.state,
                old.hook_bead,
                old.session,
                old.updated_at,
            ):
                raise changed
        swapped = self.store.cas_status(
            bead,
            {takeover.status},
            "hooked",
            self.actor,
            assignee=address,
            expected_assignee=takeover.assignee,
            note=f"taken over from {takeover.assignee}: {takeover.seen}",
        )
        if not swapped:
            raise changed
        if old is not None and old.hook_bead == bead:
            polecats.upsert(self.db, old.rig, old.name, state="idle", hook_bead=None)
        self.store.add_comment(bead, f"Taken over by {address}: {takeover.seen}.", self.actor)
        events.append(
            self.db,
            "takeover",
            self.actor,
            rig=old.rig if old else None,
            bead=bead,
            payload={"from": takeover.assignee, "to": address, "seen": takeover.seen},
        )

    def _pick_polecat(self, rig: Rig) -> str:
        """An idle polecat of ``rig`` whose worktree is clean (oldest first), else a new pool name."""
        rows = polecats.list_polecats(self.db, rig=rig.name, include_nuked=True)
        for p in rows:
            if p.state == "idle" and not p.hook_bead:
                path = worktree_path(rig, p.name)
                if not path.exists() or not git.dirty_paths(path):
                    return p.name
        in_use = {p.name for p in rows}
        if rig.polecats_dir.is_dir():
            in_use |= {d.name for d in rig.polecats_dir.iterdir()}
        in_use |= {"refinery", "witness", "crew"}
        return namepool.pick(in_use, namepool.theme(self.town))

    def _follow_upstream(self, rig: Rig) -> None:
        """Fetch the rig's upstream before a new worktree is made, so it starts from the freshest tip
        (``direct``/``pr`` rigs; skipped when the last fetch is under
        :data:`core.upstream.SLING_FRESH_S` old). Bounded by ``[upstream] sling_timeout`` seconds;
        offline the worktree starts from the rig's own tip and an ``upstream_fetch_failed`` event says so."""
        if upstream.strategy(rig) == "local":
            return
        upstream.refresh(
            self.town,
            rig,
            self.db,
            timeout=float(rig.setting("upstream", "sling_timeout")),
            fresh_for=upstream.SLING_FRESH_S,
            during="sling",
            actor=self.actor,
        )

    def _rollback(
        self,
        rig: Rig,
        name: str,
        bead: str,
        created_row: bool,
        new_worktree: bool,
        session: str,
        takeover: Takeover | None,
        exc: BaseException,
    ) -> None:
        """Undo a sling whose worktree or session failed: nothing of it must remain (a takeover gives
        the bead back to the claim it replaced, in the status it had, and the old holder its hook)."""
        try:
            if self.host.exists(session):
                self.host.kill(session)
        except GtError:
            pass
        if new_worktree:
            try:
                remove_worktree(rig, name, force=True)
                git.delete_branch(rig.repo_path, f"polecat/{name}/{bead}")
            except GtError:
                pass
        address = f"{rig.name}/polecats/{name}"
        with self.store.transaction():
            restore = takeover.assignee if takeover else None
            self.store.cas_status(
                bead,
                {"hooked"},
                takeover.status if takeover else "open",
                self.actor,
                assignee=restore,
                expected_assignee=address,
                note=f"sling rolled back: {exc}",
            )
            old = takeover.holder if takeover else None
            if old is not None and old.hook_bead == bead:
                self.db.execute(
                    "UPDATE polecats SET state = ?, hook_bead = ? WHERE rig = ? AND name = ? AND hook_bead IS NULL",
                    [old.state, bead, old.rig, old.name],
                )
            if created_row:
                self.db.execute("DELETE FROM polecats WHERE rig = ? AND name = ?", [rig.name, name])
            else:
                polecats.upsert(self.db, rig.name, name, state="idle", hook_bead=None, session=None)
            events.append(
                self.db,
                "sling_failed",
                self.actor,
                rig=rig.name,
                bead=bead,
                payload={"polecat": name, "error": str(exc)},
            )

    def _auto_convoy(self, bead: str, rig: Rig) -> str | None:
        """The convoy tracking ``bead``: an existing one, else a new auto convoy named after it."""
        tracking = convoys.convoys_tracking(self.store, bead)
        if tracking:
            return tracking[0]
        title = self.store.get(bead).title
        return convoys.create(
            self.store, f"{bead}: {title}"[:200], [bead], actor=self.actor, metadata={"auto": True}, rig=rig.name
        ).id

    # ------------------------------------------------------------------ resume

    def resume(
        self, bead_ref: str, agent: str | None = None, handoff: str | None = None, own_start: bool = False
    ) -> SlingResult:
        """Restart the dead session of the polecat hooked to ``bead_ref`` on the same worktree and
        branch (its commits and uncommitted files are still there), continuing the agent's own
        conversation where its runtime can; counts a respawn, also when the restart fails (so a
        polecat that cannot start reaches ``max_respawns`` and is escalated).

        handoff: the note of a ``gt handoff`` (:mod:`core.handoff`): the agent starts a fresh
        conversation whose first prompt carries it, and no respawn is counted. own_start: the caller
        marked the polecat ``spawning`` itself (core.handoff.cycle, so that the witness leaves it alone
        while it restarts), which is then no other sling starting it.

        Raises NotFound when no polecat holds the bead, Conflict while a sling is starting it, while
        its session is alive or tmux cannot tell (:func:`session_seen`), or when the polecat or the
        bead changed meanwhile (another resume or a takeover won); AgentStartError when the agent
        does not get past start-up.
        """
        bead = self.store.resolve(bead_ref)
        holder = polecats.by_bead(self.db, bead)
        if holder is None:
            raise NotFound(f"no polecat holds {bead}: sling it with 'gt sling {bead} RIG'")
        if not own_start and self._spawning(holder):
            raise Conflict(f"a sling is starting {holder.address}: wait for it")
        dead, seen = session_seen(self.host, holder)
        if dead is None:
            raise Conflict(f"cannot resume {holder.address}: {seen}; retry")
        if not dead:
            raise Conflict(f"the session of {holder.address} is still running: attach with 'gt peek {holder.session}'")
        rig = load_rig(self.town, holder.rig)
        preset = runtimes.resolve(self.town, agent or holder.agent)
        session = session_name("polecat", rig.name, holder.name)
        if self.host.exists(session):
            self.host.kill(session)  # a dead pane (remain-on-exit) and any orphans of its process group
        path, branch, recreated = ensure_worktree(rig, holder.name, bead)
        if recreated:
            from core.done import restore_checkpoint

            restore_checkpoint(rig, holder, bead)
        issue = self.store.get(bead)
        respawns = holder.respawns + (handoff is None)
        with self.store.transaction():
            now = polecats.get(self.db, rig.name, holder.name)
            current = self.store.get(bead)
            if (
                now is None
                or (now.state, now.hook_bead, now.session, now.updated_at)
                != (holder.state, holder.hook_bead, holder.session, holder.updated_at)
                or current.assignee != holder.address
                or current.status not in ("hooked", "in_progress")
            ):
                raise Conflict(
                    f"{holder.address} or {bead} changed while resuming: look at them with "
                    f"'gt polecat list' and 'gt bead show {bead}'"
                )
            polecats.upsert(
                self.db,
                rig.name,
                holder.name,
                respawns=respawns,
                session=session,
                branch=branch,
                worktree=str(path),
                agent=preset.name,
            )
        try:
            self._start_agent(rig, holder.name, bead, issue.title, preset, path, resumed=True, handoff=handoff)
        except GtError as exc:
            with self.store.transaction():
                events.append(
                    self.db,
                    "respawn_failed",
                    self.actor,
                    rig=rig.name,
                    bead=bead,
                    payload={"polecat": holder.name, "respawns": respawns, "agent": preset.name, "error": str(exc)},
                )
            raise
        with self.store.transaction():
            self._working(rig.name, holder.name, bead)
            events.append(
                self.db,
                "respawn" if handoff is None else "handoff",
                self.actor,
                rig=rig.name,
                bead=bead,
                payload={"polecat": holder.name, "respawns": respawns, "agent": preset.name},
            )
        tracking = convoys.convoys_tracking(self.store, bead)
        return SlingResult(
            bead,
            rig.name,
            holder.address,
            session,
            branch,
            str(path),
            preset.name,
            tracking[0] if tracking else None,
            resumed=True,
        )

    # ------------------------------------------------------------------ hook attach

    def attach(self, bead_ref: str, rig_name: str, name: str, force: bool = False) -> Polecat:
        """Hook ``bead_ref`` to polecat ``rig_name``/``name`` and start nothing (Gas Town's ``gt hook
        attach``: the agent runs it by GUPP, or ``gt sling --resume`` starts it). Idempotent for the
        bead already on that hook; a polecat row is made for a new name.

        force: replace an unfinished bead already on that hook (it goes back to open, with a note).
        Raises NotFound (bead, rig), GtError (closed or unworkable bead, nuked polecat, bad name),
        Conflict (the hook holds another unfinished bead, or someone else holds this one).
        """
        rig, bead, issue = self._workable(rig_name, bead_ref, "hook")
        check_polecat_name(name)
        session_name("polecat", rig.name, name)  # refuses names reserved for rig roles
        address = f"{rig.name}/polecats/{name}"
        with self.store.transaction():
            p = polecats.get(self.db, rig.name, name)
            if p is not None and p.state == "nuked":
                raise GtError(f"polecat {address} was nuked: hook the bead to another polecat")
            holder = polecats.by_bead(self.db, bead)
            if holder is not None and (holder.rig, holder.name) != (rig.name, name):
                raise Conflict(f"{bead} is on the hook of {holder.address}: take it off with 'gt unsling {bead}'")
            old = p.hook_bead if p is not None and p.hook_bead != bead else None
            if old is not None and self.store.get(old).status != "closed":
                if not force:
                    raise Conflict(
                        f"{address} already has {old} on its hook: finish it, or pass --force to put it back"
                    )
                note = f"replaced on the hook of {address} by {bead}"
                self.store.cas_status(
                    old, {"hooked", "in_progress"}, "open", self.actor, assignee=None, expected_assignee=address
                )
                self.store.add_comment(old, note.capitalize() + ".", self.actor)
            self.store.hook(bead, address, self.actor)
            polecats.upsert(self.db, rig.name, name, hook_bead=bead)
            events.append(
                self.db, "hook", self.actor, rig=rig.name, bead=bead, payload={"polecat": name, "replaced": old}
            )
        return polecats.get(self.db, rig.name, name)  # type: ignore[return-value]

    # ------------------------------------------------------------------ unsling / nuke

    def unsling(self, bead_ref: str, note: str = "") -> Polecat:
        """Take ``bead_ref`` off its polecat's hook: stop the session, bead back to open (with a note),
        polecat idle. The worktree and branch stay. Raises NotFound when no polecat holds it."""
        bead = self.store.resolve(bead_ref)
        holder = polecats.by_bead(self.db, bead)
        if holder is None:
            raise NotFound(f"no polecat holds {bead}: nothing to unsling")
        self._stop_session(holder)
        self._release(holder, bead, note or f"unslung from {holder.address}")
        return polecats.get(self.db, holder.rig, holder.name)  # type: ignore[return-value]

    def nuke(self, rig_name: str | None, name: str, force: bool = False) -> Polecat:
        """Nuke polecat ``name``: kill its session, release its bead back to open with a note, and
        remove its worktree. Without ``force`` the worktree must hold no uncommitted work and no
        commits missing from the default branch; with ``force`` uncommitted work is first saved as a
        snapshot commit on ``refs/checkpoints/...`` and the branch is kept, so nothing is lost.
        Raises NotFound, Conflict (work would be lost without --force)."""
        p = polecats.require(self.db, rig_name, name)
        rig = load_rig(self.town, p.rig)
        path = worktree_path(rig, p.name)
        if path.exists() and git.worktree_valid(path, rig.repo_path):
            dirty = git.dirty_paths(path)
            unmerged = 0
            branch = git.current_branch(path)
            if branch:
                unmerged = git.count_commits(rig.repo_path, upstream.start_point(rig) or rig.default_branch, branch)
            if (dirty or unmerged) and not force:
                what = f"{len(dirty)} uncommitted file(s)" if dirty else f"{unmerged} unmerged commit(s) on {branch}"
                raise Conflict(
                    f"polecat {p.name} holds {what}: finish with 'gt done', or pass --force "
                    "(uncommitted work is saved as a checkpoint commit first)"
                )
            self._stop_session(p)
            if dirty:
                from core.done import save_checkpoint

                save_checkpoint(self.town, rig, p, actor=self.actor, session_alive=False)
            remove_worktree(rig, p.name, force=True)
        else:
            self._stop_session(p)
        if p.hook_bead:
            self._release(p, p.hook_bead, f"polecat {p.address} was nuked")
        with self.store.transaction():
            polecats.upsert(self.db, p.rig, p.name, state="nuked", hook_bead=None, session=None, worktree=None)
            events.append(self.db, "nuke", self.actor, rig=p.rig, bead=p.hook_bead, payload={"polecat": p.name})
        return polecats.get(self.db, p.rig, p.name)  # type: ignore[return-value]

    def _stop_session(self, p: Polecat) -> None:
        session = p.session or session_name("polecat", p.rig, p.name)
        if self.host.exists(session):
            self.host.kill(session)

    def _release(self, p: Polecat, bead: str, note: str) -> None:
        with self.store.transaction():
            self.store.cas_status(
                bead,
                {"hooked", "in_progress"},
                "open",
                self.actor,
                assignee=None,
                expected_assignee=p.address,
                note=note,
            )
            self.store.add_comment(bead, note, self.actor)
            polecats.upsert(self.db, p.rig, p.name, state="idle", hook_bead=None, session=None)
            events.append(
                self.db, "unsling", self.actor, rig=p.rig, bead=bead, payload={"polecat": p.name, "note": note}
            )
