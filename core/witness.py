"""The witness: the per-rig monitor of polecats (DESIGN section 8; Gas Town's internal/witness).

Every ``[witness] patrol_interval`` seconds the engine runs :meth:`Witness.patrol` on each rig. It
classifies each polecat with :func:`polecat_state`, the one rule the cockpit shows too
(:mod:`core.townview`); the first that applies wins, checked in the order stuck, idle, spawning,
closed or missing bead, lost worktree, dead session, waiting, GUPP violation, stalled, working, quiet:

- ``spawning``: a sling is still starting it (within ``[witness] spawn_grace``, default 60 s; past
  it the sling's process died half-way, and the hook is resumed like a zombie's, after stopping
  any session found, which may be the polecat's previous one);
- ``idle``: nothing hooked (a session still running after ``gt done`` is stopped once the agent's
  turn ended, unless its preset says ``end_after_done = false``);
- ``waiting``: hooked, and the agent waits for an answer (its turn ended with work on its hook, or a
  dialog shows: :mod:`core.runtimes.state`); not stalled, never nudged by the witness;
- ``working``: hooked, its transcript grew within ``active_window``;
- ``quiet``: hooked, silent for less than ``stall_after``;
- ``stalled``: hooked, alive, silent for ``stall_after`` or more;
- ``gupp_violation``: hooked, alive, no commit, event or output for ``gupp_after`` (GUPP: work on
  your hook must run);
- ``zombie``: its session is dead while it holds a hook, or its bead is closed (or gone) while it
  still holds it;
- ``worktree_lost``: hooked, and the worktree its row records was deleted (or is no longer a git
  worktree);
- ``stuck``: given up on (too many restarts), waiting for a human; tried again after
  ``[witness] stuck_retry_after`` seconds, doubling after each try, at most :data:`STUCK_RETRIES`
  times (each try restarts it with a fresh ``max_respawns`` budget), so a polecat stuck in a passing
  outage (a full disk) recovers within the run.

Output is the transcript's growth, except the echo of the witness's own nudges (:func:`last_output`):
a hung agent's terminal echoes the nudge typed into it, and that is not progress, so a polecat that
answers nudges with silence goes from stalled to a GUPP violation instead of flipping back to
working.

Actions, each recorded as an event with a ``reason``: a stalled polecat is nudged once per
``stall_after`` window, a GUPP violation once per ``gupp_after`` window (the first one of a bead is
also escalated, severity high: the agent hangs and needs a human); a zombie holding work is
restarted on the same worktree and hook (:meth:`core.sling.Slinger.resume`) at most
``max_respawns`` times per bead, then set ``stuck`` and escalated (severity high, mail to the Mayor),
except a dead polecat whose ``gt done`` was killed after queueing its MR, which is settled as the
done would have (:func:`core.done.finish_interrupted`); a zombie whose bead is closed has its
session stopped (if any) and its hook cleared. A worktree deleted mid-work is re-created on the
polecat's branch with its last checkpoint, the agent restarted (a respawn), and the Mayor told
(``worktree_lost`` event, medium escalation; high when the restore failed). The witness never
deletes a worktree. A classification is also an event when it changes (``witness_state``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core import escalation, events, git, nudge, polecats
from core.beads.store import BeadStore
from core.errors import GtError, NotFound
from core.plaintext import one_line
from core.polecats import Polecat
from core.sessions import SessionHost, session_name
from core.town import Town

STALL_TEXT = (
    "[GAS TOWN] witness: you have been silent for {silent:.0f}s with {bead} on your hook. "
    "Continue the work, or run gt done (--status ESCALATED -m WHY if blocked)."
)
STUCK_RETRIES = 3
#: Bead statuses after which a hook holds nothing to work: the witness clears such a hook.
SPENT_STATUSES = ("closed", "missing")
GUPP_TEXT = (
    "[GAS TOWN] witness: GUPP - {bead} is on your hook and nothing has moved for {silent:.0f}s. "
    "Run gt prime and work it now."
)


#: Transcript growth after a witness nudge that is still its echo, not the agent's output: the typed
#: text this many times over (a CLI's input box redrawn as the chunks arrive) plus ECHO_SLACK bytes
#: (the Enter's newline, a prompt or status line redrawn). Bytes.
ECHO_FACTOR = 4
ECHO_SLACK = 2048
#: Event types of the witness's nudges (their payload has ``action = "nudge"``).
NUDGE_EVENTS = ("stalled", "gupp_violation")


#: Every state of a polecat (module docstring): the witness acts on them, the cockpit shows them.
POLECAT_STATES = (
    "spawning",
    "idle",
    "waiting",
    "working",
    "quiet",
    "stalled",
    "gupp_violation",
    "zombie",
    "worktree_lost",
    "stuck",
)
#: The ``[witness]`` settings the rule and the witness read (seconds; ``max_respawns`` a count).
THRESHOLDS = ("active_window", "stall_after", "gupp_after", "max_respawns", "spawn_grace", "stuck_retry_after")


def thresholds(town: Town) -> dict[str, float]:
    """The ``[witness]`` thresholds of ``town`` (:data:`THRESHOLDS`), seconds (``max_respawns``: a count)."""
    return {k: float(town.setting("witness", k)) for k in THRESHOLDS}


class PolecatProbe(Protocol):
    """What a caller of :func:`polecat_state` observes of one hooked polecat. Each method is called
    only when the rule needs it (at most once), so a caller may make the costly ones cheap or lazy."""

    def alive(self) -> bool:
        """Whether its session runs (tmux has it, with a live pane)."""

    def bead_status(self) -> str:
        """The status of its hooked bead, ``missing`` when the bead is gone."""

    def worktree_lost(self) -> str | None:
        """What is wrong with its worktree (one sentence), None when it is fine or unknown."""

    def last_output(self) -> float | None:
        """Unix seconds of its transcript's last growth, None when it never printed."""

    def agent_waiting(self) -> str | None:
        """What its agent waits for (a question, a dialog: one line) when it waits for an answer,
        else None."""

    def last_progress(self) -> float:
        """Unix seconds of its newest sign of progress besides output: an event about its bead that
        is not the witness's own, or its worktree's newest commit (0 when none)."""


