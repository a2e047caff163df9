"""Convoys: tracked bundles of beads that land when every tracked bead is closed (DESIGN glossary).

A convoy is a town-level bead ``hq-cv-xxxx`` (``issue_type = "convoy"``, the town prefix plus the
``cv`` middle part, as Gas Town names them) with one ``tracks`` edge to each tracked bead (the edge
does not block anything). Its metadata holds ``notify`` (a mail address told when it lands) and,
for a poured molecule, ``molecule`` and ``formula``.

States: ``open`` while work is in flight; closed with reason ``landed`` when every tracked bead is
closed (:func:`land`, or :func:`check_landed` from the deacon); closed with another reason by
:func:`close`. Landing is a compare-and-swap inside one ``BEGIN IMMEDIATE`` transaction that re-reads
the tracked beads, so two deacons (or a deacon and a human) can never both land the same convoy, and
the notification is sent exactly once, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core import events, mq
from core.beads import BeadStore, Issue
from core.errors import Conflict, GtError, NotFound

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

    from core.db import Database

CONVOY_MIDDLE = "cv"
LANDED = "landed"
OPEN_STATES = ("open", "in_progress", "blocked", "deferred", "pinned", "hooked")


@dataclass
class TrackedBead:
    """One tracked bead as a convoy shows it. ``polecat``: the ``<rig>/polecats/<name>`` working it
    (from the assignee); ``mr``/``mr_status``: its newest merge request; None when there is none."""

    id: str
    title: str
    status: str
    issue_type: str
    assignee: str = ""
    polecat: str | None = None
    mr: str | None = None
    mr_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "issue_type": self.issue_type,
            "assignee": self.assignee,
            "polecat": self.polecat,
            "mr": self.mr,
            "mr_status": self.mr_status,
        }


@dataclass
class Convoy:
    """A convoy with its progress. ``state``: ``open``, ``landed`` or ``closed``; ``done``/``total``:
    closed and all tracked beads; timestamps RFC 3339."""

    id: str
    name: str
    status: str
    state: str
    created_at: str
    closed_at: str | None
    close_reason: str
    notify: str | None
    metadata: dict[str, Any]
    tracked: list[TrackedBead] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for t in self.tracked if t.status == "closed")

    @property
    def total(self) -> int:
        return len(self.tracked)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "notify": self.notify,
            "metadata": self.metadata,
            "tracked": [t.as_dict() for t in self.tracked],
        }


#: Finds the merge request of a bead: bead id -> (MR id, MR status) or None. See :func:`mr_lookup`.
MrLookup = Callable[[str], "tuple[str, str] | None"]


def mr_lookup(db: Database) -> MrLookup:
    """A lookup of each bead's newest merge request in the merge queue (``core.mq``), read once."""
    latest: dict[str, tuple[str, str]] = {}
    for m in mq.list_mrs(db):  # newest first
        if m.bead and m.bead not in latest:
            latest[m.bead] = (m.id, m.status)
    return latest.get


def _polecat_of(assignee: str) -> str | None:
    parts = assignee.split("/")
    return assignee if len(parts) == 3 and parts[1] == "polecats" else None


def _convoy_issue(store: BeadStore, convoy_id: str) -> Issue:
    try:
        issue = store.get(store.resolve(convoy_id))
    except NotFound:
        raise NotFound(f"no convoy {convoy_id!r}: list convoys with 'gt convoy list'") from None
    if issue.issue_type != "convoy":
        raise GtError(f"{issue.id} is a {issue.issue_type}, not a convoy: list convoys with 'gt convoy list'")
    return issue


def _resolve_beads(store: BeadStore, beads: Iterable[str], convoy_id: str | None = None) -> list[str]:
    out: list[str] = []
    for b in beads:
        bead = store.resolve(b)
        if bead == convoy_id:
            raise GtError(f"convoy {bead} cannot track itself: give other beads")
        if bead not in out:
            out.append(bead)
    return out


def _state(issue: Issue) -> str:
    if issue.status != "closed":
        return "open"
    return LANDED if issue.close_reason == LANDED else "closed"


def _id_order(bead: str) -> tuple[Any, ...]:
    """Sort key putting ``P.2`` before ``P.10``."""
    base, *kids = bead.split(".")
    return (base, *(int(k) if k.isdigit() else -1 for k in kids))


