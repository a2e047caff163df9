"""Formulas: TOML (or JSON) workflow templates, their search path, and cooking them into step lists.

A formula (``NAME.formula.toml``, or the older ``NAME.formula.json``) is the schema both originals use
(beads ``internal/formula/types.go``, Gas Town ``internal/formula/formulas/``)::

    formula = "shiny"            # name, equal to the file name's stem
    description = "..."
    version = 1
    type = "workflow"            # workflow | expansion | aspect | convoy
    extends = ["base"]           # inherit vars, steps, compose rules (child ids override)
    [vars.feature]               # or: [vars] feature = "default" (a bare string is a default)
    description = "..."  required = true  default = "x"  enum = [...]  pattern = "^...$"  type = "int"
    [[steps]]
    id = "implement"  title = "Implement {{feature}}"  description = "..."  needs = ["design"]
    depends_on = [...]  acceptance = "..."  labels = [...]  priority = 2  assignee = "..."  agent = "..."
    [[template]]                 # expansion formulas: steps with {target}, {target.title}, ...
    [compose]  expand = [{target, with, vars}]  map = [{select, with, vars}]  aspects = ["name"]
    [[advice]] target = "glob" + before/after/around.{before,after}   [[pointcuts]] glob/type/label
    [[legs]] + [synthesis] + [inputs]      # convoy formulas: parallel legs, then a synthesis step

**Parse** (:func:`parse_formula`) checks every key it knows, raises :class:`FormulaError` naming the
file, line and key for anything malformed, and lists every key it cannot execute yet (gates of
kinds not checked here, runtime for-each, Go-template prompts...) in ``Formula.unsupported``:
nothing is silently ignored. Steps may nest ``children``, repeat with ``loop``, depend on a
``condition``, wait on a ``gate`` or ``waits_for`` their spawner's children (:mod:`control`). **Search path** (:class:`FormulaLibrary`), Gas Town's order: ``.beads/formulas`` in a
rig's repository (read from its bare repo's default branch), then ``<town>/.beads/formulas``, then
the built-ins shipped in ``core/builtin_formulas``; the first file of a name wins. **Cook** (:func:`cook`)
resolves ``extends``, expansions and aspects, binds and checks the variables, substitutes
``{{var}}`` and returns the steps in dependency order; pouring them into beads is ``core.molecules``.

Differences from the Go original, on purpose: an expansion's first template steps inherit the
target's ``needs`` and the target's dependents wait for the expansion's last steps (the Go code
drops the former); advice ``before`` steps inherit the target's ``needs`` and the target's dependents
wait for the last ``after`` step, so "around" really wraps the step.

The package, one module per concept: ``schema`` (constants, the dataclasses, :class:`FormulaError`),
``parse`` (TOML/JSON -> :class:`Formula`), ``search`` (:class:`FormulaLibrary`), ``compose``
(extends, expansions, aspects, branches), ``control`` (loops, conditions, range expressions), ``cook`` (:func:`cook`, variable binding, :func:`pattern_search`),
``render`` (``{{var}}`` substitution, :func:`dependency_tree`). Import from ``core.formulas``.
"""

from core.formulas.compose import MAX_EXPANSION_DEPTH, match_glob
from core.formulas.cook import PATTERN_TIMEOUT_S, cook, pattern_search
from core.formulas.cook import (
    _backtracks_little as _backtracks_little,  # tests check it directly
)
from core.formulas.parse import formula_name, load_formula, parse_formula
from core.formulas.render import dependency_tree
from core.formulas.schema import (
    COMPOSE_KEYS,
    COMPOSE_UNSUPPORTED,
    FORMULA_TYPES,
    GATE_TYPES,
    INPUT_KEYS,
    MAX_COOKED_STEPS,
    NAME_RE,
    PLACEHOLDER_RE,
    STEP_ID_RE,
    STEP_KEYS,
    STEP_UNSUPPORTED,
    SUFFIXES,
    TEMPLATE_ID_RE,
    TOP_KEYS,
    TOP_UNSUPPORTED,
    VAR_KEYS,
    VAR_NAME_RE,
    VAR_TYPES,
    Advice,
    Branch,
    CookedFormula,
    CookedStep,
    ExpandRule,
    Formula,
    FormulaError,
    Gate,
    Loop,
    Pointcut,
    Step,
    Unsupported,
    VarDef,
)
from core.formulas.search import (
    BUILTIN_DIR,
    RIG_FORMULAS_PATH,
    FormulaFile,
    FormulaLibrary,
)

__all__ = [
    "BUILTIN_DIR",
    "COMPOSE_KEYS",
    "COMPOSE_UNSUPPORTED",
    "FORMULA_TYPES",
    "GATE_TYPES",
    "INPUT_KEYS",
    "MAX_COOKED_STEPS",
    "MAX_EXPANSION_DEPTH",
    "NAME_RE",
    "PATTERN_TIMEOUT_S",
    "PLACEHOLDER_RE",
    "RIG_FORMULAS_PATH",
    "STEP_ID_RE",
    "STEP_KEYS",
    "STEP_UNSUPPORTED",
    "SUFFIXES",
    "TEMPLATE_ID_RE",
    "TOP_KEYS",
    "TOP_UNSUPPORTED",
    "VAR_KEYS",
    "VAR_NAME_RE",
    "VAR_TYPES",
    "Advice",
    "Branch",
    "CookedFormula",
    "CookedStep",
    "ExpandRule",
    "Formula",
    "FormulaError",
    "FormulaFile",
    "FormulaLibrary",
    "Gate",
    "Loop",
    "Pointcut",
    "Step",
    "Unsupported",
    "VarDef",
    "cook",
    "dependency_tree",
    "formula_name",
    "load_formula",
    "match_glob",
    "parse_formula",
    "pattern_search",
]