@dataclass(frozen=True)
class PolecatState:
    """What :func:`polecat_state` concluded: ``state`` in :data:`POLECAT_STATES`, one-line ``reason``,
    and for a zombie its ``cause``: ``spawn_unfinished`` (a sling died half-way), ``bead_closed``,
    ``bead_missing`` or ``session_dead``. ``silent``: seconds since its output (or its start, when it
    printed nothing since), None when not looked at; ``stuck_for``: seconds since any progress (only
    computed when it may be a GUPP violation)."""

    state: str
    reason: str
    cause: str = ""
    silent: float | None = None
    stuck_for: float | None = None


def polecat_state(p: Polecat, probe: PolecatProbe, th: Mapping[str, float], now: float) -> PolecatState:
    """The state of polecat ``p`` (the module docstring's rules, in that order): the one rule the
    witness acts on and the cockpit shows (:mod:`core.townview`).

    th: :func:`thresholds` (seconds). now: Unix seconds. probe: what can be observed of ``p``
    (:class:`PolecatProbe`). A worktree counts as lost only when the polecat's row records one (a
    sling records it before the agent starts). Raises whatever the probe raises.
    """
    if p.state == "stuck":
        return PolecatState("stuck", "waiting for a human (too many restarts)")
    if not p.hook_bead:
        return PolecatState("idle", "nothing hooked")
    if p.state == "spawning":
        if polecats.sling_starting(p, th["spawn_grace"], now):
            return PolecatState("spawning", "a sling is starting it")
        return PolecatState(
            "zombie", f"sling unfinished after spawn_grace ({th['spawn_grace']:g}s)", "spawn_unfinished"
        )
    status = probe.bead_status()
    if status in SPENT_STATUSES:
        return PolecatState("zombie", f"its bead is {status} while it holds it", f"bead_{status}")
    lost = probe.worktree_lost() if p.worktree else None
    if lost is not None:
        return PolecatState("worktree_lost", lost)
    if not probe.alive():
        return PolecatState("zombie", "session dead while hooked", "session_dead")
    started = p.started_at or p.updated_at
    silent = max(0.0, now - max(probe.last_output() or 0.0, started))
    waiting = probe.agent_waiting()
    if waiting is not None:
        return PolecatState("waiting", f"the agent waits for an answer ({waiting})", silent=silent)
    if silent >= th["gupp_after"]:  # progress is never older than output, so only then can it be one
        stuck_for = max(0.0, now - max(now - silent, probe.last_progress()))
        if stuck_for >= th["gupp_after"]:
            return PolecatState(
                "gupp_violation",
                f"hooked with no commit, event or output for {stuck_for:.0f}s (gupp_after {th['gupp_after']:g}s)",
                silent=silent,
                stuck_for=stuck_for,
            )
    if silent >= th["stall_after"]:
        return PolecatState(
            "stalled", f"no output for {silent:.0f}s (stall_after {th['stall_after']:g}s)", silent=silent
        )
    if silent < th["active_window"]:
        return PolecatState("working", f"output {silent:.0f}s ago", silent=silent)
    return PolecatState("quiet", f"no output for {silent:.0f}s", silent=silent)


