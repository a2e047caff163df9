"""Molecules: a cooked formula poured into beads (DESIGN glossary: molecule).

A molecule is a root bead (issue_type ``molecule``, metadata ``{"formula", "vars", "source"}``) plus
one child bead per step, ids ``ROOT.1``, ``ROOT.2``, ... in the cooked (dependency) order, as beads
numbers children. Each child records its step in metadata (``{"formula": "shiny", "step":
"implement"}``) and gets a ``blocks`` edge to every step it ``needs``; a convoy (``core.convoys``)
tracks the children so the molecule lands when they are all closed. Everything is written in one
town-database transaction: a pour that fails leaves nothing behind.

As beads' ``bd cook`` does: a step's nested ``children`` become child beads of its bead (which is
then an ``epic`` grouping them; a step that needs it waits for all its descendants instead, so no
one has to close the epic first); a step with a ``gate`` gets a gate bead (issue_type ``gate``,
sibling of the step, key ``gate-STEP``) that blocks it until resolved (:mod:`core.async_gates`); a
``waits_for`` step gets a ``waits-for`` edge to its spawner (``children-of(STEP)`` or its first need)
and a ``gate:VALUE`` label. ``phase = "vapor"`` pours every bead ephemeral (a wisp: never ready work,
never exported); ``pour = false`` pours the root alone (Gas Town's root-only molecule: ``gt prime``
shows the steps from the formula) and its convoy tracks the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import convoys, events
from core.beads import BeadStore
from core.beads.model import ISSUE_TYPES, format_ts, now_ns
from core.formulas import CookedFormula
from core.town import Town

DEFAULT_PRIORITY = 2


@dataclass
class PlannedBead:
    """A bead a pour will create. ``key``: ``root``, the step id or ``gate-STEP``; ``needs``: keys it
    waits for (``blocks`` edges); ``parent``: key of the bead it is a child of; ``waits_for``: keys of
    spawners whose children it waits for; ``due_in_s``: a timer gate's seconds from the pour to due."""

    key: str
    title: str
    issue_type: str
    description: str = ""
    acceptance: str = ""
    priority: int = DEFAULT_PRIORITY
    labels: list[str] = field(default_factory=list)
    assignee: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    parent: str = "root"
    waits_for: list[str] = field(default_factory=list)
    due_in_s: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "parent": self.parent,
            "waits_for": self.waits_for,
            "title": self.title,
            "issue_type": self.issue_type,
            "description": self.description,
            "acceptance_criteria": self.acceptance,
            "priority": self.priority,
            "labels": self.labels,
            "assignee": self.assignee,
            "metadata": self.metadata,
            "needs": self.needs,
        }


@dataclass
class MoleculePlan:
    """What pouring ``formula`` creates: ``root``, ``children`` (cooked order) and a convoy named
    ``convoy_name``. ``prefix``: bead prefix (the rig's, or the town's ``hq``); ``rig``: rig name or None;
    ``ephemeral``: every bead is a wisp (``phase = "vapor"``)."""

    formula: str
    prefix: str
    rig: str | None
    root: PlannedBead
    children: list[PlannedBead]
    convoy_name: str
    unsupported: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ephemeral: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "formula": self.formula,
            "ephemeral": self.ephemeral,
            "prefix": self.prefix,
            "rig": self.rig,
            "root": self.root.as_dict(),
            "children": [c.as_dict() for c in self.children],
            "convoy": self.convoy_name,
            "unsupported": self.unsupported,
            "warnings": self.warnings,
        }


def plan(cooked: CookedFormula, prefix: str, rig: str | None = None) -> MoleculePlan:
    """The beads that pouring ``cooked`` creates (pure; nothing is written).

    A step ``type`` that is a beads issue type (task, bug, feature, chore, epic, ...) becomes the
    child's issue_type; any other (e.g. ``human``) gives a ``task`` labelled with it. A step
    ``agent`` is kept in the child's metadata (``agent``) for the scheduler.
    """
    shown = ", ".join(f"{k}={v}" for k, v in sorted(cooked.vars.items()) if v)
    title = f"{cooked.formula}: {shown}" if shown else cooked.formula
    root = PlannedBead(
        key="root",
        title=title[:500],
        issue_type="molecule",
        description=cooked.description.strip(),
        metadata={
            "formula": cooked.formula,
            "vars": dict(cooked.vars),
            "source": cooked.source,
            "steps": [s.id for s in cooked.steps],
        },
    )
    if not cooked.pour:
        root.metadata["pour"] = False
    children = [] if not cooked.pour else _plan_steps(cooked)
    return MoleculePlan(
        formula=cooked.formula,
        prefix=prefix,
        rig=rig,
        root=root,
        children=children,
        convoy_name=title[:200],
        unsupported=[str(u) for u in cooked.unsupported],
        warnings=list(cooked.warnings),
        ephemeral=cooked.phase == "vapor",
    )


