"""Cooking a formula: compose it, order the steps (Kahn), bind and check the variables, substitute
them (:func:`cook`); variable patterns are matched with a time bound (:func:`pattern_search`)."""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import GtError
from core.formulas.compose import _apply_advice, _apply_branches, _apply_expansions, _copy_step, _flatten
from core.formulas.control import apply_loops, filter_by_condition
from core.formulas.render import _substitute, _substitute_step
from core.formulas.schema import (
    CookedFormula,
    ExpandRule,
    Formula,
    FormulaError,
    Step,
    Unsupported,
    VarDef,
)


def cook(
    formula: Formula, values: Mapping[str, str], load: Callable[[str], Formula], check_vars: bool = True
) -> CookedFormula:
    """Resolve ``formula`` into the steps it pours: ``extends`` (parents first, a child step with the
    same id replaces the parent's), convoy legs + synthesis, inline and ``[compose]`` expansions,
    aspects and advice; then bind ``values`` (var name -> text) and substitute ``{{var}}``.

    load: formula name -> Formula (a :class:`FormulaLibrary`'s ``load``). check_vars: False skips the
    required/enum/pattern checks and leaves unbound placeholders as written (``gt formula show``).
    Loops are expanded first (ranges see the given values and defaults), conditions are evaluated
    on the bound values last (:mod:`core.formulas.control`); a formula-level ``agent`` and
    ``review_only`` apply to every step.
    Raises FormulaError for unknown steps in needs, cycles, bad expansions; GtError for unknown,
    missing or invalid variables (the message names the fix).
    """
    unsupported: list[Unsupported] = []
    flat = _flatten(formula, load, (), unsupported)
    if flat.type in ("expansion", "aspect"):
        raise FormulaError(
            formula.source,
            None,
            "type",
            f"{formula.name!r} is an {flat.type} formula and pours nothing on its own",
            f"apply it from a workflow ([compose] {'expand' if flat.type == 'expansion' else 'aspects'})",
        )
    steps = [_copy_step(s) for s in flat.steps]
    if flat.type == "convoy":
        steps = [_copy_step(s) for s in flat.legs]
        if flat.synthesis is not None:
            synth = _copy_step(flat.synthesis)
            if not synth.needs:
                synth.needs = [leg.id for leg in steps]
            steps.append(synth)
    declared = dict(flat.vars)
    if any(s.loop is not None for s in steps):
        early = {n: v.default for n, v in declared.items() if v.default is not None}
        steps = apply_loops(steps, {**early, **values})
    steps = _apply_branches(steps, flat.branches)
    rules = [
        ExpandRule(s.id, s.expand, s.expand_vars, source=s.source, line=s.line, key=s.key + ".expand")
        for s in steps
        if s.expand
    ] + flat.expand
    steps = _apply_expansions(steps, rules, load, declared, unsupported)
    for aspect_name in flat.aspects:
        aspect = _flatten(load(aspect_name), load, (), unsupported)
        if aspect.type != "aspect":
            raise FormulaError(
                flat.source,
                None,
                "compose.aspects",
                f"{aspect_name!r} is a {aspect.type} formula, not an aspect",
                "name an aspect formula",
            )
        for name, v in aspect.vars.items():
            declared.setdefault(name, v)
        steps = _apply_advice(steps, aspect.advice, aspect.pointcuts)
    steps = _apply_advice(steps, flat.advice, flat.pointcuts if flat.type == "aspect" else [])
    bound = _bind_vars(flat, declared, values, check_vars)
    steps = filter_by_condition(steps, bound)
    for s in steps:
        if flat.agent and not s.agent:
            s.agent = flat.agent
        s.review_only = s.review_only or flat.review_only
    ordered = _toposort(steps)
    warnings: list[str] = []
    cooked = [_substitute_step(s, bound, declared, check_vars, warnings) for s in ordered]
    description = _substitute(flat.description, bound, declared, None, False, [])
    return CookedFormula(
        formula=formula.name,
        type=flat.type,
        description=description,
        source=formula.source,
        vars=bound,
        steps=cooked,
        variables=declared,
        unsupported=unsupported,
        warnings=warnings,
        pour=flat.pour is not False,
        phase=flat.phase,
    )