def worktree_lost(town: Town, p: Polecat, rig: Any = None) -> str | None:
    """What is wrong with the worktree of hooked polecat ``p`` (gone, or its ``.git`` link gone), or
    None when it is fine (or its rig or name cannot be read). rig: ``p``'s :class:`core.rigs.Rig` when
    the caller has it (else it is loaded). No git process: stats only."""
    from core.rigs import load_rig
    from core.worktrees import worktree_path

    try:
        path = worktree_path(rig if rig is not None else load_rig(town, p.rig), p.name)
    except GtError:
        return None
    if not path.is_dir():
        return f"its worktree {path} is gone"
    if not (path / ".git").exists():
        return f"its worktree {path} is no longer a git worktree of rig {p.rig}"
    return None


def last_output(db: Any, rig: str, bead: str, log: Any) -> float | None:
    """Unix seconds of the last output of the polecat of ``rig`` hooked to ``bead`` whose transcript
    is ``log`` (a path), not counting the echo of the witness's own nudges; None when it never printed.

    The newest nudge of the rig's witness about ``bead`` (a :data:`NUDGE_EVENTS` event) records the
    transcript's size before typing (``log_bytes``) and the output time it had counted then
    (``quiet_since``). When the transcript changed after that nudge but grew by no more than the
    echo allowance (:data:`ECHO_FACTOR` times the typed bytes, ``typed_bytes``, plus
    :data:`ECHO_SLACK`), the growth is the echo and ``quiet_since`` is the answer; more growth (or a
    rotated, smaller log) is output. Cost: one stat, one indexed query.
    """
    try:
        st = os.stat(log)
    except FileNotFoundError:
        return None
    grew = st.st_mtime
    row = db.execute(
        "SELECT ts, payload FROM events WHERE bead = ? AND actor = ? AND type IN (?, ?) "
        "AND json_extract(payload, '$.action') = 'nudge' ORDER BY id DESC LIMIT 1",
        [bead, f"{rig}/witness", *NUDGE_EVENTS],
    ).fetchone()
    if row is None:
        return grew
    try:
        payload = json.loads(row[1] or "{}")
        before = int(payload["log_bytes"])
        typed = int(payload.get("typed_bytes", 0))
    except (ValueError, KeyError, TypeError):
        return grew  # a nudge recorded before the echo rule: no baseline
    growth = st.st_size - before
    if 0 <= growth <= typed * ECHO_FACTOR + ECHO_SLACK:
        quiet = payload.get("quiet_since")
        return min(grew, float(quiet)) if isinstance(quiet, (int, float)) else None
    return grew


def last_event(db: Any, bead: str, rig: str) -> float:
    """Unix seconds of the newest event about ``bead`` that is not its rig's witness's own (0: none)."""
    row = db.execute("SELECT max(ts) FROM events WHERE bead = ? AND actor != ?", [bead, f"{rig}/witness"]).fetchone()
    return float(row[0] or 0.0)


