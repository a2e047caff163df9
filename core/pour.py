"""Pouring a formula: cook it with its variables on a rig's search path, plan its molecule in the rig's
bead prefix, and pour it (DESIGN glossary: formula, molecule).

The one pipeline behind ``gt formula pour``, the cockpit's run-formula dialog (``f``) and ``gt formula
run`` (:func:`core.runs.plan_run`, which then queues the steps). It calls only the public functions
of :mod:`core.formulas` (:class:`core.formulas.FormulaLibrary`) and :mod:`core.molecules`.
"""

from __future__ import annotations

from core import molecules
from core.formulas import FormulaLibrary
from core.molecules import MoleculePlan, PouredMolecule
from core.rigs import Rig
from core.town import Town


def plan(town: Town, name: str, values: dict[str, str], rig: Rig | None = None) -> MoleculePlan:
    """The molecule formula ``name`` would pour with variables ``values`` (nothing is written).

    rig: whose repository's formulas are searched first and whose prefix the beads get; None: the
    town's formulas and built-ins, the town's prefix. Raises NotFound for an unknown formula, GtError
    for a missing or invalid variable or a formula that does not load.
    """
    cooked = FormulaLibrary(town, rig).cook(name, values)
    return molecules.plan(cooked, prefix=rig.prefix if rig else town.prefix, rig=rig.name if rig else None)


def pour(
    town: Town, name: str, values: dict[str, str], rig: Rig | None = None, *, actor: str
) -> tuple[MoleculePlan, PouredMolecule]:
    """Cook formula ``name`` (:func:`plan`) and pour its molecule in one transaction (root bead, one
    child per step, ``blocks`` edges, a convoy: :func:`core.molecules.pour`). Returns (the plan, what
    was poured). Raises as :func:`plan` and :func:`core.molecules.pour` do (nothing is left behind).
    """
    planned = plan(town, name, values, rig)
    return planned, molecules.pour(town, planned, actor=actor)
