"""Escalations: problems raised to the Mayor by severity, re-raised while nobody acknowledges them
(DESIGN section 8; Gas Town's ``gt escalate``).

An escalation is a town-level bead (``hq-...``, ``issue_type = "decision"``, labels ``escalation`` and
``severity:<level>``, priority from the severity) plus a mail to ``mayor/``, written in one
transaction with an ``escalation`` event. As in Gas Town, :func:`ack` acknowledges it (label
``acked``, who and when in its metadata: someone is on it, it is raised no more and leaves the
problem lists) and :func:`close` resolves it (the bead closed with the resolution as its reason;
closing the bead with ``gt bead close ID`` or the cockpit does the same). The deacon calls
:func:`restale`: an unacknowledged escalation whose last raise is older than ``[deacon] stale_after``
is raised again one severity higher (critical stays critical), with a new mail and event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core import events, mail
from core.beads.store import BeadStore
from core.errors import GtError

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
PRIORITY = {"critical": 0, "high": 1, "medium": 2, "low": 3}
LABEL = "escalation"
ACKED = "acked"
MAYOR = "mayor/"
OPEN_STATUSES = ["open", "in_progress", "hooked", "blocked"]


@dataclass
class Escalation:
    """One escalation: its bead id, severity, text, the bead it is about (or None), how many times it
    was raised, when it was last raised (Unix seconds), whether it is open, and who acknowledged it
    ("" while nobody has) and when (Unix seconds, 0.0 while unacknowledged)."""

    id: str
    severity: str
    text: str
    about: str | None
    raised: int
    raised_at: float
    open: bool
    acked_by: str = ""
    acked_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_severity(severity: str) -> str:
    """``severity`` lower-cased if it is one of :data:`SEVERITIES`; raises GtError otherwise."""
    s = (severity or "").strip().lower()
    if s not in SEVERITIES:
        raise GtError(f"unknown severity {severity!r}: use one of {', '.join(reversed(SEVERITIES))}")
    return s


def bump(severity: str) -> str:
    """The next severity up (``critical`` stays ``critical``)."""
    i = SEVERITIES.index(check_severity(severity))
    return SEVERITIES[min(i + 1, len(SEVERITIES) - 1)]


def _of(issue: Any) -> Escalation:
    meta = issue.metadata or {}
    return Escalation(
        issue.id,
        str(meta.get("severity", "medium")),
        issue.description or issue.title,
        meta.get("about"),
        int(meta.get("raised", 1)),
        float(meta.get("raised_at", 0.0)),
        issue.status != "closed",
        str(meta.get("acked_by") or "") if ACKED in issue.labels else "",
        float(meta.get("acked_at") or 0.0) if ACKED in issue.labels else 0.0,
    )


def escalate(
    store: BeadStore,
    text: str,
    severity: str = "medium",
    *,
    actor: str,
    about: str | None = None,
    rig: str | None = None,
) -> Escalation:
    """Raise an escalation: the bead, the mail to the Mayor and the event, in one transaction.

    text: what is wrong and what is needed (one line is best). about: the bead concerned, if any.
    Raises GtError for an empty text or unknown severity.
    """
    sev = check_severity(severity)
    if not text or not text.strip():
        raise GtError('an escalation needs a text: gt escalate -s high "what is wrong"')
    if store.town is None:
        raise GtError("escalations need a town: open the store with a Town")
    text = text.strip()
    title = f"[{sev.upper()}] {text.splitlines()[0]}"[:200]
    now = time.time()
    prefix = store.town.prefix
    with store.transaction():
        bead_id = store.make_id(prefix, title=title, description=text, actor=actor)
        store.create(
            title,
            actor=actor,
            id=bead_id,
            description=text,
            issue_type="decision",
            priority=PRIORITY[sev],
            labels=[LABEL, f"severity:{sev}"],
            metadata={"severity": sev, "about": about, "raised": 1, "raised_at": now, "rig": rig},
        )
        _notify(store, bead_id, sev, text, about, actor, rig, raised=1)
        return _of(store.get(bead_id))


def _notify(
    store: BeadStore, bead_id: str, sev: str, text: str, about: str | None, actor: str, rig: str | None, raised: int
) -> None:
    """The Mayor's mail and the feed event of one raise (caller's transaction)."""
    again = f" (raised {raised} times, unacknowledged)" if raised > 1 else ""
    body = (
        f"{text}\n\nEscalation {bead_id}, severity {sev}{again}."
        + (f" About {about}." if about else "")
        + f"\nAcknowledge it with: gt escalate ack {bead_id}; resolve it with: gt escalate close {bead_id}"
    )
    assert store.town is not None
    mail.send(
        store.town,
        MAYOR,
        f"ESCALATION [{sev.upper()}] {text.splitlines()[0]}"[:200],
        body,
        sender=actor,
        db=store.db,
        priority=PRIORITY[sev],
    )
    events.append(
        store.db,
        "escalation",
        actor,
        rig=rig,
        bead=about or bead_id,
        payload={"escalation": bead_id, "severity": sev, "reason": text, "raised": raised},
    )


def list_open(store: BeadStore) -> list[Escalation]:
    """Unacknowledged escalations (open beads labelled ``escalation``, not ``acked``), oldest first."""
    return [e for e in list_escalations(store) if not e.acked_by]


def list_escalations(store: BeadStore, include_closed: bool = False) -> list[Escalation]:
    """Open escalations, acknowledged or not (with ``include_closed``: closed ones too), oldest
    raise first (``gt escalate list [--all]``)."""
    statuses = None if include_closed else OPEN_STATUSES
    issues = store.list(status=statuses, labels=[LABEL])
    return sorted((_of(i) for i in issues), key=lambda e: (e.raised_at, e.id))


def get(store: BeadStore, ref: str) -> Escalation:
    """The escalation ``ref`` (an id or unique partial id). Raises NotFound for an unknown bead,
    GtError for a bead that is not an escalation."""
    issue = store.get(store.resolve(ref))
    if LABEL not in issue.labels:
        raise GtError(f"{issue.id} is not an escalation: list them with 'gt escalate list'")
    return _of(issue)


def ack(store: BeadStore, ref: str, *, actor: str, now: float | None = None) -> Escalation:
    """Acknowledge escalation ``ref``: label ``acked``, ``acked_by``/``acked_at`` (Unix seconds) in
    its metadata and an ``escalation_acked`` event, in one transaction; it stays open until
    :func:`close`, and is raised no more. Acknowledging it again changes nothing. Raises NotFound,
    GtError (not an escalation, or already closed)."""
    with store.transaction():
        esc = get(store, ref)
        if not esc.open:
            raise GtError(f"escalation {esc.id} is already closed: nothing to acknowledge")
        if esc.acked_by:
            return esc
        issue = store.get(esc.id)
        stamp = time.time() if now is None else now
        store.update(esc.id, actor, metadata={**(issue.metadata or {}), "acked_by": actor, "acked_at": stamp})
        store.add_label(esc.id, ACKED, actor)
        events.append(store.db, "escalation_acked", actor, bead=esc.about or esc.id, payload={"escalation": esc.id})
        return get(store, esc.id)


def close(store: BeadStore, ref: str, *, actor: str, reason: str = "") -> Escalation:
    """Resolve escalation ``ref``: its bead closed with ``reason`` (default ``resolved``). Closing a
    closed one changes nothing. Raises NotFound, GtError (not an escalation)."""
    with store.transaction():
        esc = get(store, ref)
        if esc.open:
            store.close(esc.id, actor, reason=reason.strip() or "resolved", force=True)
        return get(store, esc.id)


def restale(store: BeadStore, stale_after: float, *, actor: str = "deacon", now: float | None = None) -> list[str]:
    """Raise again, one severity higher, every open escalation last raised ``stale_after`` seconds
    ago or more. Each re-raise is a compare-and-swap on the bead's metadata, so two deacons never
    both re-raise. Returns the ids re-raised."""
    now = time.time() if now is None else now
    out = []
    for esc in list_open(store):
        if now - esc.raised_at < stale_after:
            continue
        with store.transaction():
            issue = store.get(esc.id)
            meta = dict(issue.metadata or {})
            if issue.status == "closed" or float(meta.get("raised_at", 0.0)) != esc.raised_at:
                continue
            sev = bump(esc.severity)
            meta.update(severity=sev, raised=esc.raised + 1, raised_at=now)
            store.update(esc.id, actor, metadata=meta, priority=PRIORITY[sev])
            if sev != esc.severity:
                store.remove_label(esc.id, f"severity:{esc.severity}", actor)
                store.add_label(esc.id, f"severity:{sev}", actor)
            _notify(store, esc.id, sev, esc.text, esc.about, actor, meta.get("rig"), raised=esc.raised + 1)
        out.append(esc.id)
    return out