def last_commit(p: Polecat) -> float:
    """Committer time (Unix seconds) of the polecat worktree's HEAD, 0 when unknown (one git process)."""
    if not p.worktree:
        return 0.0
    try:
        out = git.run_git(["log", "-1", "--format=%ct", "HEAD"], cwd=p.worktree, check=False).stdout.strip()
    except (GtError, OSError):
        return 0.0
    return float(out) if out.isdigit() else 0.0


@dataclass
class Decision:
    """What the witness concluded about one polecat: ``state`` (see the module docstring),
    ``action`` (none, nudge, resume, stuck, cleanup, repair) and the ``reason``."""

    polecat: str
    bead: str | None
    state: str
    action: str
    reason: str
    silent: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Witness:
    """The witness of rig ``rig`` (a name). ``slinger``: a core.sling.Slinger sharing the host and
    store (its store's connection is used). clock: Unix seconds. actor: who its events name
    (default ``<rig>/witness``; ``gt doctor --fix`` applies the witness's rules as ``doctor``)."""

    def __init__(
        self, town: Town, rig: str, slinger: Any, clock: Callable[[], float] = time.time, actor: str | None = None
    ) -> None:
        self.town = town
        self.rig = rig
        self.slinger = slinger
        self.host: SessionHost = slinger.host
        self.store: BeadStore = slinger.store
        self.db = self.store.db
        self.clock = clock
        self.actor = actor or f"{rig}/witness"
        self._last: dict[str, str] = {}

    def thresholds(self) -> dict[str, float]:
        """The ``[witness]`` thresholds in seconds (and ``max_respawns``)."""
        return thresholds(self.town)

    def patrol(self) -> list[Decision]:
        """Classify every polecat of the rig and act (see the module docstring). Returns the decisions."""
        th = self.thresholds()
        out = []
        for p in polecats.list_polecats(self.db, rig=self.rig):
            try:
                d = self._judge(p, th)
            except (GtError, OSError) as exc:
                d = Decision(p.address, p.hook_bead, "error", "none", f"could not check: {exc}")
                self._event("witness_error", d)
            bucket = "working" if d.state == "quiet" else d.state
            if self._last.get(p.address) != bucket:
                self._last[p.address] = bucket
                self._event("witness_state", d)
            out.append(d)
        return out

    # -- classification ---------------------------------------------------------------------------

    def _judge(self, p: Polecat, th: dict[str, float]) -> Decision:
        """Classify ``p`` (:func:`polecat_state`) and act on what it is."""
        session = p.session or session_name("polecat", p.rig, p.name)
        probe = _WitnessProbe(self, p, session)
        seen = polecat_state(p, probe, th, self.clock())
        bead, state = p.hook_bead, seen.state
        if state == "stuck":
            return self._stuck(p, th)
        if state == "idle":
            return self._idle(p, session)
        if state == "spawning":
            return Decision(p.address, bead, "spawning", "none", seen.reason)
        if seen.cause == "spawn_unfinished":
            return self._restart_spawn(p, session, probe.alive(), th)
        if seen.cause in ("bead_closed", "bead_missing"):
            return self._cleanup(p, session, probe.bead_status(), probe.alive())
        if state == "worktree_lost":
            return self._restore_worktree(p, session, probe.alive(), seen.reason, th)
        if state == "zombie":
            settled = self._interrupted_done(p)
            if settled is not None:
                return settled
            return self._zombie(p, th)
        if state == "waiting":
            return Decision(
                p.address,
                bead,
                "waiting",
                "none",
                f"{seen.reason}: answer it with 'gt nudge {session} \"TEXT\"' or attach to it",
                seen.silent,
            )
        if state == "gupp_violation":
            assert seen.stuck_for is not None
            return self._nudge(
                p, session, "gupp_violation", seen.stuck_for, th["gupp_after"], GUPP_TEXT, seen.reason, probe
            )
        if state == "stalled":
            assert seen.silent is not None
            return self._nudge(p, session, "stalled", seen.silent, th["stall_after"], STALL_TEXT, seen.reason, probe)
        return Decision(p.address, bead, state, "none", seen.reason, seen.silent)

    def settle_dead_hook(self, p: Polecat) -> Decision | None:
        """What this witness does for hooked polecat ``p`` whose session is dead, limited to the
        repairs that start no agent (for ``gt doctor --fix``, :mod:`core.doctor`): the hook of a bead
        that is closed or gone is cleared (:meth:`_cleanup`), and a ``gt done`` killed after it queued
        its MR is settled (:meth:`_interrupted_done`), in the order :meth:`patrol` applies them.
        Returns that decision (recorded as the witness records it), or None, changing nothing, when
        the session is alive, nothing is hooked, or the witness would do something else: restart
        the agent, restore a lost worktree, or wait for a stuck or spawning polecat."""
        if not p.hook_bead or p.state in ("stuck", "spawning"):
            return None
        session = p.session or session_name("polecat", p.rig, p.name)
        probe = _WitnessProbe(self, p, session)
        if probe.alive():
            return None
        status = probe.bead_status()
        if status in SPENT_STATUSES:
            return self._cleanup(p, session, status, alive=False)
        if p.worktree and probe.worktree_lost() is not None:
            return None
        return self._interrupted_done(p)

    def _agent_state(self, p: Polecat, session: str) -> Any:
        """The agent state of ``p``'s session (core.runtimes.state.State), None when its preset is gone."""
        from core import runtimes
        from core.runtimes.state import session_state

        try:
            preset = runtimes.resolve(self.town, p.agent)
        except GtError:
            return None
        return session_state(self.host, self.db, session, preset)

    def _idle(self, p: Polecat, session: str) -> Decision:
        """Nothing hooked. A session left running after ``gt done`` is stopped once its turn ended,
        unless its preset keeps it (``end_after_done = false``): a finished agent holds memory."""
        from core import runtimes

        seen = self.host.info(session) if p.state == "idle" else None
        if seen is None or not seen.alive or not self.host.is_alive(session):
            return Decision(p.address, None, "idle", "none", "nothing hooked")
        try:
            preset = runtimes.resolve(self.town, p.agent)
        except GtError:
            return Decision(p.address, None, "idle", "none", "nothing hooked")
        agent = self._agent_state(p, session)
        if not preset.end_after_done or agent is None or agent.state not in ("idle", "waiting"):
            return Decision(p.address, None, "idle", "none", "nothing hooked")
        now = polecats.get(self.db, p.rig, p.name)
        if now is None or now.state != "idle" or now.hook_bead or now.session != p.session:
            return Decision(p.address, None, "idle", "none", "slung again meanwhile")
        try:
            # only the session seen finished: a sling may reuse this polecat (and its session name)
            # at any moment, and its new session is never stopped here
            self.host.kill(session, instance=seen.instance)
        except NotFound:
            return Decision(p.address, None, "idle", "none", "its session was started again meanwhile")
        with self.store.transaction():
            now = polecats.get(self.db, p.rig, p.name)
            if now is None or now.state != "idle" or now.hook_bead or now.session != p.session:
                return Decision(p.address, None, "idle", "none", "slung again meanwhile")
            polecats.upsert(self.db, p.rig, p.name, session=None)
            return self._act(
                Decision(
                    p.address, None, "idle", "end_session", "work submitted and the agent's turn ended: session stopped"
                ),
                event="witness",
            )

    # -- actions ----------------------------------------------------------------------------------

    def _nudge(
        self,
        p: Polecat,
        session: str,
        state: str,
        silent: float,
        window: float,
        template: str,
        reason: str,
        probe: PolecatProbe,
    ) -> Decision:
        """Nudge once per ``window``: the last ``state`` event with ``nudged`` for this bead decides.
        The event records the transcript's size before typing and the output time counted so far, so
        the nudge's echo is not taken for output (:func:`last_output`). The first GUPP nudge of a bead
        also escalates it (severity high), in the event's transaction."""
        bead = p.hook_bead
        row = self.db.execute(
            "SELECT max(ts) FROM events WHERE type = ? AND bead = ? AND actor = ? "
            "AND json_extract(payload, '$.action') = 'nudge'",
            [state, bead, self.actor],
        ).fetchone()
        last = float(row[0] or 0.0)
        if self.clock() - last < window:
            return Decision(p.address, bead, state, "none", reason + "; nudged already in this window", silent)
        decision = Decision(p.address, bead, state, "nudge", reason, silent)
        text = one_line(template.format(silent=silent, bead=bead))
        try:
            before = os.stat(self.host.log_path(session)).st_size
        except OSError:
            before = 0
        extra = {"log_bytes": before, "typed_bytes": len(text.encode()), "quiet_since": probe.last_output()}
        try:
            # the one nudge rule (never into a shell, never onto a half-typed line): core.nudge
            sent = nudge.system_nudge(self.town, self.host, self.db, session, text, sender=self.actor, target=p.address)
            if not sent.delivered:
                extra["typed_bytes"] = 0  # mailed or queued: nothing of it echoes now
                decision.reason = f"{reason}; {sent.summary()}"
        except GtError as exc:
            decision.action = "nudge_failed"
            decision.reason = f"{reason}; nudge failed: {exc}"
        if state != "gupp_violation" or last > 0.0:
            return self._act(decision, event=state, extra=extra)
        with self.store.transaction():
            decision.reason += "; escalated"
            self._act(decision, event=state, extra=extra)
            escalation.escalate(
                self.store,
                f"{bead} on {p.address} breaks GUPP: {reason}, and nudges do not move it. Look at it with "
                f"'gt peek {session}', answer it with 'gt nudge {session} \"TEXT\"', or nuke it",
                "high",
                actor=self.actor,
                about=bead,
                rig=p.rig,
            )
        return decision

    def _stuck_history(self, bead: str) -> tuple[int, int, float]:
        """(times ``bead`` was set stuck, tries since, Unix seconds of the newest of either) by this witness."""
        rows = dict(
            self.db.execute(
                "SELECT type, count(*) FROM events WHERE bead = ? AND actor = ? AND type IN ('stuck', 'stuck_retry') "
                "GROUP BY type",
                [bead, self.actor],
            ).fetchall()
        )
        last = self.db.execute(
            "SELECT max(ts) FROM events WHERE bead = ? AND actor = ? AND type IN ('stuck', 'stuck_retry')",
            [bead, self.actor],
        ).fetchone()[0]
        return int(rows.get("stuck", 0)), int(rows.get("stuck_retry", 0)), float(last or 0.0)

    def _stuck(self, p: Polecat, th: dict[str, float]) -> Decision:
        """A stuck polecat: wait for a human, but try it again (a fresh ``max_respawns`` budget, one
        restart now) once ``stuck_retry_after * 2**tries`` seconds passed since it was stuck or last
        tried, at most :data:`STUCK_RETRIES` times; each try is a ``stuck_retry`` event."""
        bead = p.hook_bead
        if not bead:
            return Decision(p.address, None, "stuck", "none", "waiting for a human (too many restarts)")
        _, tries, last = self._stuck_history(bead)
        if tries >= STUCK_RETRIES:
            return Decision(
                p.address, bead, "stuck", "none", f"waiting for a human (too many restarts; tried again {tries} times)"
            )
        wait = th["stuck_retry_after"] * 2**tries
        left = last + wait - self.clock()
        if left > 0:
            return Decision(
                p.address,
                bead,
                "stuck",
                "none",
                f"waiting for a human (too many restarts); next try in {left:.0f}s ({tries + 1}/{STUCK_RETRIES})",
            )
        from core.sling import session_seen

        dead, seen = session_seen(self.host, p)
        if not dead:
            return Decision(p.address, bead, "stuck", "none", f"waiting for a human: {seen}")
        with self.store.transaction():
            polecats.upsert(self.db, p.rig, p.name, respawns=0)
        decision = Decision(
            p.address,
            bead,
            "stuck",
            "retry",
            f"stuck for {wait:.0f}s or more: trying it again ({tries + 1}/{STUCK_RETRIES}, "
            f"max_respawns {int(th['max_respawns'])} restarts)",
        )
        try:
            self.slinger.resume(bead)
        except GtError as exc:
            decision.action = "retry_failed"
            decision.reason += f"; the restart failed: {exc}"
        return self._act(decision, event="stuck_retry")

    def _zombie(self, p: Polecat, th: dict[str, float], why: str = "session dead while hooked") -> Decision:
        bead = p.hook_bead
        assert bead is not None
        max_respawns = int(th["max_respawns"])
        if p.respawns >= max_respawns:
            times, tries, _ = self._stuck_history(bead)
            later = (
                f"; tried again in {th['stuck_retry_after'] * 2**tries:.0f}s ({tries + 1}/{STUCK_RETRIES})"
                if tries < STUCK_RETRIES
                else f"; given up after {tries} tries"
            )
            tell = times == 0 or tries >= STUCK_RETRIES  # the first time, and when finally given up
            reason = (
                f"{why}; restarted {p.respawns} time(s) already "
                f"(max_respawns {max_respawns}): stuck{', escalated' if tell else ''}{later}"
            )
            with self.store.transaction():
                polecats.upsert(self.db, p.rig, p.name, state="stuck")
                decision = self._act(Decision(p.address, bead, "zombie", "stuck", reason), event="stuck")
                if tell:
                    escalation.escalate(
                        self.store,
                        f"{bead} on {p.address} keeps dying: its session died "
                        f"{p.respawns + 1} times{later}. Look at it with 'gt peek {p.session}' "
                        f"and the worktree {p.worktree}",
                        "high",
                        actor=self.actor,
                        about=bead,
                        rig=p.rig,
                    )
            return decision
        reason = f"{why}: restarting it on the same worktree (respawn {p.respawns + 1}/{max_respawns})"
        decision = Decision(p.address, bead, "zombie", "resume", reason)
        try:
            self.slinger.resume(bead)
        except GtError as exc:
            decision.action = "resume_failed"
            decision.reason = f"{why}; restart failed: {exc}"
        return self._act(decision, event="zombie")

    def _restart_spawn(self, p: Polecat, session: str, alive: bool, th: dict[str, float]) -> Decision:
        """A sling that never finished (its process died between the claim and the session start):
        a live session may be the polecat's previous one, never told about this bead, so it is
        stopped and the hook resumed on the same worktree."""
        if alive:
            try:
                self.host.kill(session)
            except NotFound:
                pass
        why = f"sling unfinished after spawn_grace ({th['spawn_grace']:g}s)" + (
            "; stopped the session it found" if alive else ""
        )
        return self._zombie(p, th, why)

    def _restore_worktree(self, p: Polecat, session: str, alive: bool, lost: str, th: dict[str, float]) -> Decision:
        """A worktree deleted mid-work: stop the session (its directory is gone), re-create the
        worktree on the polecat's branch (its commits are in the rig's repository) with the last
        checkpoint snapshot, and restart the agent (:meth:`core.sling.Slinger.resume`, one respawn;
        past ``max_respawns`` the polecat is stuck). A ``worktree_lost`` event says what was seen and
        done, and a medium escalation (high when the restore failed) tells the Mayor."""
        from core.done import checkpoint_ref

        bead = p.hook_bead
        assert bead is not None
        if alive:
            try:
                self.host.kill(session)
            except NotFound:
                pass
        if p.respawns >= int(th["max_respawns"]):
            return self._zombie(p, th, why=f"{lost} mid-work")
        from core.rigs import load_rig

        try:
            repo = load_rig(self.town, p.rig).repo_path
            has_checkpoint = git.rev_parse(repo, checkpoint_ref(p.name, bead)) is not None
        except GtError:
            has_checkpoint = False
        saved = (
            "commits kept, uncommitted work from its last checkpoint restored"
            if has_checkpoint
            else "commits kept; uncommitted work since its last commit was not checkpointed"
        )
        decision = Decision(
            p.address,
            bead,
            "worktree_lost",
            "restore",
            f"{lost} mid-work: re-created on branch {p.branch or '?'} ({saved}) and restarted "
            f"(respawn {p.respawns + 1}/{int(th['max_respawns'])})",
        )
        severity = "medium"
        try:
            self.slinger.resume(bead)
        except GtError as exc:
            decision.action = "restore_failed"
            decision.reason = f"{lost} mid-work; restoring it failed: {exc}"
            severity = "high"
        with self.store.transaction():
            self._act(decision, event="worktree_lost")
            escalation.escalate(
                self.store,
                f"{bead} on {p.address}: {decision.reason}",
                severity,
                actor=self.actor,
                about=bead,
                rig=p.rig,
            )
        return decision

    def _interrupted_done(self, p: Polecat) -> Decision | None:
        """A dead polecat whose ``gt done`` was killed after queueing its MR: settle it as the done
        would have (:func:`core.done.finish_interrupted`) instead of restarting finished work."""
        from core.done import finish_interrupted

        mr = finish_interrupted(self.store, p, self.actor)
        if mr is None:
            return None
        return self._act(
            Decision(
                p.address,
                p.hook_bead,
                "zombie",
                "settle",
                f"session dead after an interrupted gt done: {mr.id} is {mr.status}, "
                "the bead settled as awaiting merge and the polecat set idle",
            ),
            event="zombie",
        )

    def _cleanup(self, p: Polecat, session: str, status: str, alive: bool = True) -> Decision:
        reason = (
            f"session {'alive' if alive else 'dead'} while its bead is {status}: "
            f"{'session stopped, ' if alive else ''}hook cleared"
        )
        try:
            self.host.kill(session)
        except NotFound:
            pass
        polecats.upsert(self.db, p.rig, p.name, state="idle", hook_bead=None, session=None)
        return self._act(Decision(p.address, p.hook_bead, "zombie", "cleanup", reason), event="zombie")

    def _act(self, d: Decision, event: str = "witness", extra: dict[str, Any] | None = None) -> Decision:
        self._event(event, d, extra)
        return d

    def _event(self, kind: str, d: Decision, extra: dict[str, Any] | None = None) -> None:
        events.append(
            self.db,
            kind,
            self.actor,
            rig=self.rig,
            bead=d.bead,
            ts=self.clock(),
            payload={
                "polecat": d.polecat.rsplit("/", 1)[-1],
                "state": d.state,
                "action": d.action,
                "reason": d.reason,
                "silent": None if d.silent is None else round(d.silent, 1),
                **(extra or {}),
            },
        )


