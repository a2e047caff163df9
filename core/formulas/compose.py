"""Composing formulas: ``extends`` (inheritance), expansions (``[compose] expand``/``map`` and
inline ``expand``) and aspects/advice, over :class:`Step` lists (beads ``ApplyExpansions``,
``ApplyAdvice``)."""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
from collections.abc import Callable

from core.errors import NotFound
from core.formulas.schema import (
    STEP_ID_RE,
    Advice,
    Branch,
    ExpandRule,
    Formula,
    FormulaError,
    Pointcut,
    Step,
    Unsupported,
    VarDef,
)

MAX_EXPANSION_DEPTH = 5


def match_glob(pattern: str, step_id: str) -> bool:
    """Step-id glob of advice, pointcuts and ``compose.map``: shell-style (``*``, ``?``, ``[...]``)
    over the whole id, so ``*.implement`` and ``shiny.*`` work as in beads ``MatchGlob``."""
    return fnmatch.fnmatchcase(step_id, pattern)


def _copy_step(s: Step) -> Step:
    return dataclasses.replace(
        s,
        needs=list(s.needs),
        labels=list(s.labels),
        expand_vars=dict(s.expand_vars),
        var_overrides=dict(s.var_overrides),
        meta=dict(s.meta),
    )


def _flatten(
    formula: Formula, load: Callable[[str], Formula], chain: tuple[str, ...], unsupported: list[Unsupported]
) -> Formula:
    """``formula`` with its ``extends`` parents merged in (depth-first, parents first)."""
    if formula.name in chain:
        raise FormulaError(
            formula.source,
            formula.extends_line,
            "extends",
            f"extends cycle {' -> '.join(chain + (formula.name,))}",
            "remove one of the extends",
        )
    for u in formula.unsupported:
        if u not in unsupported:
            unsupported.append(u)
    if not formula.extends:
        return formula
    merged = Formula(name=formula.name, source=formula.source)
    for parent_name in formula.extends:
        try:
            parent = load(parent_name)
        except NotFound as exc:
            raise FormulaError(
                formula.source,
                formula.extends_line,
                "extends",
                str(exc).split(":")[0],
                "add the parent formula or fix the name",
            ) from None
        parent = _flatten(parent, load, chain + (formula.name,), unsupported)
        _merge_into(merged, parent)
    _merge_into(merged, formula)
    merged.name, merged.source, merged.type = formula.name, formula.source, formula.type
    merged.description = formula.description or merged.description
    merged.extends = []
    return merged


def _merge_into(target: Formula, other: Formula) -> None:
    target.description = other.description or target.description
    target.pour = other.pour if other.pour is not None else target.pour
    target.phase = other.phase or target.phase
    target.agent = other.agent or target.agent
    target.review_only = other.review_only or target.review_only
    target.vars.update(other.vars)
    position = {s.id: i for i, s in enumerate(target.steps)}
    for s in other.steps:
        if s.id in position:
            target.steps[position[s.id]] = s
        else:
            position[s.id] = len(target.steps)
            target.steps.append(s)
    target.template = other.template or target.template
    target.legs = other.legs or target.legs
    target.synthesis = other.synthesis or target.synthesis
    target.expand += other.expand
    target.branches += other.branches
    target.aspects += [a for a in other.aspects if a not in target.aspects]
    target.advice += other.advice
    target.pointcuts += other.pointcuts


def _apply_expansions(
    steps: list[Step],
    rules: list[ExpandRule],
    load: Callable[[str], Formula],
    declared: dict[str, VarDef],
    unsupported: list[Unsupported],
    depth: int = 0,
) -> list[Step]:
    """Replace each rule's target step(s) by the expansion's template (beads ``ApplyExpansions``)."""
    for rule in rules:
        if rule.is_map:
            targets = [s.id for s in steps if match_glob(rule.target, s.id)]
        else:
            if not any(s.id == rule.target for s in steps):
                raise FormulaError(
                    rule.source,
                    rule.line,
                    rule.key,
                    f"expand target step {rule.target!r} not found",
                    f"name one of: {', '.join(s.id for s in steps)}",
                )
            targets = [rule.target]
        if not targets:
            continue
        try:
            exp = _flatten(load(rule.with_), load, (), unsupported)
        except NotFound as exc:
            raise FormulaError(
                rule.source, rule.line, rule.key, str(exc).split(":")[0], "add the expansion formula or fix the name"
            ) from None
        if exp.type != "expansion":
            raise FormulaError(
                rule.source,
                rule.line,
                rule.key,
                f"{rule.with_!r} is a {exp.type} formula, not an expansion",
                'name a formula with type = "expansion"',
            )
        for name, v in exp.vars.items():
            declared.setdefault(name, v)
        for target_id in targets:
            target = next(s for s in steps if s.id == target_id)
            expanded = [_expand_template(t, target, rule) for t in exp.template]
            inner = [s for s in expanded if s.expand]
            if inner:
                if depth >= MAX_EXPANSION_DEPTH:
                    raise FormulaError(
                        rule.source,
                        rule.line,
                        rule.key,
                        f"expansions nest deeper than {MAX_EXPANSION_DEPTH} levels",
                        "break the expansion cycle",
                    )
                expanded = _apply_expansions(
                    expanded,
                    [ExpandRule(s.id, s.expand, s.expand_vars, source=s.source, line=s.line, key=s.key) for s in inner],
                    load,
                    declared,
                    unsupported,
                    depth + 1,
                )
            steps = _splice(steps, target, expanded)
    return steps


