"""Formula schema: the constants, keys and dataclasses of a formula file (:class:`Formula`, its
:class:`Step`, :class:`VarDef`, expansion and advice rules) and of a cooked formula
(:class:`CookedFormula`, :class:`CookedStep`); :class:`FormulaError`, the one error of a bad formula.
The schema is beads ``internal/formula/types.go`` (see ``core.formulas``)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import GtError

FORMULA_TYPES = ("workflow", "expansion", "aspect", "convoy")
SUFFIXES = (".formula.toml", ".formula.json")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STEP_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TEMPLATE_ID_RE = re.compile(r"^[A-Za-z0-9{][A-Za-z0-9._{}-]{0,127}$")
VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# {{name}} placeholders (beads/Gas Town syntax). Go-template actions ({{.x}}, {{end}}...) are left alone
# unless their word is a declared variable.
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
VAR_TYPES = ("string", "int", "bool", "number")

# Keys read and executed.
TOP_KEYS = {
    "formula",
    "description",
    "version",
    "type",
    "extends",
    "vars",
    "steps",
    "template",
    "compose",
    "advice",
    "pointcuts",
    "legs",
    "synthesis",
    "inputs",
    "pour",
    "phase",
    "agent",
    "review_only",
}
STEP_KEYS = {
    "id",
    "title",
    "description",
    "notes",
    "type",
    "priority",
    "labels",
    "needs",
    "depends_on",
    "acceptance",
    "assignee",
    "agent",
    "expand",
    "expand_vars",
    "children",
    "condition",
    "gate",
    "loop",
    "waits_for",
    "parallel",
    "interactive",
    "review_only",
}
#: ``[steps.gate]`` kinds a gate bead can wait on here; ``gh:*`` kinds are poured as hand-resolved gates.
GATE_TYPES = ("timer", "human", "mail")
GATE_KEYS = {"type", "id", "await_id", "timeout"}
LOOP_KEYS = {"count", "range", "until", "max", "var", "body"}
#: Most steps one cook may produce (loops and expansions included), so a range such as 1..2^40 is refused.
MAX_COOKED_STEPS = 20_000
VAR_KEYS = {"description", "required", "default", "enum", "pattern", "type"}
INPUT_KEYS = VAR_KEYS | {"required_unless"}
# Keys of the schema that are parsed but not executed yet: key -> what happens instead.
TOP_UNSUPPORTED = {
    "prompts": "Go text/template prompts are not rendered; leg descriptions are used as they are",
    "output": "convoy output locations are not managed; legs decide where to write",
    "presets": "leg presets are not selectable yet; every leg is poured",
    "squash": "wisp squash digests are not generated; the molecule's beads are its record",
}
STEP_UNSUPPORTED = {
    "on_complete": "runtime for-each expansion is not supported; the step is poured as a plain bead",
}
COMPOSE_KEYS = {"expand", "map", "aspects", "branch"}
COMPOSE_UNSUPPORTED = {
    "bond_points": "bond points are not supported",
    "hooks": "compose hooks are not supported",
    "gate": "compose gates are not supported",
}


class FormulaError(GtError):
    """A malformed or unusable formula. ``str(err)`` is ``FILE:LINE: KEY: problem: fix``.

    Attributes: ``source`` (file path or label), ``line`` (1-based, or None when unknown), ``key``
    (dotted path such as ``steps[2].needs``, or "" for the whole file).
    """

    def __init__(self, source: str, line: int | None, key: str, problem: str, fix: str) -> None:
        self.source, self.line, self.key = source, line, key
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key + ': ' if key else ''}{problem}: {fix}")


@dataclass(frozen=True)
class Unsupported:
    """A formula key that is parsed but not executed. ``line`` is 1-based or None."""

    formula: str
    source: str
    key: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.key}: {self.reason}"


@dataclass
class VarDef:
    """A formula variable: ``default`` None means no default; ``type`` is string|int|bool|number;
    ``required_unless`` (convoy ``[inputs]``) lists vars any of which makes this one optional."""

    name: str
    description: str = ""
    required: bool = False
    default: str | None = None
    enum: list[str] = field(default_factory=list)
    pattern: str | None = None
    type: str = "string"
    required_unless: list[str] = field(default_factory=list)
    source: str = ""
    line: int | None = None


@dataclass
class Gate:
    """``[steps.gate]``: what the step's gate bead waits for (Gas Town/beads ``Gate``).

    type: ``timer`` (resolves ``timeout_s`` seconds after the pour), ``human`` (``gt gate resolve``),
    ``mail`` (resolves when a mail with subject ``await_id`` arrives after the pour), or a kind not
    checked here (``gh:run``, ``gh:pr``...: poured as a gate resolved by hand). timeout_s: seconds or None.
    """

    type: str
    await_id: str = ""
    timeout_s: int | None = None


@dataclass
class Loop:
    """``[steps.loop]``: repeat ``body`` (beads ``LoopSpec``): ``count`` times, once per value of
    ``range`` (``"1..2^{disks}"``, bound to ``var``), or, for ``until`` (with ``max``), once with the
    condition kept as a ``loop:`` label for whoever works it. ``body``: flat, children after parents."""

    body: list[Step]
    count: int | None = None
    range: str = ""
    until: str = ""
    max: int | None = None
    var: str = ""


@dataclass
class Step:
    """One step (or template/advice step) as written in a formula.

    ``needs`` merges ``needs`` and ``depends_on`` (beads merges them when cooking). ``source``/``line``/
    ``key`` locate it for errors. ``formula`` is the name of the formula that defined it. ``parent``:
    the id of the step whose ``children`` it is ("" at the top; step lists are flat, children right
    after their parent). ``condition``: Gas Town's ``{{var}}`` / ``!{{var}}`` / ``{{var}} == v`` /
    ``{{var}} != v``. ``waits_for``: ``all-children`` / ``any-children`` (a ``waits-for`` edge).
    ``parallel``, ``interactive``, ``review_only``: Gas Town's flags, kept in the bead's metadata.
    """

    id: str
    title: str = ""
    description: str = ""
    needs: list[str] = field(default_factory=list)
    acceptance: str = ""
    labels: list[str] = field(default_factory=list)
    priority: int | None = None
    assignee: str = ""
    agent: str = ""
    type: str = ""
    notes: str = ""
    expand: str = ""
    expand_vars: dict[str, str] = field(default_factory=dict)
    formula: str = ""
    source: str = ""
    line: int | None = None
    key: str = ""
    var_overrides: dict[str, str] = field(default_factory=dict)
    parent: str = ""
    condition: str = ""
    gate: Gate | None = None
    loop: Loop | None = None
    waits_for: str = ""
    parallel: bool = False
    interactive: bool = False
    review_only: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExpandRule:
    """``[[compose.expand]]`` (``target`` is a step id) or ``[[compose.map]]`` (``target`` is a glob)."""

    target: str
    with_: str
    vars: dict[str, str] = field(default_factory=dict)
    is_map: bool = False
    source: str = ""
    line: int | None = None
    key: str = ""


@dataclass
class Branch:
    """``[[compose.branch]]``: every step of ``steps`` needs ``from_``; ``join`` needs every one of them
    (a fork-join, beads ``BranchRule``)."""

    from_: str
    steps: list[str]
    join: str
    source: str = ""
    line: int | None = None
    key: str = ""


@dataclass
class Advice:
    """``[[advice]]``: steps inserted before/after every step whose id matches the glob ``target``."""

    target: str
    before: list[Step] = field(default_factory=list)
    after: list[Step] = field(default_factory=list)


@dataclass
class Pointcut:
    """``[[pointcuts]]``: an aspect applies only to steps matching one of them (glob, type, label)."""

    glob: str = ""
    type: str = ""
    label: str = ""


@dataclass
class Formula:
    """A parsed formula file. ``source`` is its path (or label); ``unsupported`` lists keys not executed.
    ``pour``: False pours the root bead only (steps read at prime time), None or True every step.
    ``agent``: the default agent of every step or leg (Gas Town GH#2118); ``review_only``: legs commit
    no code (Gas Town gt-kvf)."""

    name: str
    source: str
    description: str = ""
    version: int = 1
    type: str = "workflow"
    extends: list[str] = field(default_factory=list)
    vars: dict[str, VarDef] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    template: list[Step] = field(default_factory=list)
    expand: list[ExpandRule] = field(default_factory=list)
    branches: list[Branch] = field(default_factory=list)
    aspects: list[str] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    pointcuts: list[Pointcut] = field(default_factory=list)
    legs: list[Step] = field(default_factory=list)
    synthesis: Step | None = None
    phase: str = ""
    pour: bool | None = None
    agent: str = ""
    review_only: bool = False
    unsupported: list[Unsupported] = field(default_factory=list)
    extends_line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: name, type, version, description, source, vars, step ids, unsupported."""
        return {
            "name": self.name,
            "type": self.type,
            "version": self.version,
            "description": self.description,
            "source": self.source,
            "extends": self.extends,
            "vars": {
                v.name: {
                    "description": v.description,
                    "required": v.required,
                    "default": v.default,
                    "enum": v.enum,
                    "pattern": v.pattern,
                    "type": v.type,
                }
                for v in self.vars.values()
            },
            "steps": [s.id for s in self.steps or self.template or self.legs],
            "unsupported": [str(u) for u in self.unsupported],
        }


@dataclass
class CookedStep:
    """A step ready to pour: placeholders substituted, ``needs`` are ids of other cooked steps,
        ``parent`` the id of the cooked step it is a child of (or ""), ``gate`` its gate (a gate bead
        blocks it), ``flags`` the Gas Town booleans set on it (``parallel``, ``interactive``, ``review_only``), ``meta``
    extra bead metadata (``loop``: the until condition and max of an until loop)."""

    id: str
    title: str
    description: str
    needs: list[str]
    acceptance: str = ""
    labels: list[str] = field(default_factory=list)
    priority: int | None = None
    assignee: str = ""
    agent: str = ""
    type: str = ""
    notes: str = ""
    formula: str = ""
    parent: str = ""
    gate: Gate | None = None
    waits_for: str = ""
    flags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class CookedFormula:
    """A formula resolved and bound: ``steps`` in dependency order (ties keep the file's order),
    ``vars`` the bound values (given or default), ``variables`` every declared variable (inherited and
    from expansions/aspects included), ``unsupported`` from every formula involved, ``warnings`` for
    placeholders left as written (undeclared variables). ``pour``: False for a root-only molecule
    (``pour = false``); ``phase``: ``vapor`` pours ephemeral beads (wisps)."""

    formula: str
    type: str
    description: str
    source: str
    vars: dict[str, str]
    steps: list[CookedStep]
    variables: dict[str, VarDef] = field(default_factory=dict)
    unsupported: list[Unsupported] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pour: bool = True
    phase: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "formula": self.formula,
            "pour": self.pour,
            "phase": self.phase,
            "type": self.type,
            "description": self.description,
            "source": self.source,
            "vars": self.vars,
            "steps": [s.as_dict() for s in self.steps],
            "unsupported": [str(u) for u in self.unsupported],
            "warnings": self.warnings,
        }
