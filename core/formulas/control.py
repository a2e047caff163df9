"""Control flow of a formula's steps (beads ``internal/formula/controlflow.go``, ``stepcondition.go``,
``range.go``): ``loop`` expanded into its iterations (:func:`apply_loops`), ``condition`` evaluated
against the bound variables (:func:`filter_by_condition`), and the two small grammars they use,
conditions (:func:`parse_condition`) and range expressions (:func:`eval_range`). No ``eval``: both
grammars are parsed here, and every walk over steps is a loop over a flat list, never a recursion.

Differences from beads, on purpose: a loop's first iteration inherits the loop step's ``needs`` and
the steps that need the loop step wait for its last iteration (beads drops both); a step filtered out
by its condition hands its ``needs`` to the steps that needed it (beads drops the edge), so the order
of the steps that remain is kept; an ``until`` loop's first step gets the label ``loop:until`` and
its condition in metadata ``loop`` (beads writes the JSON into the label, which a label here cannot
hold), and nothing re-runs it: whoever works it repeats until the condition holds, at most ``max``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.formulas.schema import MAX_COOKED_STEPS, FormulaError, Step

_COND_VAR = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$")
_COND_NOT = re.compile(r"^!\s*\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$")
_COND_CMP = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}\s*(==|!=)\s*(.+)$")
_FALSY = ("", "false", "0", "no", "off")


def parse_condition(text: str) -> tuple[str, str, str]:
    """A step condition as ``(op, var, value)``: op ``truthy``, ``falsy``, ``==`` or ``!=``; value is
    unquoted. Grammar (Gas Town/beads ``EvaluateStepCondition``): ``{{var}}``, ``!{{var}}``,
    ``{{var}} == value``, ``{{var}} != value``. Raises ValueError for anything else."""
    cond = text.strip()
    if m := _COND_VAR.match(cond):
        return ("truthy", m.group(1), "")
    if m := _COND_NOT.match(cond):
        return ("falsy", m.group(1), "")
    if m := _COND_CMP.match(cond):
        value = m.group(3).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return (m.group(2), m.group(1), value)
    raise ValueError(f"invalid condition {text!r}")


def condition_holds(text: str, values: Mapping[str, str]) -> bool:
    """Whether condition ``text`` holds for ``values`` (var -> text; an unset var is ""). An empty
    condition holds. Truthy: not one of "", false, 0, no, off (any case). Raises ValueError."""
    if not text.strip():
        return True
    op, var, expected = parse_condition(text)
    actual = values.get(var, "")
    if op == "truthy":
        return actual.lower() not in _FALSY
    if op == "falsy":
        return actual.lower() in _FALSY
    return (actual == expected) if op == "==" else (actual != expected)


_TOKEN = re.compile(r"\s*(?:(\d+)|([-+*/^()]))")
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}
_MAX_EXPR = 200


def eval_expr(text: str, values: Mapping[str, str] | None = None) -> int:
    """An integer expression of a loop range: integers, ``+ - * / ^`` (``^`` is power, right
    associative; ``/`` truncates), parentheses, unary minus, ``{var}`` replaced from ``values``.
    Shunting-yard, no recursion and no eval. Raises ValueError for bad syntax, an unknown or
    non-integer variable, division by zero or a result beyond 10**9."""
    src = text
    for name in re.findall(r"\{(\w+)\}", text):
        if values is None or name not in values:
            raise ValueError(f"range uses variable {{{name}}}, which has no value")
        if not re.fullmatch(r"-?\d+", values[name].strip()):
            raise ValueError(f"range variable {{{name}}} is {values[name]!r}, not an integer")
        src = src.replace("{" + name + "}", f"({values[name].strip()})")
    if len(src) > _MAX_EXPR:
        raise ValueError(f"range expression longer than {_MAX_EXPR} characters")
    out: list[int] = []
    ops: list[str] = []

    def apply(op: str) -> None:
        if op == "neg":
            if not out:
                raise ValueError(f"invalid expression {text!r}")
            out.append(-out.pop())
            return
        if len(out) < 2:
            raise ValueError(f"invalid expression {text!r}")
        b, a = out.pop(), out.pop()
        if op == "/" and b == 0:
            raise ValueError(f"division by zero in {text!r}")
        if op == "^" and (b < 0 or b > 64):
            raise ValueError(f"exponent {b} out of range in {text!r}")
        r = {"+": a + b, "-": a - b, "*": a * b, "/": int(a / b) if b else 0, "^": a**b if op == "^" else 0}[op]
        if abs(r) > 10**9:
            raise ValueError(f"{text!r} is too large")
        out.append(r)

    pos, expect_operand = 0, True
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise ValueError(f"invalid expression {text!r}")
        pos = m.end()
        num, sym = m.groups()
        if num is not None:
            if not expect_operand:
                raise ValueError(f"invalid expression {text!r}")
            out.append(int(num))
            expect_operand = False
        elif sym == "(":
            ops.append("(")
            expect_operand = True
        elif sym == ")":
            while ops and ops[-1] != "(":
                apply(ops.pop())
            if not ops:
                raise ValueError(f"unbalanced parentheses in {text!r}")
            ops.pop()
            expect_operand = False
        elif expect_operand and sym == "-":
            ops.append("neg")
        elif expect_operand:
            raise ValueError(f"invalid expression {text!r}")
        else:
            while (
                ops
                and ops[-1] != "("
                and (ops[-1] == "neg" or _PREC[ops[-1]] > _PREC[sym] or (_PREC[ops[-1]] == _PREC[sym] and sym != "^"))
            ):
                apply(ops.pop())
            ops.append(sym)
            expect_operand = True
    while ops:
        op = ops.pop()
        if op == "(":
            raise ValueError(f"unbalanced parentheses in {text!r}")
        apply(op)
    if len(out) != 1 or expect_operand:
        raise ValueError(f"invalid expression {text!r}")
    return out[0]


def _split_range(text: str) -> tuple[str, str]:
    start, sep, end = text.strip().partition("..")
    if not sep or not start.strip() or not end.strip():
        raise ValueError(f"invalid range {text!r}: expected START..END")
    return start, end


def check_range(text: str) -> None:
    """Check the syntax of a range (``START..END``) without variables. Raises ValueError."""
    start, end = _split_range(text)
    probe = {name: "1" for name in re.findall(r"\{(\w+)\}", text)}
    eval_expr(start, probe)
    eval_expr(end, probe)


def eval_range(text: str, values: Mapping[str, str]) -> tuple[int, int]:
    """``(start, end)`` of a range such as ``"1..2^{disks}"`` (both inclusive). Raises ValueError."""
    start, end = _split_range(text)
    return eval_expr(start, values), eval_expr(end, values)


def _copy(s: Step) -> Step:
    from core.formulas.compose import _copy_step

    return _copy_step(s)


def _iteration(loop_step: Step, n: int, iter_vars: dict[str, str]) -> list[Step]:
    """One iteration of ``loop_step``'s body: ids ``LOOP.iterN.BODY``, needs and parents inside the
    body rewritten, ``{var}`` substituted in titles and descriptions (beads ``expandLoopIteration``)."""
    assert loop_step.loop is not None
    body_ids = {b.id for b in loop_step.loop.body}
    prefix = f"{loop_step.id}.iter{n}."
    out = []
    for b in loop_step.loop.body:
        s = _copy(b)
        s.id = prefix + b.id
        s.needs = [prefix + x if x in body_ids else x for x in b.needs]
        s.parent = prefix + b.parent if b.parent in body_ids else loop_step.parent
        s.key = f"{b.key}.iter{n}"
        for k, v in iter_vars.items():
            s.title = s.title.replace("{" + k + "}", v)
            s.description = s.description.replace("{" + k + "}", v)
        s.var_overrides = {**loop_step.var_overrides, **b.var_overrides, **iter_vars}
        out.append(s)
    return out


def _expand(loop_step: Step, values: Mapping[str, str]) -> list[Step]:
    """The steps one loop step becomes (its nested loops still in place)."""
    loop = loop_step.loop
    assert loop is not None
    where = (loop_step.source, loop_step.line, loop_step.key + ".loop")
    if loop.until:
        once = _iteration(loop_step, 1, {})
        once[0].labels = [*once[0].labels, "loop:until"]
        once[0].meta = {**once[0].meta, "loop": {"step": loop_step.id, "until": loop.until, "max": loop.max}}
        return once
    runs: list[tuple[int, dict[str, str]]]
    if loop.count is not None:
        runs = [(i, {}) for i in range(1, loop.count + 1)]
    else:
        try:
            start, end = eval_range(loop.range, {**values, **loop_step.var_overrides})
        except ValueError as exc:
            raise FormulaError(*where, str(exc), "pass the variables the range uses with --var") from None
        if end < start:
            raise FormulaError(*where, f"range {loop.range!r} is empty ({start}..{end})", "make END >= START")
        if end - start + 1 > MAX_COOKED_STEPS:
            raise FormulaError(*where, f"range {loop.range!r} has {end - start + 1} iterations", "use a smaller range")
        runs = [(i, {loop.var: str(v)} if loop.var else {}) for i, v in enumerate(range(start, end + 1), 1)]
    steps: list[Step] = []
    for n, iter_vars in runs:
        it = _iteration(loop_step, n, iter_vars)
        if steps:  # chain: this iteration's entry steps wait for the previous one's last step
            last = steps[-1].id
            inside = {s.id for s in it}
            for s in it:
                if s.parent == loop_step.parent and not any(x in inside for x in s.needs):
                    s.needs = [*s.needs, last]
        steps += it
        if len(steps) > MAX_COOKED_STEPS:
            raise FormulaError(*where, f"the loop makes more than {MAX_COOKED_STEPS} steps", "use fewer iterations")
    return steps


def apply_loops(steps: list[Step], values: Mapping[str, str]) -> list[Step]:
    """``steps`` with every loop (nested ones too) replaced by its iterations, spliced like an
    expansion (see the module note). values: bound variables for ranges. Raises FormulaError."""
    from core.formulas.compose import _splice

    work = list(steps)
    while any(s.loop is not None for s in work):
        target = next(s for s in work if s.loop is not None)
        work = _splice(work, target, _expand(target, values))
        if len(work) > MAX_COOKED_STEPS:
            raise FormulaError(
                target.source, target.line, target.key, f"more than {MAX_COOKED_STEPS} steps", "use fewer iterations"
            )
    return work


def filter_by_condition(steps: list[Step], values: Mapping[str, str]) -> list[Step]:
    """``steps`` without those whose condition fails for ``values`` (and without their children);
    a dropped step's needs pass to the steps that needed it. Raises FormulaError for a bad condition."""
    dropped: dict[str, list[str]] = {}
    kept: list[Step] = []
    for s in steps:  # flat list, parents before children
        try:
            holds = condition_holds(s.condition, {**values, **s.var_overrides})
        except ValueError as exc:
            raise FormulaError(s.source, s.line, s.key + ".condition", str(exc), "fix the condition") from None
        if not holds or s.parent in dropped:
            dropped[s.id] = list(s.needs)
        else:
            kept.append(s)
    if not dropped:
        return steps
    out = []
    for s in kept:
        needs: list[str] = []
        todo = list(s.needs)
        while todo:
            n = todo.pop(0)
            if n in dropped:
                todo = dropped[n] + todo
            elif n not in needs:
                needs.append(n)
        if needs != s.needs:
            s = _copy(s)
            s.needs = needs
        out.append(s)
    return out