def _plan_steps(cooked: CookedFormula) -> list[PlannedBead]:
    """The child beads of ``cooked``'s steps, gate beads included (see the module note), in order."""
    ids = {s.id for s in cooked.steps}
    position = {s.id: i for i, s in enumerate(cooked.steps)}
    kids: dict[str, list[str]] = {s.id: [] for s in cooked.steps}
    for s in cooked.steps:
        if s.parent in ids:
            kids[s.parent].append(s.id)
    # every descendant of each container step (children lists are flat: walk with a stack)
    descendants: dict[str, list[str]] = {}
    for sid, direct in kids.items():
        if direct:
            found, stack = [], list(direct)
            while stack:
                k = stack.pop()
                found.append(k)
                stack += kids[k]
            descendants[sid] = sorted(found, key=position.__getitem__)
    out = []
    for step in cooked.steps:
        labels = list(step.labels)
        issue_type = step.type or "task"
        if issue_type not in ISSUE_TYPES or issue_type in ("molecule", "convoy", "message", "merge-request", "agent"):
            if step.type and step.type not in labels:
                labels.append(step.type)
            issue_type = "task"
        if step.id in descendants:
            issue_type = "epic"
        metadata: dict[str, Any] = {**step.meta, "formula": step.formula or cooked.formula, "step": step.id}
        if step.agent:
            metadata["agent"] = step.agent
        for flag in step.flags:
            metadata[flag] = True
        description = step.description.strip()
        if step.notes:
            description = f"{description}\n\n{step.notes.strip()}".strip()
        needs: list[str] = []
        for n in step.needs:
            needs += [n] if n not in descendants else [d for d in descendants[n] if d not in descendants]
        parent = step.parent if step.parent in ids else "root"
        waits_for = []
        if step.waits_for:
            spawner = step.waits_for[len("children-of(") : -1] if step.waits_for.startswith("children-of(") else ""
            spawner = spawner or (step.needs[0] if step.needs else "")
            if spawner in ids:
                waits_for.append(spawner)
            labels.append(f"gate:{step.waits_for}")
        if step.gate is not None:
            gate = step.gate
            shown = gate.await_id or (f"{gate.timeout_s} s" if gate.timeout_s else "")
            out.append(
                PlannedBead(
                    key=f"gate-{step.id}",
                    title=f"Gate: {gate.type} {shown}".strip()[:500],
                    issue_type="gate",
                    description=f"Async gate for step {step.id}",
                    metadata={
                        "formula": step.formula or cooked.formula,
                        "gate": {"type": gate.type, "await_id": gate.await_id, "timeout_s": gate.timeout_s},
                        "gates_step": step.id,
                    },
                    parent=parent,
                    due_in_s=gate.timeout_s if gate.type == "timer" else None,
                )
            )
            needs.append(f"gate-{step.id}")
        out.append(
            PlannedBead(
                key=step.id,
                title=(step.title or step.id)[:500],
                issue_type=issue_type,
                description=description,
                acceptance=step.acceptance.strip(),
                priority=DEFAULT_PRIORITY if step.priority is None else step.priority,
                labels=list(dict.fromkeys(labels)),
                assignee=step.assignee,
                metadata=metadata,
                needs=list(dict.fromkeys(needs)),
                parent=parent,
                waits_for=waits_for,
            )
        )
    return out


@dataclass
class PouredMolecule:
    """The beads a pour created: ``root`` id, ``steps`` (step id -> bead id, cooked order), ``convoy`` id."""

    formula: str
    root: str
    steps: dict[str, str]
    convoy: str

    def as_dict(self) -> dict[str, Any]:
        return {"formula": self.formula, "root": self.root, "steps": self.steps, "convoy": self.convoy}


def pour(town: Town, planned: MoleculePlan, *, actor: str, store: BeadStore | None = None) -> PouredMolecule:
    """Create the molecule of ``planned`` in one transaction: the root bead (prefix ``planned.prefix``),
    its children ``ROOT.1..n`` (parent-child edges; nested children ``ROOT.n.m``), a ``blocks`` edge
    per need, a ``waits-for`` edge per spawner, timer gates' ``due_at`` (now + their timeout), a
    convoy tracking the step beads (not gates or epics; the root when none), the convoy id in the
    root's metadata, and a ``molecule_poured`` feed event. ``PouredMolecule.steps`` maps every
    planned key (steps and ``gate-STEP``) to its bead id.

    store: an open store to use (joins its transaction); default: a new one on the town database.
    Raises GtError for beads the store refuses (e.g. an invalid label from the formula); nothing is
    left behind then.
    """
    own = store is None
    store = store or BeadStore(town)
    try:
        with store.transaction():
            r = planned.root
            root = store.create(
                r.title,
                actor=actor,
                description=r.description,
                prefix=planned.prefix,
                issue_type=r.issue_type,
                priority=r.priority,
                metadata=r.metadata,
                ephemeral=planned.ephemeral,
            )
            ids: dict[str, str] = {"root": root.id}
            now = now_ns()
            for c in planned.children:
                due = None if c.due_in_s is None else format_ts(now + c.due_in_s * 1_000_000_000)
                child = store.create(
                    c.title,
                    actor=actor,
                    description=c.description,
                    parent=ids[c.parent],
                    issue_type=c.issue_type,
                    priority=c.priority,
                    labels=c.labels,
                    assignee=c.assignee,
                    acceptance_criteria=c.acceptance,
                    metadata={**c.metadata, "molecule": root.id},
                    ephemeral=planned.ephemeral,
                    due_at=due,
                )
                ids[c.key] = child.id
            for c in planned.children:
                for need in c.needs:
                    store.add_dependency(ids[c.key], ids[need], "blocks", actor=actor)
                for spawner in c.waits_for:
                    store.add_dependency(ids[c.key], ids[spawner], "waits-for", actor=actor)
            del ids["root"]
            steps = {c.key: ids[c.key] for c in planned.children if c.issue_type not in ("gate", "epic")}
            convoy = convoys.create(
                store,
                planned.convoy_name,
                list(steps.values()) or [root.id],
                actor=actor,
                rig=planned.rig,
                metadata={"molecule": root.id, "formula": planned.formula},
            )
            store.update(root.id, actor, metadata={**r.metadata, "convoy": convoy.id})
            events.append(
                store.db,
                "molecule_poured",
                actor,
                rig=planned.rig,
                bead=root.id,
                payload={"formula": planned.formula, "steps": ids, "convoy": convoy.id},
            )
    finally:
        if own:
            store.disconnect()
    return PouredMolecule(formula=planned.formula, root=root.id, steps=ids, convoy=convoy.id)
