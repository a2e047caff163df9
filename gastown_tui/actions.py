"""The cockpit's actions (sling, new bead, new convoy, pour, nudge, nuke, restart, retry, acknowledge,
bead edits and comments, mail) and the choices its dialogs offer, over one town (DESIGN section 9).

Each action calls the one ``core`` function of its rule, the one ``gt`` calls (:meth:`core.sling.Slinger.
sling_beads`, :func:`core.pour.pour`, :func:`core.convoys.create`, ...), in a worker run by the
:class:`Runner` passed in (the app's thread worker: a refusal becomes a toast), then asks for the
ledger sync as ``gt`` does after a command (:func:`core.beads.sync.after_change`; its warning is a
toast). A dialog that shows a refusal itself passes ``refused``: the GtError goes to it instead of a
toast (:meth:`CockpitActions.attempt`). Screens depend on this module and on :class:`Cockpit` (what
they use of the app), never on the app class: ``gastown_tui.app`` imports the screens, not the other
way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from core import bead_view, convoys, mail, mq, nudge, pour, runtimes
from core.actor import current_actor
from core.beads import sync as ledger_sync
from core.beads import verbs
from core.beads.model import Comment, Issue
from core.beads.store import BeadStore
from core.db import connect
from core.errors import GtError
from core.formulas import FormulaLibrary
from core.molecules import MoleculePlan
from core.rigs import load_rig
from core.sessions import SessionHost
from core.sling import SlingBatch, Slinger
from core.town import Town
from core.townview import TownSnapshot

T = TypeVar("T")


@dataclass(frozen=True)
class SlingChoice:
    """What the sling dialog chose: rig name, agent preset name, polecat name (None: let sling pick)."""

    rig: str
    agent: str
    polecat: str | None


@dataclass(frozen=True)
class NewBead:
    """A bead to file: title, description (markdown), rig (None: a town bead), priority 0-4, issue
    type (one of :data:`core.beads.model.ISSUE_TYPES`), labels, and dependencies as ``gt bead create
    --deps`` takes them (``ID`` blocks, or ``TYPE:ID``; full ids, checked by the ledger)."""

    title: str
    description: str
    rig: str | None
    priority: int
    issue_type: str = "task"
    labels: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class BeadEdit:
    """What the bead edit dialog changes: title, priority 0-4, status, and labels (the full new set;
    None for a field left as it was)."""

    title: str | None = None
    priority: int | None = None
    status: str | None = None
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Letter:
    """A message the compose dialog sends: recipient address (or group), subject, body; reply_to:
    the message it answers (None for a new one)."""

    to: str
    subject: str
    body: str
    reply_to: str | None = None


@dataclass(frozen=True)
class FormulaRun:
    """A formula to pour: name, variable values, rig (None: town beads)."""

    formula: str
    vars: dict[str, str]
    rig: str | None


class Runner(Protocol):
    """Runs ``fn`` off the event loop, then ``done(result)`` on it; a GtError or any other exception
    is shown ("<what>: refused" / "<what>: failed"), not raised (:meth:`gastown_tui.app.CockpitApp.
    run_blocking` is one)."""

    def __call__(self, what: str, fn: Callable[[], T], done: Callable[[T], None] | None = None) -> None: ...


class Notify(Protocol):
    """Shows a toast: ``message`` and ``title`` as text, never markup (``App.notify``'s signature)."""

    def __call__(
        self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None
    ) -> None: ...


class Cockpit(Protocol):
    """What the screens use of the app (:class:`gastown_tui.app.CockpitApp` is one)."""

    town: Town
    host: SessionHost
    actions: CockpitActions
    snapshot: TownSnapshot | None
    engine_state: str

    def select_agent(self, key: str) -> None:
        """Show agent ``key`` on the main screen (its terminal, the tree's cursor on it)."""


def cockpit_of(app: object) -> Cockpit:
    """``app`` seen as the :class:`Cockpit` a screen runs in (the screens are only ever pushed on one)."""
    return app  # type: ignore[return-value]


class CockpitActions:
    """The cockpit's actions on ``town`` with session ``host``.

    run: the worker runner (:class:`Runner`). notify: the toast (:class:`Notify`). follow: called on
    the event loop with the agent key (``<rig>/<polecat>``) of the last polecat a sling started, so
    the cockpit shows it. actor: who acts (default: :func:`core.actor.current_actor` at each action).
    """

    def __init__(
        self,
        town: Town,
        host: SessionHost,
        run: Runner,
        notify: Notify,
        follow: Callable[[str], None] | None = None,
        actor: Callable[[], str] | None = None,
    ) -> None:
        self.town = town
        self.host = host
        self._runner = run
        self._notify = notify
        self._follow = follow
        self._actor_fn = actor

    # ---- running --------------------------------------------------------------------------------
    def run(self, what: str, fn: Callable[[], T], done: Callable[[T], None] | None = None) -> None:
        """Run ``fn`` with the runner, then the ledger sync request (:func:`core.beads.sync.after_change`:
        only when beads changed; a refusal changed nothing), then ``done(result)``; the sync's warning,
        if any, is a toast."""

        def job() -> tuple[T, str | None]:
            result = fn()
            return result, ledger_sync.after_change(self.town)

        def finish(outcome: tuple[T, str | None]) -> None:
            result, warning = outcome
            if warning:
                self._notify(warning, title="ledger", severity="warning")
            if done is not None:
                done(result)

        self._runner(what, job, finish)

    def attempt(
        self,
        what: str,
        fn: Callable[[], T],
        done: Callable[[T], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """:meth:`run`, except that a refusal (GtError) goes to ``refused(exc)`` on the event loop
        when it is given (a dialog shows it and stays open), instead of the runner's toast."""
        if refused is None:
            self.run(what, fn, done)
            return

        def job() -> tuple[bool, Any]:
            try:
                return True, fn()
            except GtError as exc:
                return False, exc

        def finish(outcome: tuple[bool, Any]) -> None:
            ok, value = outcome
            if not ok:
                refused(value)
            elif done is not None:
                done(value)

        self.run(what, job, finish)

    def actor(self) -> str:
        """Who acts: the ``actor`` given, else BD_ACTOR, the role or the user (:func:`core.actor.current_actor`)."""
        return self._actor_fn() if self._actor_fn is not None else current_actor()

    # ---- actions --------------------------------------------------------------------------------
    def sling(self, beads: list[str], choice: SlingChoice) -> None:
        """Sling ``beads`` to ``choice`` (:meth:`core.sling.Slinger.sling_beads`, the rule ``gt sling``
        follows: one bead goes to the chosen polecat; several each get one, sharing one convoy)."""

        def job() -> SlingBatch:
            slinger = Slinger(self.town, host=self.host)
            try:
                return slinger.sling_beads(
                    beads, choice.rig, agent=choice.agent, polecat=choice.polecat if len(beads) == 1 else None
                )
            finally:
                slinger.store.disconnect()

        def report(batch: SlingBatch) -> None:
            for r in batch.slung:
                self._notify(f"{r.bead} → {r.polecat} ({r.agent})", title="slung")
            for bead, exc in batch.failed:  # may quote the agent's screen: text, like every toast
                self._notify(f"{bead}: {exc}", title="sling refused", severity="error")
            if batch.slung and self._follow is not None:
                last = batch.slung[-1]
                self._follow(f"{last.rig}/{last.polecat.rsplit('/', 1)[-1]}")

        self.run("sling", job, report)

    def create_bead(
        self,
        bead: NewBead,
        done: Callable[[str], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """File ``bead`` (in its rig's prefix, or the town's) with :meth:`core.beads.store.BeadStore.
        create`, as ``gt bead create`` does (its type, labels and ``--deps`` checked there: an unknown
        dependency is NotFound, nothing filed). Toasts the new id, then ``done(id)``."""

        def job() -> str:
            with BeadStore(self.town) as store:
                prefix = load_rig(self.town, bead.rig).prefix if bead.rig else self.town.prefix
                issue = store.create(
                    bead.title,
                    actor=self.actor(),
                    description=bead.description,
                    prefix=prefix,
                    priority=bead.priority,
                    issue_type=bead.issue_type,
                    labels=verbs.comma_list(bead.labels),
                    deps=[d.strip() for d in bead.deps if d.strip()],
                )
            return issue.id

        def created(bead_id: str) -> None:
            self._notify(bead_id, title="bead created")
            if done is not None:
                done(bead_id)

        self.attempt("new bead", job, created, refused)

    def edit_bead(
        self,
        bead: str,
        edit: BeadEdit,
        done: Callable[[Issue], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """Change ``bead``'s title, priority, status and labels in one transaction:
        :func:`core.beads.verbs.update_bead`, as ``gt bead update`` (labels: those not in
        ``edit.labels`` are removed, the new ones added; a status ``closed`` is refused while blocked)."""

        def job() -> Issue:
            with BeadStore(self.town) as store:
                current = store.get(bead)
                fields: dict[str, Any] = {}
                for name in ("title", "priority", "status"):
                    value = getattr(edit, name)
                    if value is not None and value != getattr(current, name):
                        fields[name] = value
                changes = verbs.Changes(fields=fields)
                if edit.labels is not None:
                    wanted = verbs.comma_list(edit.labels)
                    changes.add_labels = [lb for lb in wanted if lb not in current.labels]
                    changes.remove_labels = [lb for lb in current.labels if lb not in wanted]
                return verbs.update_bead(store, bead, self.actor(), changes)

        self.attempt("edit bead", job, done, refused)

    def close_bead(
        self,
        bead: str,
        reason: str,
        done: Callable[[Issue], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """Close ``bead`` with ``reason``: :func:`core.beads.verbs.close_beads`, as ``gt bead close``
        (refused while it has open blockers, or an epic with open children)."""

        def job() -> Issue:
            with BeadStore(self.town) as store:
                return verbs.close_beads(store, [bead], self.actor(), reason=reason, atomic=True).done[0]

        self.attempt("close bead", job, done, refused)

    def reopen_bead(
        self,
        bead: str,
        done: Callable[[Issue], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """Reopen the closed ``bead``: :func:`core.beads.verbs.reopen_beads`, as ``gt bead reopen``."""

        def job() -> Issue:
            with BeadStore(self.town) as store:
                return verbs.reopen_beads(
                    store, [bead], self.actor(), reason="reopened in the cockpit", atomic=True
                ).done[0]

        self.attempt("reopen bead", job, done, refused)

    def comment_bead(
        self,
        bead: str,
        text: str,
        done: Callable[[Comment], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """Add comment ``text`` to ``bead``: :meth:`core.beads.store.BeadStore.add_comment`, as
        ``gt bead comment`` (empty text refused)."""

        def job() -> Comment:
            with BeadStore(self.town) as store:
                return store.add_comment(bead, text, self.actor())

        self.attempt("comment", job, done, refused)

    def send_mail(
        self,
        letter: Letter,
        sender: str,
        done: Callable[[list[mail.Message]], None] | None = None,
        refused: Callable[[GtError], None] | None = None,
    ) -> None:
        """Send ``letter`` from ``sender`` (a mail address, e.g. ``mayor/``): :func:`core.mail.send`,
        as ``gt mail send`` (a group is one message per member); a reply (``letter.reply_to``) goes
        through :func:`core.mail.reply`, as ``gt mail reply``, to the original's sender, in its thread."""

        def job() -> list[mail.Message]:
            with BeadStore(self.town) as store:
                if letter.reply_to is not None:
                    return [
                        mail.reply(self.town, letter.reply_to, letter.body, sender, store.db, letter.subject or None)
                    ]
                return mail.send(self.town, letter.to, letter.subject, letter.body, sender, store.db)

        def sent(messages: list[mail.Message]) -> None:
            self._notify(", ".join(m.to for m in messages) or f"{letter.to} has no members", title="mail sent")
            if done is not None:
                done(messages)

        self.attempt("mail", job, sent, refused)

    def read_bead(self, bead: str, done: Callable[[bead_view.BeadView], None]) -> None:
        """Read ``bead``'s detail (:func:`core.bead_view.read`) in a worker; ``done(view)`` on the
        event loop (a missing bead is a toast)."""

        def job() -> bead_view.BeadView:
            with BeadStore(self.town) as store:
                return bead_view.read(store, bead)

        self._runner("bead", job, done)

    def read_convoy(self, convoy_id: str, done: Callable[[convoys.Convoy], None]) -> None:
        """Read convoy ``convoy_id`` with its tracked beads and their newest merge requests
        (:func:`core.convoys.get`, as ``gt convoy show``) in a worker; ``done(convoy)`` on the loop."""

        def job() -> convoys.Convoy:
            with BeadStore(self.town) as store:
                return convoys.get(store, convoy_id, convoys.mr_lookup(store.db))

        self._runner("convoy", job, done)

    def create_convoy(self, name: str, beads: list[str]) -> None:
        """Make convoy ``name`` tracking ``beads`` (:func:`core.convoys.create`, as ``gt convoy create``)."""

        def job() -> str:
            with BeadStore(self.town) as store:
                return convoys.create(store, name, beads, actor=self.actor()).id

        self.run("new convoy", job, lambda cid: self._notify(f"{cid}: {name}", title="convoy created"))

    def pour(self, run: FormulaRun) -> None:
        """Cook formula ``run.formula`` with its vars and pour the molecule (root, steps, convoy):
        :func:`core.pour.pour`, as ``gt formula pour``."""

        def job() -> str:
            rig = load_rig(self.town, run.rig) if run.rig else None
            planned, poured = pour.pour(self.town, run.formula, run.vars, rig, actor=self.actor())
            return f"{poured.root} ({len(planned.children)} steps)"

        self.run("run formula", job, lambda what: self._notify(what, title=f"poured {run.formula}"))

    def nudge(self, session: str, text: str) -> None:
        """Type ``text`` into ``session`` and submit it (verified, :func:`core.nudge.nudge`: never into
        a shell, only onto an empty input line); the toast says what was done."""
        self.run(
            "nudge",
            lambda: nudge.nudge(self.town, session, text, sender=self.actor(), host=self.host),
            lambda r: self._notify(r.summary(), title="nudge"),
        )

    def nuke(self, rig: str, name: str) -> None:
        """Nuke polecat ``rig``/``name`` (uncommitted work saved as a checkpoint first)."""

        def job() -> None:
            slinger = Slinger(self.town, host=self.host)
            try:
                slinger.nuke(rig, name, force=True)
            finally:
                slinger.store.disconnect()

        self.run("nuke", job, lambda _r: self._notify(f"{rig}/polecats/{name}", title="nuked"))

    def resume(self, bead: str) -> None:
        """Restart the dead session of the polecat hooked to ``bead`` (same worktree and hook)."""

        def job() -> Any:
            slinger = Slinger(self.town, host=self.host)
            try:
                return slinger.resume(bead)
            finally:
                slinger.store.disconnect()

        self.run("restart", job, lambda r: self._notify(f"{r.polecat} on {r.bead}", title="restarted"))

    def retry_mr(self, mr_id: str, done: Callable[[], None] | None = None) -> None:
        """Put merge request ``mr_id`` back in the queue (:func:`core.mq.retry`, as ``gt mq retry``);
        then ``done()`` on the event loop."""

        def job() -> None:
            db = connect(self.town.db_path)
            try:
                mq.retry(db, mr_id, actor=self.actor())
            finally:
                db.conn.close()

        def report(_r: None) -> None:
            self._notify(mr_id, title="queued again")
            if done is not None:
                done()

        self.run("retry", job, report)

    def reject_mr(self, mr_id: str, reason: str, done: Callable[[mq.MR], None] | None = None) -> None:
        """Take merge request ``mr_id`` out of the queue for good with ``reason`` (:func:`core.mq.reject`,
        as ``gt mq reject``); then ``done(mr)`` on the event loop."""

        def job() -> mq.MR:
            db = connect(self.town.db_path)
            try:
                return mq.reject(db, mr_id, reason, actor=self.actor())
            finally:
                db.conn.close()

        def report(m: mq.MR) -> None:
            self._notify(f"{m.id}: {m.reason}", title="rejected")
            if done is not None:
                done(m)

        self.run("reject", job, report)

    def acknowledge(self, escalation_bead: str) -> None:
        """Acknowledge an escalation: close its bead."""

        def job() -> None:
            with BeadStore(self.town) as store:
                store.close(escalation_bead, self.actor(), reason="acknowledged in the cockpit")

        self.run("acknowledge", job, lambda _r: self._notify(escalation_bead, title="acknowledged"))

    def board_rows(self, done: Callable[[Any], None]) -> None:
        """Fetch every board and read its open items (:func:`core.board_work.rows`, git over the
        network: in a worker); ``done(rows)`` on the event loop. A board fault is a toast."""

        def job() -> Any:
            from core import board_work

            db = connect(self.town.db_path)
            try:
                return board_work.rows(self.town, db, fetch=True)
            finally:
                db.conn.close()

        self._runner("boards", job, done)

    def board_post(self, bead: str) -> None:
        """Post ``bead`` to the town's board as a wanted item (:func:`core.board.post`, as ``gt board post``)."""

        def job() -> Any:
            from core import board

            with BeadStore(self.town) as store:
                return board.post(self.town, store, bead, actor=self.actor())

        self.run("post", job, lambda item: self._notify(f"{bead} as {item.id}", title="posted"))

    def board_claim(self, key: str) -> None:
        """Claim board item ``key`` (``board/item``) for the rig of its repository
        (:func:`core.board_work.rig_for`, then :func:`core.board_work.claim`, as ``gt board claim``)."""
        name, _, item_id = key.partition("/")

        def job() -> Any:
            from core import board, board_work

            with BeadStore(self.town) as store:
                item = board.Mirror(self.town, board.pick(store.db, name)).item(item_id)
                rig = board_work.rig_for(self.town, item)
                return board_work.claim(self.town, store, item_id, rig, name, actor=self.actor())

        self.run("claim", job, lambda r: self._notify(f"{item_id} as bead {r[2]}", title="claimed"))

    def board_release(self, key: str) -> None:
        """Give the claim on board item ``key`` (``board/item``) back (as ``gt board release``)."""
        name, _, item_id = key.partition("/")

        def job() -> Any:
            from core import board_work

            with BeadStore(self.town) as store:
                return board_work.release(self.town, store, item_id, name, actor=self.actor())

        self.run("release", job, lambda _r: self._notify(item_id, title="released"))

    # ---- choices for the dialogs (on the event loop: small reads) -------------------------------
    def agent_choices(self) -> tuple[list[str], str | None]:
        """(installed preset names, the default preset's name or None)."""
        try:
            table = runtimes.presets(self.town)
            default = runtimes.resolve(self.town).name
        except GtError as exc:
            self._notify(str(exc), title="agent presets", severity="error")
            return ["sim"], "sim"
        names = sorted(name for name, p in table.items() if p.installed())
        return names, default

    def formula_choices(self) -> list[tuple[str, str]]:
        """(name, description) of every formula that can be poured, first of each name only."""
        rows = FormulaLibrary(self.town).entries()
        return [
            (r["name"], r.get("description") or "")
            for r in rows
            if not r["shadowed"] and not r.get("error") and r.get("type") not in ("expansion", "aspect")
        ]

    def formula_plan(self, run: FormulaRun) -> MoleculePlan:
        """The molecule pouring ``run`` would create (:func:`core.pour.plan`, the pour's own first step:
        nothing is written). Raises NotFound/GtError as it does (a missing variable, a bad rig)."""
        return pour.plan(self.town, run.formula, run.vars, load_rig(self.town, run.rig) if run.rig else None)

    def formula_vars(self, name: str) -> list[tuple[str, str, bool]]:
        """(var, default or "", required) of formula ``name``."""
        formula = FormulaLibrary(self.town).load(name)
        return [(v.name, v.default or "", v.required and v.default is None) for v in formula.vars.values()]