class _WitnessProbe:
    """:class:`PolecatProbe` of the witness: tmux asked for the session, the bead store for the bead,
    the agent's own state (its hooks, else its screen: :func:`core.runtimes.state.session_state`),
    the ledger's events and git for progress. Each answer is kept (the rule and the actions ask once)."""

    def __init__(self, witness: Witness, p: Polecat, session: str) -> None:
        self.witness, self.p, self.session = witness, p, session
        self._seen: dict[str, Any] = {}

    def _once(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._seen:
            self._seen[key] = fn()
        return self._seen[key]

    def alive(self) -> bool:
        return bool(self._once("alive", lambda: self.witness.host.is_alive(self.session)))

    def bead_status(self) -> str:
        def status() -> str:
            try:
                return self.witness.store.get(self.p.hook_bead or "").status
            except NotFound:
                return "missing"

        return str(self._once("status", status))

    def worktree_lost(self) -> str | None:
        return self._once("lost", lambda: worktree_lost(self.witness.town, self.p))  # type: ignore[no-any-return]

    def last_output(self) -> float | None:
        return self._once(  # type: ignore[no-any-return]
            "output",
            lambda: last_output(
                self.witness.db, self.p.rig, self.p.hook_bead or "", self.witness.host.log_path(self.session)
            ),
        )

    def agent_waiting(self) -> str | None:
        agent = self.witness._agent_state(self.p, self.session)
        if agent is None or agent.state != "waiting":
            return None
        return str(agent.detail or agent.source)

    def last_progress(self) -> float:
        return max(last_event(self.witness.db, self.p.hook_bead or "", self.p.rig), last_commit(self.p))