def _convoy(store: BeadStore, issue: Issue, mr_lookup: MrLookup | None = None) -> Convoy:
    ids = sorted(issue.depends_on("tracks"), key=_id_order)
    beads = {b.id: b for b in store.list(ids=ids)} if ids else {}
    tracked = []
    for bead in ids:
        b = beads.get(bead)
        if b is None:  # an edge to a bead this ledger does not hold (e.g. removed)
            tracked.append(TrackedBead(bead, "(missing)", "missing", ""))
            continue
        mr = mr_lookup(b.id) if mr_lookup else None
        tracked.append(
            TrackedBead(
                b.id,
                b.title,
                b.status,
                b.issue_type,
                b.assignee,
                _polecat_of(b.assignee),
                mr[0] if mr else None,
                mr[1] if mr else None,
            )
        )
    meta = dict(issue.metadata or {})
    return Convoy(
        id=issue.id,
        name=issue.title,
        status=issue.status,
        state=_state(issue),
        created_at=issue.created_at,
        closed_at=issue.closed_at,
        close_reason=issue.close_reason,
        notify=meta.get("notify"),
        metadata=meta,
        tracked=tracked,
    )


def create(
    store: BeadStore,
    name: str,
    beads: Iterable[str] = (),
    *,
    actor: str,
    notify: str | None = None,
    metadata: dict[str, Any] | None = None,
    rig: str | None = None,
) -> Convoy:
    """Create convoy ``name`` tracking ``beads`` (ids or unique partial ids), in one transaction.

    notify: address mailed when it lands (e.g. ``mayor/``). metadata: extra keys for the convoy bead.
    rig: the rig named on the ``convoy_created`` feed event. Returns the convoy.
    Raises GtError for an empty name, NotFound for an unknown bead.
    """
    if not name or not name.strip():
        raise GtError("a convoy needs a name: gt convoy create NAME [BEADS...]")
    if notify is not None:
        from core.mail import parse_address

        notify = parse_address(notify)
    prefix = store.town.prefix if store.town is not None else "hq"
    meta = {**(metadata or {}), **({"notify": notify} if notify else {})}
    with store.transaction():
        tracked = _resolve_beads(store, beads)
        convoy_id = store.make_id(prefix, title=name.strip(), actor=actor, middle=CONVOY_MIDDLE)
        store.create(
            name.strip(),
            actor=actor,
            id=convoy_id,
            issue_type="convoy",
            metadata=meta or None,
            deps=[(bead, "tracks") for bead in tracked],
        )
        events.append(
            store.db,
            "convoy_created",
            actor,
            rig=rig,
            bead=convoy_id,
            payload={"name": name.strip(), "tracks": tracked, "notify": notify},
        )
        return _convoy(store, store.get(convoy_id))


def add(store: BeadStore, convoy_id: str, beads: Iterable[str], *, actor: str) -> Convoy:
    """Track more ``beads`` with the convoy. A closed convoy is reopened (it has work in flight again).

    Returns the convoy. Raises NotFound for an unknown convoy or bead, GtError if ``convoy_id`` is not
    a convoy or no bead is given.
    """
    with store.transaction():
        issue = _convoy_issue(store, convoy_id)
        tracked = _resolve_beads(store, beads, issue.id)
        if not tracked:
            raise GtError(f"nothing to add to {issue.id}: give bead ids")
        if issue.status == "closed":
            store.reopen(issue.id, actor, reason="beads added")
        added = [b for b in tracked if store.add_dependency(issue.id, b, "tracks", actor=actor)]
        events.append(store.db, "convoy_added", actor, bead=issue.id, payload={"added": added})
        return _convoy(store, store.get(issue.id))


def get(store: BeadStore, convoy_id: str, mr_lookup: MrLookup | None = None) -> Convoy:
    """The convoy ``convoy_id`` (id or unique partial id) with its tracked beads' states.

    mr_lookup: fills the ``mr`` columns (:func:`mr_lookup`). Raises NotFound, GtError.
    """
    return _convoy(store, _convoy_issue(store, convoy_id), mr_lookup)


def list_convoys(store: BeadStore, state: str | None = "open", mr_lookup: MrLookup | None = None) -> list[Convoy]:
    """Convoys, oldest first: ``state`` ``open`` (default), ``landed``, ``closed`` or None for all.

    Raises GtError for an unknown state.
    """
    if state not in (None, "open", LANDED, "closed"):
        raise GtError(f"unknown convoy state {state!r}: use open, landed, closed or all")
    status = None if state is None else ("closed" if state in (LANDED, "closed") else list(OPEN_STATES))
    issues = store.list(issue_type="convoy", status=status, sort="oldest")
    out = [_convoy(store, i, mr_lookup) for i in issues]
    return [c for c in out if state in (None, "open") or c.state == state]


