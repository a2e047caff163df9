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


#: Levels of indentation :func:`dependency_tree` draws; deeper steps are drawn at this depth.
MAX_TREE_INDENT = 16


def dependency_tree(steps: list[CookedStep]) -> list[str]:
    """Text lines drawing ``steps`` as a tree: roots (no needs among ``steps``) first, each step under
    the first step it needs; a step with several needs is drawn once and listed under its other needs
    as ``id (under FIRST)``. Needs outside ``steps`` are ignored; a step is never drawn twice. No
    recursion: any depth draws; below :data:`MAX_TREE_INDENT` levels the indent stops growing, so a
    1,000-step chain stays readable."""
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
        if s.parent:
            extra += f"  [in {s.parent}]"
        if s.gate is not None:
            extra += f"  [gate {s.gate.type}{' ' + s.gate.await_id if s.gate.await_id else ''}]"
        if s.waits_for:
            extra += f"  [waits for {s.waits_for}]"
        return f"{s.id}: {s.title}{extra}"

    # Depth-first with an explicit stack (a 1,000-step chain is 1,000 levels deep): entries are
    # (step id, prefix, last, root, is_ref).
    refs_of: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for n in dict.fromkeys(s.needs):
            if n in by_id and n != s.id and first[s.id] != n:
                refs_of[n].append(s.id)
    for s in steps:
        if first[s.id] is not None or s.id in drawn:
            continue
        stack: list[tuple[str, str, bool, bool, bool]] = [(s.id, "", True, True, False)]
        while stack:
            sid, prefix, last, root, is_ref = stack.pop()
            connector = "" if root else ("└─ " if last else "├─ ")
            if is_ref:
                lines.append(prefix + connector + f"{sid} (under {first[sid]})")
                continue
            if sid in drawn:
                continue
            drawn.add(sid)
            lines.append(prefix + connector + label(by_id[sid]))
            deeper = prefix + ("   " if last else "│  ")
            child_prefix = prefix if root or len(prefix) >= 3 * MAX_TREE_INDENT else deeper
            entries = [(k, False) for k in children[sid] if k not in drawn] + [(r, True) for r in refs_of[sid]]
            for i in range(len(entries) - 1, -1, -1):
                k, ref = entries[i]
                stack.append((k, child_prefix, i == len(entries) - 1, False, ref))
    return lines