def _toposort(steps: list[Step]) -> list[Step]:
    """Steps in dependency order (Kahn; ties keep the given order). Raises FormulaError naming the
    step with an unknown need, a duplicate id or the steps of a cycle."""
    by_id: dict[str, Step] = {}
    for s in steps:
        if s.id in by_id:
            raise FormulaError(
                s.source,
                s.line,
                s.key + ".id",
                f"duplicate step id {s.id!r} after composition",
                "rename one of the steps",
            )
        by_id[s.id] = s
    for s in steps:
        for n in s.needs:
            if n not in by_id:
                raise FormulaError(
                    s.source,
                    s.line,
                    s.key + ".needs",
                    f"step {s.id!r} needs unknown step {n!r}",
                    f"name one of: {', '.join(by_id)}",
                )
            if n == s.id:
                raise FormulaError(
                    s.source, s.line, s.key + ".needs", f"step {s.id!r} needs itself", "remove it from its own needs"
                )
    order = {s.id: i for i, s in enumerate(steps)}
    # A child comes after its parent (its bead is created under the parent's), as if it needed it.
    deps = {s.id: set(s.needs) | ({s.parent} if s.parent in by_id else set()) for s in steps}
    pending = {sid: len(d) for sid, d in deps.items()}
    dependents: dict[str, list[str]] = {s.id: [] for s in steps}
    for sid, d in deps.items():
        for n in d:
            dependents[n].append(sid)
    ready = [order[sid] for sid, c in pending.items() if c == 0]
    heapq.heapify(ready)
    out: list[Step] = []
    while ready:
        step = steps[heapq.heappop(ready)]
        out.append(step)
        for waiting in dependents[step.id]:
            pending[waiting] -= 1
            if pending[waiting] == 0:
                heapq.heappush(ready, order[waiting])
    if len(out) < len(steps):
        stuck = [s for s in steps if pending[s.id] > 0]
        first = stuck[0]
        raise FormulaError(
            first.source,
            first.line,
            first.key + ".needs",
            f"dependency cycle among steps {', '.join(s.id for s in stuck)}",
            "remove one of the needs so the steps form a DAG",
        )
    return out


def _bind_vars(flat: Formula, declared: dict[str, VarDef], values: Mapping[str, str], check: bool) -> dict[str, str]:
    """Bound values: given ones (checked) and defaults. Raises GtError for an undeclared, missing or
    invalid variable, naming the formula and the ``--var`` fix."""
    for name in values:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise GtError(
                f"formula {flat.name!r} has no variable {name!r} (variables: {known}): "
                f"check the name in --var {name}=..."
            )
    bound: dict[str, str] = {}
    for name, v in declared.items():
        if name in values:
            bound[name] = str(values[name])
        elif v.default is not None:
            bound[name] = v.default
    if not check:
        return bound
    missing = []
    for name, v in declared.items():
        if name in values:
            continue
        if v.default is not None:
            continue
        if v.required or (v.required_unless and not any(o in values for o in v.required_unless)):
            missing.append(name)
    if missing:
        hints = " ".join(f"--var {m}=..." for m in missing)
        raise GtError(f"formula {flat.name!r} needs variable(s) {', '.join(missing)}: pass {hints}")
    for name, value in bound.items():
        _check_value(flat.name, declared[name], value)
    return bound


def _check_value(formula: str, v: VarDef, value: str) -> None:
    if v.enum and value not in v.enum:
        raise GtError(
            f"variable {v.name!r} of formula {formula!r} must be one of {', '.join(v.enum)}, "
            f"not {value!r}: pass --var {v.name}={v.enum[0]}"
        )
    if v.pattern is not None and not pattern_search(v.pattern, value, f"variable {v.name!r} of formula {formula!r}"):
        raise GtError(
            f"variable {v.name!r} of formula {formula!r} must match {v.pattern}, not {value!r}: "
            f"pass a matching --var {v.name}=..."
        )
    if v.type in ("int", "number") and not re.fullmatch(r"-?\d+", value):
        raise GtError(
            f"variable {v.name!r} of formula {formula!r} must be an integer, not {value!r}: pass --var {v.name}=NUMBER"
        )
    if v.type == "bool" and value not in ("true", "false"):
        raise GtError(
            f"variable {v.name!r} of formula {formula!r} must be true or false, not {value!r}: pass --var {v.name}=true"
        )