def _apply_branches(steps: list[Step], branches: list[Branch]) -> list[Step]:
    """Wire each fork-join (beads ``ApplyBranches``): branch steps need ``from``, ``join`` needs them.
    Raises FormulaError naming a step that does not exist."""
    by_id = {s.id: s for s in steps}
    for b in branches:
        for sid in [b.from_, b.join, *b.steps]:
            if sid not in by_id:
                raise FormulaError(
                    b.source, b.line, b.key, f"branch step {sid!r} not found", f"name one of: {', '.join(by_id)}"
                )
        for sid in b.steps:
            by_id[sid].needs = list(dict.fromkeys([*by_id[sid].needs, b.from_]))
        by_id[b.join].needs = list(dict.fromkeys([*by_id[b.join].needs, *b.steps]))
    return steps


def _expand_template(tmpl: Step, target: Step, rule: ExpandRule) -> Step:
    def sub(text: str) -> str:
        for ph, val in (
            ("{target.description}", target.description),
            ("{target.title}", target.title),
            ("{target.id}", target.id),
            ("{target}", target.id),
        ):
            text = text.replace(ph, val)
        return text

    s = _copy_step(tmpl)
    s.id, s.title, s.description = sub(tmpl.id), sub(tmpl.title), sub(tmpl.description)
    s.acceptance, s.notes = sub(tmpl.acceptance), sub(tmpl.notes)
    s.labels = [sub(x) for x in tmpl.labels]
    s.needs = [sub(x) for x in tmpl.needs]
    s.var_overrides = {**target.var_overrides, **rule.vars}
    if not s.assignee:
        s.assignee = target.assignee
    if s.priority is None:
        s.priority = target.priority
    if not STEP_ID_RE.match(s.id):
        raise FormulaError(
            tmpl.source,
            tmpl.line,
            tmpl.key + ".id",
            f"expanded step id {s.id!r} is invalid",
            "use {target} and letters, digits, '.', '_' and '-' in template ids",
        )
    return s


def _splice(steps: list[Step], target: Step, replacement: list[Step]) -> list[Step]:
    """Put ``replacement`` where ``target`` was: its entry steps take the target's needs, and every
    step that needed the target needs the replacement's exit steps."""
    ids = {s.id for s in replacement}
    needed_inside = {n for s in replacement for n in s.needs if n in ids}
    exits = [s.id for s in replacement if s.id not in needed_inside]
    for s in replacement:
        if not any(n in ids for n in s.needs):
            s.needs = list(dict.fromkeys(target.needs + s.needs))
    out: list[Step] = []
    for s in steps:
        if s.id == target.id:
            out.extend(replacement)
            continue
        if target.id in s.needs:
            s = _copy_step(s)
            i = s.needs.index(target.id)
            s.needs = list(dict.fromkeys(s.needs[:i] + exits + s.needs[i + 1 :]))
        out.append(s)
    return out


def _matches_pointcuts(step: Step, pointcuts: list[Pointcut]) -> bool:
    if not pointcuts:
        return True
    for pc in pointcuts:
        if pc.glob and not match_glob(pc.glob, step.id):
            continue
        if pc.type and step.type != pc.type:
            continue
        if pc.label and pc.label not in step.labels:
            continue
        return True
    return False


def _apply_advice(steps: list[Step], advice: list[Advice], pointcuts: list[Pointcut]) -> list[Step]:
    """Insert advice steps around matching steps (beads ``ApplyAdvice``): only steps present before
    this call match, so advice never matches its own insertions."""
    if not advice:
        return steps
    original = [s.id for s in steps]
    for target_id in original:
        target = next((s for s in steps if s.id == target_id), None)
        if target is None or not _matches_pointcuts(target, pointcuts):
            continue
        before: list[Step] = []
        after: list[Step] = []
        for adv in advice:
            if match_glob(adv.target, target.id):
                before += [_advice_step(a, target) for a in adv.before]
                after += [_advice_step(a, target) for a in adv.after]
        if not before and not after:
            continue
        for prev, nxt in itertools.pairwise(before):
            nxt.needs = list(dict.fromkeys(nxt.needs + [prev.id]))
        if before:
            before[0].needs = list(dict.fromkeys(target.needs + before[0].needs))
        wrapped = _copy_step(target)
        if before:
            wrapped.needs = [before[-1].id]
        chain = [wrapped] + after
        for prev, nxt in itertools.pairwise(chain):
            nxt.needs = list(dict.fromkeys(nxt.needs + [prev.id]))
        exit_step = chain[-1]
        out = []
        for s in steps:
            if s.id == target.id:
                out.extend(before + chain)
            elif target.id in s.needs and exit_step is not wrapped:
                s = _copy_step(s)
                s.needs = [exit_step.id if n == target.id else n for n in s.needs]
                out.append(s)
            else:
                out.append(s)
        steps = out
    return steps


def _advice_step(a: Step, target: Step) -> Step:
    def sub(text: str) -> str:
        return text.replace("{step.id}", target.id).replace("{step.title}", target.title)

    s = _copy_step(a)
    s.id, s.title, s.description = sub(a.id), sub(a.title) or sub(a.id), sub(a.description)
    s.acceptance, s.notes = sub(a.acceptance), sub(a.notes)
    s.needs = [sub(n) for n in a.needs]
    s.var_overrides = dict(target.var_overrides)
    if not STEP_ID_RE.match(s.id):
        raise FormulaError(
            a.source,
            a.line,
            a.key + ".id",
            f"advice step id {s.id!r} is invalid",
            "use {step.id} and letters, digits, '.', '_' and '-' in advice ids",
        )
    return s
