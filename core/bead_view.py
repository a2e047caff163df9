"""One bead as its detail view shows it: the bead, its dependencies both ways, what holds it back,
its merge requests and its history (issue 21, part 3: the bead detail screen).

A read only, no rule: every edit goes through the ledger's own functions (:mod:`core.beads.verbs`,
:class:`core.beads.store.BeadStore`), the ones ``gt bead`` and ``bd`` call. Relations are named from
the bead's side (beads' edge types, DESIGN glossary): an outgoing ``blocks`` edge means "blocked
by" the target, an incoming one "blocks" the source; ``parent-child`` reads "child of" / "parent of";
a convoy's ``tracks`` edge to the bead reads "tracked by".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import events, mq
from core.beads.model import STATUSES, Issue
from core.beads.store import BeadStore

#: Relation of an edge, from the bead's side: edge type -> (outgoing, incoming).
RELATIONS = {
    "blocks": ("blocked by", "blocks"),
    "conditional-blocks": ("blocked by (conditional)", "blocks (conditional)"),
    "waits-for": ("waits for", "waited for by"),
    "parent-child": ("child of", "parent of"),
    "tracks": ("tracks", "tracked by"),
    "replies-to": ("replies to", "replied to by"),
}


@dataclass(frozen=True)
class Link:
    """One dependency edge as the bead sees it. relation: see :data:`RELATIONS` (an unknown edge type
    reads ``"<type> ->"`` or ``"<- <type>"``); bead: the other end's id; title/status: the other
    end's ("" and "missing" when that bead is not in the ledger)."""

    relation: str
    bead: str
    title: str
    status: str


@dataclass
class BeadView:
    """A bead with what its detail view shows. depends_on: its outgoing edges; dependents: edges of
    other beads to it; blockers: ids holding it back now (:meth:`BeadStore.blockers`); mrs: its merge
    requests, newest first; history: its events, oldest first; statuses: the statuses it can be given
    (beads' own, then the ledger's declared ``status.custom`` ones)."""

    issue: Issue
    depends_on: list[Link] = field(default_factory=list)
    dependents: list[Link] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    mrs: list[mq.MR] = field(default_factory=list)
    history: list[events.Event] = field(default_factory=list)
    statuses: tuple[str, ...] = STATUSES


def relation(dep_type: str, outgoing: bool) -> str:
    """The words for an edge of ``dep_type`` seen from its source (``outgoing``) or its target."""
    names = RELATIONS.get(dep_type)
    if names is None:
        return f"{dep_type} ->" if outgoing else f"<- {dep_type}"
    return names[0] if outgoing else names[1]


def read(store: BeadStore, bead: str) -> BeadView:
    """The view of ``bead`` (an id or a unique partial id). Raises NotFound, GtError (from
    :meth:`BeadStore.resolve`)."""
    issue = store.get(store.resolve(bead))
    out: list[Link] = []
    for dep in issue.dependencies:
        if store.exists(dep.depends_on_id):
            target = store.get(dep.depends_on_id)
            out.append(Link(relation(dep.type, True), target.id, target.title, target.status))
        else:
            out.append(Link(relation(dep.type, True), dep.depends_on_id, "", "missing"))
    inbound = [
        Link(relation(edge.type, False), other.id, other.title, other.status)
        for other in store.dependents(issue.id)
        for edge in other.dependencies
        if edge.depends_on_id == issue.id
    ]
    return BeadView(
        issue=issue,
        depends_on=out,
        dependents=inbound,
        blockers=store.blockers(issue.id),
        mrs=mq.of_bead(store.db, issue.id),
        history=store.events(issue.id),
        statuses=STATUSES + tuple(c for c in store.custom_statuses() if c not in STATUSES),
    )
