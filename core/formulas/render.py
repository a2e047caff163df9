"""Rendering: ``{{var}}`` substitution into cooked steps, and the text tree of a cooked formula's
steps (:func:`dependency_tree`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import GtError
from core.formulas.schema import PLACEHOLDER_RE, CookedStep, Step, VarDef


def _substitute(
    text: str,
    bound: Mapping[str, str],
    declared: Mapping[str, VarDef],
    step: Step | None,
    check: bool,
    warnings: list[str],
) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in bound:
            return bound[name]
        if name in declared:
            if check and step is not None:
                raise GtError(
                    f"step {step.id!r} of formula {step.formula!r} uses variable {name!r}, which has "
                    f"no value: pass --var {name}=..."
                )
            return m.group(0)
        note = f"{step.id if step else 'description'}: placeholder {m.group(0)} names no declared variable; left as written"
        if note not in warnings:
            warnings.append(note)
        return m.group(0)

    return PLACEHOLDER_RE.sub(repl, text) if "{{" in text else text


def _substitute_step(
    s: Step, bound: Mapping[str, str], declared: Mapping[str, VarDef], check: bool, warnings: list[str]
) -> CookedStep:
    values = {**bound, **s.var_overrides}

    def sub(text: str) -> str:
        return _substitute(text, values, declared, s, check, warnings)

    return CookedStep(
        id=s.id,
        title=sub(s.title) or s.id,
        description=sub(s.description),
        needs=list(s.needs),
        acceptance=sub(s.acceptance),
        labels=[sub(x) for x in s.labels],
        priority=s.priority,
        assignee=sub(s.assignee),
        agent=sub(s.agent),
        type=s.type,
        notes=sub(s.notes),
        formula=s.formula,
        parent=s.parent,
        gate=s.gate,
        waits_for=s.waits_for,
        flags=[f for f in ("parallel", "interactive", "review_only") if getattr(s, f)],
        meta=dict(s.meta),
    )


def dependency_tree(steps: list[CookedStep]) -> list[str]:
    """Text lines drawing ``steps`` as a tree: roots (no needs among ``steps``) first, each step under
    the first step it needs; a step with several needs is drawn once and listed under its other needs
    as ``id (under FIRST)``. Needs outside ``steps`` are ignored; a step is never drawn twice."""
    by_id = {s.id: s for s in steps}
    first = {s.id: next((n for n in s.needs if n in by_id and n != s.id), None) for s in steps}
    children: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        parent = first[s.id]
        if parent is not None:
            children[parent].append(s.id)
    lines: list[str] = []
    drawn: set[str] = set()

    def label(s: CookedStep) -> str:
        extra = f"  [needs {', '.join(s.needs)}]" if len(s.needs) > 1 else ""
        return f"{s.id}: {s.title}{extra}"

    def walk(sid: str, prefix: str, last: bool, root: bool) -> None:
        drawn.add(sid)
        connector = "" if root else ("└─ " if last else "├─ ")
        lines.append(prefix + connector + label(by_id[sid]))
        child_prefix = prefix if root else prefix + ("   " if last else "│  ")
        refs = [s.id for s in steps if sid in s.needs and first[s.id] != sid and s.id != sid]
        entries = [(k, False) for k in children[sid] if k not in drawn] + [(r, True) for r in refs]
        for i, (k, is_ref) in enumerate(entries):
            end = i == len(entries) - 1
            if is_ref:
                lines.append(child_prefix + ("└─ " if end else "├─ ") + f"{k} (under {first[k]})")
            else:
                walk(k, child_prefix, end, False)

    for s in steps:
        if first[s.id] is None and s.id not in drawn:
            walk(s.id, "", True, True)
    return lines