def convoys_tracking(store: BeadStore, bead: str) -> list[str]:
    """Ids of the open convoys that track ``bead`` (the deacon rechecks these when it closes)."""
    return [i.id for i in store.dependents(bead, type="tracks") if i.issue_type == "convoy" and i.status != "closed"]


def close(store: BeadStore, convoy_id: str, *, actor: str, reason: str = "closed") -> Convoy:
    """Close the convoy whatever its tracked beads' states (they are left as they are).

    reason: recorded as the close reason (``landed`` is reserved for :func:`land`). Closing a closed
    convoy changes nothing. Raises NotFound, GtError.
    """
    if reason == LANDED:
        raise GtError("the reason 'landed' is reserved: use 'gt convoy land' to land a convoy")
    with store.transaction():
        issue = _convoy_issue(store, convoy_id)
        if issue.status != "closed":
            store.close(issue.id, actor, reason=reason or "closed", force=True)
            events.append(store.db, "convoy_closed", actor, bead=issue.id, payload={"reason": reason})
        return _convoy(store, store.get(issue.id))


def land(store: BeadStore, convoy_id: str, *, actor: str) -> Convoy:
    """Land the convoy now: every tracked bead must be closed. Notifies like :func:`check_landed`.

    Raises Conflict naming the open beads (or when it is empty or already closed otherwise than
    landed), NotFound, GtError.
    """
    with store.transaction():
        issue = _convoy_issue(store, convoy_id)
        if _state(issue) == LANDED:
            return _convoy(store, issue)
        if issue.status == "closed":
            raise Conflict(f"convoy {issue.id} was closed ({issue.close_reason}): add beads to reopen it first")
        convoy = _convoy(store, issue)
        pending = [t.id for t in convoy.tracked if t.status != "closed"]
        if not convoy.tracked:
            raise Conflict(f"convoy {issue.id} tracks no beads: add some with 'gt convoy add {issue.id} BEAD'")
        if pending:
            raise Conflict(
                f"convoy {issue.id} has open beads ({', '.join(pending[:10])}): "
                "close them first, or 'gt convoy close' to give up on it"
            )
        _land(store, issue, actor)
        return _convoy(store, store.get(issue.id))


def check_landed(store: BeadStore, convoy_id: str, *, actor: str = "deacon") -> bool:
    """Close the convoy as ``landed`` if it is open, tracks at least one bead and every tracked bead
    is closed; otherwise change nothing. Re-checked inside the transaction, so of two concurrent
    callers exactly one lands it. Returns True if this call landed it.

    The ``convoy_landed`` event and the notification mail (to ``notify``) are written in the same
    transaction. Raises NotFound, GtError.
    """
    with store.transaction():
        issue = _convoy_issue(store, convoy_id)
        if issue.status == "closed":
            return False
        convoy = _convoy(store, issue)
        if not convoy.tracked or any(t.status != "closed" for t in convoy.tracked):
            return False
        return _land(store, issue, actor)


def check_all(store: BeadStore, *, actor: str = "deacon") -> list[str]:
    """Run :func:`check_landed` on every open convoy; returns the ids landed by this call."""
    return [c.id for c in list_convoys(store, "open") if check_landed(store, c.id, actor=actor)]


def _land(store: BeadStore, issue: Issue, actor: str) -> bool:
    """Compare-and-swap the convoy to closed/landed, then record and notify (caller's transaction)."""
    if not store.cas_status(issue.id, OPEN_STATES, "closed", actor, note=LANDED):
        return False
    store.update(issue.id, actor, close_reason=LANDED)
    tracked = issue.depends_on("tracks")
    notify = (issue.metadata or {}).get("notify")
    events.append(
        store.db,
        "convoy_landed",
        actor,
        bead=issue.id,
        payload={"name": issue.title, "tracked": tracked, "notify": notify},
    )
    if notify and store.town is not None:
        from core import mail

        mail.send(
            store.town,
            notify,
            f"Convoy landed: {issue.title}",
            f"Convoy {issue.id} ({issue.title}) landed: all {len(tracked)} tracked beads are closed.\n\n"
            + "\n".join(tracked),
            sender=actor,
            db=store.db,
        )
    return True
