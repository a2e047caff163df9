"""Molecules: a cooked formula poured into beads (DESIGN glossary: molecule).

A molecule is a root bead (issue_type ``molecule``, metadata ``{"formula", "vars", "source"}``) plus
one child bead per step, ids ``ROOT.1``, ``ROOT.2``, ... in the cooked (dependency) order, as beads
numbers children. Each child records its step in metadata (``{"formula": "shiny", "step":
"implement"}``) and gets a ``blocks`` edge to every step it ``needs``; a convoy (``core.convoys``)
tracks the children so the molecule lands when they are all closed. Everything is written in one
town-database transaction: a pour that fails leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import convoys, events
from core.beads import BeadStore
from core.beads.model import ISSUE_TYPES
from core.formulas import CookedFormula
from core.town import Town

DEFAULT_PRIORITY = 2


@dataclass
class PlannedBead:
    """A bead a pour will create. ``key``: ``root`` or the step id; ``needs``: step ids it waits for."""

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
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
    ``convoy_name``. ``prefix``: bead prefix (the rig's, or the town's ``hq``); ``rig``: rig name or None."""

    formula: str
    prefix: str
    rig: str | None
    root: PlannedBead
    children: list[PlannedBead]
    convoy_name: str
    unsupported: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "formula": self.formula,
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
    children = []
    for step in cooked.steps:
        labels = list(step.labels)
        issue_type = step.type or "task"
        if issue_type not in ISSUE_TYPES or issue_type in ("molecule", "convoy", "message", "merge-request", "agent"):
            if step.type and step.type not in labels:
                labels.append(step.type)
            issue_type = "task"
        metadata: dict[str, Any] = {"formula": step.formula or cooked.formula, "step": step.id}
        if step.agent:
            metadata["agent"] = step.agent
        description = step.description.strip()
        if step.notes:
            description = f"{description}\n\n{step.notes.strip()}".strip()
        children.append(
            PlannedBead(
                key=step.id,
                title=(step.title or step.id)[:500],
                issue_type=issue_type,
                description=description,
                acceptance=step.acceptance.strip(),
                priority=DEFAULT_PRIORITY if step.priority is None else step.priority,
                labels=labels,
                assignee=step.assignee,
                metadata=metadata,
                needs=list(step.needs),
            )
        )
    return MoleculePlan(
        formula=cooked.formula,
        prefix=prefix,
        rig=rig,
        root=root,
        children=children,
        convoy_name=title[:200],
        unsupported=[str(u) for u in cooked.unsupported],
        warnings=list(cooked.warnings),
    )


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
    its children ``ROOT.1..n`` (parent-child edges), a ``blocks`` edge per step need, a convoy tracking
    the children (metadata ``molecule``/``formula``), the convoy id in the root's metadata, and a
    ``molecule_poured`` feed event.

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
            )
            ids: dict[str, str] = {}
            for c in planned.children:
                child = store.create(
                    c.title,
                    actor=actor,
                    description=c.description,
                    parent=root.id,
                    issue_type=c.issue_type,
                    priority=c.priority,
                    labels=c.labels,
                    assignee=c.assignee,
                    acceptance_criteria=c.acceptance,
                    metadata={**c.metadata, "molecule": root.id},
                )
                ids[c.key] = child.id
            for c in planned.children:
                for need in c.needs:
                    store.add_dependency(ids[c.key], ids[need], "blocks", actor=actor)
            convoy = convoys.create(
                store,
                planned.convoy_name,
                list(ids.values()),
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