#: Seconds a variable's ``pattern`` may take to match a value before it is refused as catastrophic.
PATTERN_TIMEOUT_S = 2.0
#: Longest value matched in this process by a pattern :func:`_backtracks_little` vouches for.
_INLINE_MAX = 4096
_MATCHER = (
    "import json, re, sys\nd = json.load(sys.stdin)\nsys.stdout.write('1' if re.search(d['p'], d['v']) else '0')\n"
)


def pattern_search(pattern: str, value: str, what: str, timeout: float = PATTERN_TIMEOUT_S) -> bool:
    """``re.search(pattern, value)`` with a time bound, so a formula's variable pattern cannot hang gt
    (catastrophic backtracking such as ``(a+)+$``). A pattern of the kind that cannot blow up
    (:func:`_backtracks_little`) on a short value is matched here; any other runs in a child
    ``python -P -I`` killed after ``timeout`` seconds. what: names the pattern's owner in errors.

    Returns True when it matches. Raises GtError (one line naming ``what`` and the fix) when the match
    takes longer than ``timeout`` or the pattern is invalid.
    """
    if len(value) <= _INLINE_MAX and _backtracks_little(pattern):
        try:
            return re.search(pattern, value) is not None
        except (re.error, RecursionError, OverflowError) as exc:
            raise GtError(f"{what}: invalid pattern {pattern!r} ({exc}): fix the pattern in the formula") from None
    import json
    import subprocess
    import sys

    try:
        proc = subprocess.run(
            [sys.executable, "-P", "-I", "-c", _MATCHER],
            input=json.dumps({"p": pattern, "v": value}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GtError(
            f"{what}: pattern {pattern!r} did not finish matching within {timeout:g} s (catastrophic "
            "backtracking, e.g. nested repeats like (a+)+): simplify the pattern in the formula"
        ) from None
    if proc.returncode != 0 or proc.stdout not in ("0", "1"):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise GtError(f"{what}: pattern {pattern!r} could not be matched ({tail}): fix the pattern in the formula")
    return proc.stdout == "1"


def _backtracks_little(pattern: str) -> bool:
    """True for a pattern whose matching cannot explode: no repeat inside a repeat, no alternation
    inside a repeat, no backreference or lookaround, at most one unbounded repeat (so at worst
    quadratic in the value's length, bounded by :data:`_INLINE_MAX`). False when unsure."""
    try:
        from re import _constants as c  # type: ignore[attr-defined]  # CPython's own parser, not in typeshed
        from re import _parser  # type: ignore[attr-defined]

        tree = _parser.parse(pattern)
    except Exception:  # noqa: BLE001 - an invalid or unparsable pattern goes to the bounded child
        return False
    repeats = {c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)}
    refused = {c.GROUPREF, c.GROUPREF_EXISTS, c.ASSERT, c.ASSERT_NOT}
    unbounded = 0

    def walk(items: Any, in_repeat: bool) -> bool:
        nonlocal unbounded
        for op, av in items:
            if op in repeats:
                _lo, hi, sub = av
                if in_repeat:
                    return False
                if hi == c.MAXREPEAT or hi > 64:
                    unbounded += 1
                if not walk(sub, True):
                    return False
            elif op is c.SUBPATTERN:
                if not walk(av[-1], in_repeat):
                    return False
            elif op is c.BRANCH:
                if in_repeat or not all(walk(b, in_repeat) for b in av[1]):
                    return False
            elif op in refused or op is getattr(c, "ATOMIC_GROUP", None):
                return False
        return True

    return walk(tree, False) and unbounded <= 1
