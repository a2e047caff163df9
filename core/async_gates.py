"""Async gates: the gate beads a formula step waits on (beads/Gas Town ``[steps.gate]``, ``bd gate``).

Pouring a step with a ``gate`` creates a bead of issue_type ``gate`` (:mod:`core.molecules`) whose
metadata is ``{"gate": {"type", "await_id", "timeout_s"}, "gates_step": STEP}``; a ``blocks`` edge
holds the step until the gate bead is closed. Resolving a gate is closing its bead:

- ``human`` (and kinds not checked here, such as ``gh:run``/``gh:pr``): by hand, :func:`resolve`
  (``gt gate resolve ID``);
- ``timer``: by itself once its ``due_at`` (the pour time plus ``timeout``) has passed, as
  ``bd gate check`` resolves timers ("current time > created_at + timeout");
- ``mail``: by itself once a mail whose subject is the gate's ``await_id`` (``id`` in the formula)
  has been sent after the gate was poured, to anyone. Gas Town names the kind but never checks it;
  this is the rule picked here.

:func:`check` applies the two automatic rules; the engine runs it on every database change and
every :data:`CHECK_INTERVAL_S` seconds (``gates`` loop), and ``gt gate list`` runs it first.
These are not the refinery's verification gates (``core.gates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import events
from core.beads import BeadStore
from core.beads.model import Issue, now_ns, parse_ts
from core.errors import GtError

#: Seconds between two automatic checks by the engine (a timer gate resolves at most this late).
CHECK_INTERVAL_S = 5.0
#: Kinds resolved here without a human.
AUTOMATIC = ("timer", "mail")


@dataclass(frozen=True)
class AsyncGate:
    """One gate bead: ``id``, ``type`` (timer, human, mail, gh:run...), ``await_id`` (the mail subject
    or the kind's own identifier), ``due_at`` (RFC 3339, timers only), ``step`` (the step it holds),
    ``blocks`` (ids of the beads waiting on it), ``status`` of the bead, ``checked``: whether this
    project resolves it by itself."""

    id: str
    title: str
    type: str
    await_id: str
    due_at: str | None
    step: str
    blocks: list[str]
    status: str

    @property
    def checked(self) -> bool:
        return self.type in AUTOMATIC

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "await_id": self.await_id,
            "due_at": self.due_at,
            "step": self.step,
            "blocks": self.blocks,
            "status": self.status,
            "resolved_by": "itself" if self.checked else "gt gate resolve",
        }


def _gate(store: BeadStore, issue: Issue) -> AsyncGate:
    meta = issue.metadata or {}
    raw = meta.get("gate")
    spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return AsyncGate(
        id=issue.id,
        title=issue.title,
        type=str(spec.get("type") or "human"),
        await_id=str(spec.get("await_id") or ""),
        due_at=issue.due_at,
        step=str(meta.get("gates_step") or ""),
        blocks=sorted(i.id for i in store.dependents(issue.id, "blocks")),
        status=issue.status,
    )


def list_gates(store: BeadStore, include_closed: bool = False) -> list[AsyncGate]:
    """Gate beads, by id: open ones (every status but closed), or all with ``include_closed``."""
    found = store.list(issue_type="gate")
    return [_gate(store, i) for i in found if include_closed or i.status != "closed"]


def resolve(store: BeadStore, gate_id: str, actor: str, reason: str = "") -> AsyncGate:
    """Resolve (close) gate ``gate_id`` (an id or unique partial id) by hand, whatever its kind, and
    append a ``gate_resolved`` event. Returns the gate. Raises NotFound for an unknown bead, GtError
    for a bead that is not a gate or a gate already resolved."""
    bead = store.resolve(gate_id)
    issue = store.get(bead)
    if issue.issue_type != "gate":
        raise GtError(f"{bead} is a {issue.issue_type}, not a gate: list gates with 'gt gate list'")
    if issue.status == "closed":
        raise GtError(f"gate {bead} is already resolved: nothing to do")
    with store.transaction():
        store.close(bead, actor, reason or "resolved by hand")
        events.append(store.db, "gate_resolved", actor, bead=bead, payload={"by": "hand", "reason": reason})
    return _gate(store, store.get(bead))


def check(store: BeadStore, actor: str = "gates", now: int | None = None) -> list[str]:
    """Resolve every open timer gate whose ``due_at`` has passed and every open mail gate whose mail
    has arrived (see the module note), each with a ``gate_resolved`` event. now: Unix nanoseconds
    (default: the clock). Returns the ids resolved, by id."""
    now = now_ns() if now is None else now
    resolved = []
    for issue in store.list(issue_type="gate", status=("open", "in_progress", "blocked")):
        gate = _gate(store, issue)
        why = ""
        if gate.type == "timer" and gate.due_at and parse_ts(gate.due_at) <= now:
            why = f"timer due at {gate.due_at}"
        elif gate.type == "mail" and gate.await_id and _mail_arrived(store, gate.await_id, issue.id):
            why = f"mail {gate.await_id!r} arrived"
        if why:
            with store.transaction():
                store.close(issue.id, actor, why)
                events.append(store.db, "gate_resolved", actor, bead=issue.id, payload={"by": gate.type, "reason": why})
            resolved.append(issue.id)
    return resolved


def _mail_arrived(store: BeadStore, subject: str, gate_id: str) -> bool:
    """Whether a message titled ``subject`` was created at or after gate ``gate_id``."""
    row = store.db.execute(
        "SELECT 1 FROM issues m WHERE m.issue_type = 'message' AND m.title = ? "
        "AND m.created_ns >= (SELECT g.created_ns FROM issues g WHERE g.id = ?) LIMIT 1",
        [subject, gate_id],
    ).fetchone()
    return row is not None
