"""Parsing a formula file (TOML or JSON) into a :class:`Formula`: every known key checked, errors
naming the file, line and key, unexecuted keys listed in ``Formula.unsupported``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from core.errors import NotFound
from core.formulas.schema import (
    COMPOSE_KEYS,
    COMPOSE_UNSUPPORTED,
    FORMULA_TYPES,
    GATE_KEYS,
    GATE_TYPES,
    INPUT_KEYS,
    LOOP_KEYS,
    NAME_RE,
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

# --------------------------------------------------------------------------------------------------
# Line index: where each key path sits in the source text, so errors can name a line.


def _split_dotted(key: str) -> list[str]:
    """Split a TOML dotted key (``a."b.c".d``) into its parts."""
    parts, buf, quote = [], "", ""
    for ch in key:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    parts.append(buf.strip())
    return parts


def _toml_line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map key paths (``("steps", 2, "needs")``) to 1-based line numbers of a TOML text.

    A line scanner, not a parser: it follows table headers, arrays of tables, ``key =`` lines and
    skips multi-line strings and arrays. Used only after the text parsed, to point errors at lines.
    """
    index: dict[tuple[Any, ...], int] = {}
    aot: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    in_string = ""
    depth = 0

    def resolve(parts: list[str]) -> tuple[Any, ...]:
        path: tuple[Any, ...] = ()
        for p in parts:
            path += (p,)
            if path in aot:
                path += (aot[path] - 1,)
        return path

    for lineno, line in enumerate(text.splitlines(), 1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = ""
            continue
        stripped = line.strip()
        if depth > 0:
            depth += _bracket_delta(stripped)
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            parts = _split_dotted(stripped[2 : stripped.find("]]")] if "]]" in stripped else stripped[2:])
            parent = resolve(parts[:-1]) + (parts[-1],)
            aot[parent] = aot.get(parent, 0) + 1
            table = parent + (aot[parent] - 1,)
            index.setdefault(parent, lineno)
            index[table] = lineno
            continue
        if stripped.startswith("["):
            end = stripped.find("]")
            table = resolve(_split_dotted(stripped[1:end] if end > 0 else stripped[1:]))
            index.setdefault(table, lineno)
            continue
        eq = _find_equals(stripped)
        if eq < 0:
            continue
        path = table + tuple(_split_dotted(stripped[:eq]))
        index.setdefault(path, lineno)
        rest = stripped[eq + 1 :]
        for quote in ('"""', "'''"):
            if rest.count(quote) % 2 == 1:
                in_string = quote
                break
        else:
            depth = max(0, _bracket_delta(rest))
    return index


def _find_equals(line: str) -> int:
    """Index of the ``=`` separating a key from its value (outside quotes), or -1."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return i
        elif ch == "#":
            return -1
    return -1


def _bracket_delta(text: str) -> int:
    """Opened minus closed ``[``/``{`` outside quoted strings and comments."""
    delta, quote, escape = 0, "", False
    for ch in text:
        if quote:
            if escape:
                escape = False
            elif ch == "\\" and quote == '"':
                escape = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            delta += 1
        elif ch in "]}":
            delta -= 1
    return delta


def _json_line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map key paths to 1-based line numbers of a (valid) JSON text, by scanning it once."""
    index: dict[tuple[Any, ...], int] = {}
    pos, line, n = 0, 1, len(text)

    def skip_ws() -> None:
        nonlocal pos, line
        while pos < n and text[pos] in " \t\r\n":
            if text[pos] == "\n":
                line += 1
            pos += 1

    def read_string() -> str:
        nonlocal pos
        end = pos + 1
        while end < n and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        raw = text[pos : end + 1]
        pos = end + 1
        try:
            return str(json.loads(raw))
        except ValueError:
            return raw

    def value(path: tuple[Any, ...]) -> None:
        nonlocal pos
        skip_ws()
        index.setdefault(path, line)
        if pos >= n:
            return
        ch = text[pos]
        if ch == "{":
            pos += 1
            while True:
                skip_ws()
                if pos >= n or text[pos] == "}":
                    pos += 1
                    return
                if text[pos] == ",":
                    pos += 1
                    continue
                key_line = line
                key = read_string()
                index.setdefault(path + (key,), key_line)
                skip_ws()
                pos += 1  # the colon
                value(path + (key,))
        elif ch == "[":
            pos += 1
            i = 0
            while True:
                skip_ws()
                if pos >= n or text[pos] == "]":
                    pos += 1
                    return
                if text[pos] == ",":
                    pos += 1
                    continue
                value(path + (i,))
                i += 1
        elif ch == '"':
            read_string()
        else:
            while pos < n and text[pos] not in ",]} \t\r\n":
                pos += 1

    try:
        value(())
    except RecursionError:
        pass
    return index


def _fmt_key(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# --------------------------------------------------------------------------------------------------
# Parsing


class _Reader:
    """Validation helpers bound to one source text: they know where each key path is."""

    def __init__(self, source: str, index: dict[tuple[Any, ...], int]) -> None:
        self.source = source
        self.index = index
        self.formula = ""
        self.unsupported: list[Unsupported] = []

    def line(self, path: tuple[Any, ...]) -> int | None:
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.index:
                return self.index[path[:cut]]
        return None

    def fail(self, path: tuple[Any, ...], problem: str, fix: str) -> FormulaError:
        return FormulaError(self.source, self.line(path), _fmt_key(path), problem, fix)

    def note(self, path: tuple[Any, ...], reason: str) -> None:
        self.unsupported.append(Unsupported(self.formula, self.source, _fmt_key(path), self.line(path), reason))

    def table(self, value: Any, path: tuple[Any, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {_kind(value)}", "write it as a [table]")
        return value

    def table_list(self, value: Any, path: tuple[Any, ...]) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(path, f"expected an array of tables, got {_kind(value)}", f"write [[{path[-1]}]] entries")
        for i, item in enumerate(value):
            self.table(item, path + (i,))
        return value

    def string(self, d: dict[str, Any], key: str, path: tuple[Any, ...], required: bool = False) -> str:
        if key not in d:
            if required:
                raise self.fail(path, f"missing required key {key!r}", f'add {key} = "..."')
            return ""
        v = d[key]
        if not isinstance(v, str):
            raise self.fail(path + (key,), f"expected a string, got {_kind(v)}", "quote the value")
        return v

    def strings(self, d: dict[str, Any], key: str, path: tuple[Any, ...], allow_single: bool = False) -> list[str]:
        if key not in d:
            return []
        v = d[key]
        if allow_single and isinstance(v, str):
            return [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(path + (key,), f"expected an array of strings, got {_kind(v)}", f'write {key} = ["a", "b"]')
        return list(v)

    def boolean(self, d: dict[str, Any], key: str, path: tuple[Any, ...]) -> bool | None:
        if key not in d:
            return None
        v = d[key]
        if not isinstance(v, bool):
            raise self.fail(path + (key,), f"expected true or false, got {_kind(v)}", "write true or false")
        return v

    def integer(self, d: dict[str, Any], key: str, path: tuple[Any, ...], lo: int, hi: int) -> int | None:
        if key not in d:
            return None
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            got = repr(v) if isinstance(v, int) and not isinstance(v, bool) else _kind(v)
            raise self.fail(
                path + (key,),
                f"expected an integer {lo}..{hi}, got {got}"[:200],
                f"write an integer between {lo} and {hi}",
            )
        return v

    def str_map(self, d: dict[str, Any], key: str, path: tuple[Any, ...]) -> dict[str, str]:
        if key not in d:
            return {}
        t = self.table(d[key], path + (key,))
        out = {}
        for k, v in t.items():
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise self.fail(path + (key, k), f"expected a string, got {_kind(v)}", "quote the value")
            out[k] = v if isinstance(v, str) else str(v)
        return out

    def check_keys(
        self,
        d: dict[str, Any],
        path: tuple[Any, ...],
        known: set[str],
        unsupported: Mapping[str, str] | None = None,
        context: str = "",
    ) -> None:
        """Note every key of ``d`` outside ``known``: the reason from ``unsupported``, else "unknown key".
        context: prefixed to the reason (e.g. ``step await-ci``)."""
        unsupported = unsupported or {}
        lead = f"{context}: " if context else ""
        for k in d:
            if k in known:
                continue
            if k in unsupported:
                self.note(path + (k,), lead + unsupported[k])
            else:
                self.note(path + (k,), lead + "unknown key, not part of the formula schema; ignored")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def parse_formula(data: str | bytes, source: str = "<formula>", expected_name: str | None = None) -> Formula:
    """Parse one formula from TOML or JSON text (JSON when ``source`` ends in ``.json`` or the text
    starts with ``{``).

    source: the file path (or a label) used in messages. expected_name: the name the file is looked
    up by (its stem); a different ``formula`` key is an error.
    Raises FormulaError (file, line, key, fix) for malformed input, and for nothing else.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormulaError(
                source, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})", "save the file as UTF-8"
            ) from None
    is_json = source.endswith(".json") or data.lstrip().startswith("{")
    try:
        if is_json:
            raw = json.loads(data)
            index = _json_line_index(data)
        else:
            import tomlkit  # a TOML formula: its import is paid only when one is parsed

            raw = tomlkit.parse(data).unwrap()
            index = _toml_line_index(data)
    except json.JSONDecodeError as exc:
        raise FormulaError(source, exc.lineno, "", f"invalid JSON ({exc.msg})", "fix the syntax") from None
    except Exception as exc:  # noqa: BLE001 - tomlkit raises ParseError and, on odd input, a few others
        line = getattr(exc, "line", None)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = re.sub(r" at line \d+ col \d+$", "", msg)
        raise FormulaError(
            source,
            line if isinstance(line, int) else None,
            "",
            f"invalid {'JSON' if is_json else 'TOML'} ({msg})",
            "fix the syntax",
        ) from None
    r = _Reader(source, index)
    if not isinstance(raw, dict):
        raise r.fail((), f"expected a table at the top, got {_kind(raw)}", "write a formula table")
    return _build(raw, r, expected_name)


def _build(raw: dict[str, Any], r: _Reader, expected_name: str | None) -> Formula:
    name = r.string(raw, "formula", (), required=True)
    if not NAME_RE.match(name):
        raise r.fail(
            ("formula",),
            f"invalid formula name {name!r}",
            "use letters, digits, '.', '_' and '-' (a letter or digit first)",
        )
    if expected_name is not None and name != expected_name:
        raise r.fail(
            ("formula",),
            f"the file is named {expected_name!r} but declares formula = {name!r}",
            f"rename the file to {name}.formula.toml or fix the key",
        )
    r.formula = name
    f = Formula(name=name, source=r.source)
    r.check_keys(raw, (), TOP_KEYS, TOP_UNSUPPORTED)
    f.description = r.string(raw, "description", ())
    version = r.integer(raw, "version", (), 0, 1_000_000)
    f.version = 1 if version is None else version
    ftype = r.string(raw, "type", ()) or "workflow"
    if ftype not in FORMULA_TYPES:
        raise r.fail(("type",), f"unknown formula type {ftype!r}", f"use one of {', '.join(FORMULA_TYPES)}")
    f.type = ftype
    f.extends = r.strings(raw, "extends", (), allow_single=True)
    f.extends_line = r.line(("extends",))
    for parent in f.extends:
        if not NAME_RE.match(parent):
            raise r.fail(("extends",), f"invalid formula name {parent!r}", "name an existing formula")
    f.phase = r.string(raw, "phase", ())
    if f.phase not in ("", "liquid", "vapor"):
        raise r.fail(("phase",), f"unknown phase {f.phase!r}", 'use "liquid" or "vapor"')
    f.pour = r.boolean(raw, "pour", ())
    f.agent = r.string(raw, "agent", ())
    f.review_only = bool(r.boolean(raw, "review_only", ()))

    if "vars" in raw:
        for vname, vdef in r.table(raw["vars"], ("vars",)).items():
            f.vars[vname] = _parse_var(r, vname, vdef, ("vars", vname), VAR_KEYS)
    if "inputs" in raw:
        for vname, vdef in r.table(raw["inputs"], ("inputs",)).items():
            if vname in f.vars:
                raise r.fail(("inputs", vname), f"{vname!r} is declared in both [vars] and [inputs]", "declare it once")
            f.vars[vname] = _parse_var(r, vname, vdef, ("inputs", vname), INPUT_KEYS)
        for v in f.vars.values():
            for other in v.required_unless:
                if other not in f.vars:
                    raise r.fail(
                        ("inputs", v.name, "required_unless"),
                        f"unknown input {other!r}",
                        "name inputs declared in [inputs]",
                    )

    f.steps = _parse_steps(r, raw, "steps", STEP_ID_RE)
    f.template = _parse_steps(r, raw, "template", TEMPLATE_ID_RE)
    f.legs = _parse_legs(r, raw)
    if "synthesis" in raw:
        f.synthesis = _parse_synthesis(r, raw["synthesis"])
    if "compose" in raw:
        compose = r.table(raw["compose"], ("compose",))
        r.check_keys(compose, ("compose",), COMPOSE_KEYS, COMPOSE_UNSUPPORTED)
        for kind in ("expand", "map"):
            if kind in compose:
                for i, rule in enumerate(r.table_list(compose[kind], ("compose", kind))):
                    f.expand.append(_parse_expand(r, rule, ("compose", kind, i), is_map=kind == "map"))
        f.aspects = r.strings(compose, "aspects", ("compose",), allow_single=True)
        if "branch" in compose:
            for i, rule in enumerate(r.table_list(compose["branch"], ("compose", "branch"))):
                bpath: tuple[Any, ...] = ("compose", "branch", i)
                r.check_keys(rule, bpath, {"from", "steps", "join"})
                f.branches.append(
                    Branch(
                        from_=r.string(rule, "from", bpath, required=True),
                        steps=r.strings(rule, "steps", bpath) or _missing(r, bpath, "steps"),
                        join=r.string(rule, "join", bpath, required=True),
                        source=r.source,
                        line=r.line(bpath),
                        key=_fmt_key(bpath),
                    )
                )
    if "advice" in raw:
        for i, adv in enumerate(r.table_list(raw["advice"], ("advice",))):
            f.advice.append(_parse_advice(r, adv, ("advice", i)))
    if "pointcuts" in raw:
        for i, pc in enumerate(r.table_list(raw["pointcuts"], ("pointcuts",))):
            path = ("pointcuts", i)
            r.check_keys(pc, path, {"glob", "type", "label"})
            f.pointcuts.append(
                Pointcut(r.string(pc, "glob", path), r.string(pc, "type", path), r.string(pc, "label", path))
            )
    _check_shape(f, r)
    f.unsupported = r.unsupported
    return f


def _missing(r: _Reader, path: tuple[Any, ...], key: str) -> list[str]:
    raise r.fail(path, f"missing required key {key!r}", f'add {key} = ["a", "b"]')


def _parse_var(r: _Reader, name: str, vdef: Any, path: tuple[Any, ...], known: set[str]) -> VarDef:
    if not VAR_NAME_RE.match(name):
        raise r.fail(path, f"invalid variable name {name!r}", "use letters, digits, '_' and '-', a letter first")
    v = VarDef(name=name, source=r.source, line=r.line(path))
    if isinstance(vdef, str):
        v.default = vdef
        return v
    d = r.table(vdef, path)
    r.check_keys(d, path, known)
    v.description = r.string(d, "description", path)
    v.required = bool(r.boolean(d, "required", path))
    if "default" in d:
        dv = d["default"]
        if isinstance(dv, bool):
            v.default = "true" if dv else "false"
        elif isinstance(dv, (str, int, float)):
            v.default = str(dv)
        else:
            raise r.fail(path + ("default",), f"expected a string, got {_kind(dv)}", "quote the default")
    v.enum = r.strings(d, "enum", path)
    v.pattern = r.string(d, "pattern", path) or None
    if v.pattern is not None:
        try:
            re.compile(v.pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise r.fail(path + ("pattern",), f"invalid regular expression ({exc})", "fix the pattern") from None
    vtype = r.string(d, "type", path) or "string"
    if vtype not in VAR_TYPES:
        raise r.fail(path + ("type",), f"unknown variable type {vtype!r}", f"use one of {', '.join(VAR_TYPES)}")
    v.type = vtype
    v.required_unless = r.strings(d, "required_unless", path, allow_single=True)
    return v


def _parse_step(
    r: _Reader, d: dict[str, Any], path: tuple[Any, ...], id_re: re.Pattern[str], default_id: str | None = None
) -> Step:
    sid = r.string(d, "id", path, required=default_id is None) or (default_id or "")
    if not id_re.match(sid):
        raise r.fail(
            path + ("id",),
            f"invalid step id {sid!r}",
            "use letters, digits, '.', '_' and '-' (a letter or digit first)",
        )
    r.check_keys(d, path, STEP_KEYS, STEP_UNSUPPORTED, context=f"step {sid}")
    step = Step(id=sid, formula=r.formula, source=r.source, line=r.line(path), key=_fmt_key(path))
    step.title = r.string(d, "title", path)
    step.description = r.string(d, "description", path)
    step.notes = r.string(d, "notes", path)
    step.type = r.string(d, "type", path)
    step.acceptance = r.string(d, "acceptance", path)
    step.assignee = r.string(d, "assignee", path)
    step.agent = r.string(d, "agent", path)
    step.labels = r.strings(d, "labels", path)
    step.priority = r.integer(d, "priority", path, 0, 4)
    needs = r.strings(d, "needs", path, allow_single=True) + r.strings(d, "depends_on", path, allow_single=True)
    step.needs = list(dict.fromkeys(needs))
    step.expand = r.string(d, "expand", path)
    if step.expand and not NAME_RE.match(step.expand):
        raise r.fail(path + ("expand",), f"invalid formula name {step.expand!r}", "name an expansion formula")
    step.expand_vars = r.str_map(d, "expand_vars", path)
    step.condition = r.string(d, "condition", path)
    if step.condition:
        from core.formulas.control import parse_condition

        try:
            parse_condition(step.condition)
        except ValueError as exc:
            raise r.fail(path + ("condition",), str(exc), 'write "{{var}}", "!{{var}}" or "{{var}} == value"') from None
    step.waits_for = r.string(d, "waits_for", path)
    if step.waits_for and not _WAITS_FOR_RE.match(step.waits_for):
        raise r.fail(
            path + ("waits_for",),
            f"unknown waits_for {step.waits_for!r}",
            'use "all-children", "any-children" or "children-of(STEP)"',
        )
    step.parallel = bool(r.boolean(d, "parallel", path))
    step.interactive = bool(r.boolean(d, "interactive", path))
    step.review_only = bool(r.boolean(d, "review_only", path))
    if "gate" in d:
        step.gate = _parse_gate(r, d["gate"], path + ("gate",), sid)
    if "loop" in d:
        loop = r.table(d["loop"], path + ("loop",))
        step.loop = _parse_loop(r, loop, path + ("loop",), id_re)
    return step


_WAITS_FOR_RE = re.compile(r"^(all-children|any-children|children-of\([A-Za-z0-9][A-Za-z0-9._-]*\))$")
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _parse_gate(r: _Reader, value: Any, path: tuple[Any, ...], sid: str) -> Gate:
    """``[steps.gate]``: type, id/await_id, timeout (a Go duration such as ``30m`` or ``1h30m``)."""
    d = r.table(value, path)
    r.check_keys(
        d, path, GATE_KEYS, {"condition": "conditional gates are not evaluated; resolve by hand"}, f"step {sid}"
    )
    gtype = r.string(d, "type", path, required=True)
    gate = Gate(type=gtype, await_id=r.string(d, "await_id", path) or r.string(d, "id", path))
    timeout = r.string(d, "timeout", path)
    if timeout:
        m = _DURATION_RE.match(timeout)
        if not m or not any(m.groups()):
            raise r.fail(path + ("timeout",), f"invalid duration {timeout!r}", 'write it like "90s", "30m" or "1h30m"')
        h, mi, se = (int(x or 0) for x in m.groups())
        gate.timeout_s = h * 3600 + mi * 60 + se
    if gtype == "timer" and gate.timeout_s is None:
        raise r.fail(path, "a timer gate needs a timeout", 'add timeout = "30m"')
    if gtype == "mail" and not gate.await_id:
        raise r.fail(path, "a mail gate needs the subject it waits for", 'add id = "SUBJECT"')
    if gtype not in GATE_TYPES:
        r.note(
            path + ("type",),
            f"step {sid}: {gtype} gates are not checked here (unavailable); the gate bead waits for 'gt gate resolve'",
        )
    return gate


def _parse_loop(r: _Reader, d: dict[str, Any], path: tuple[Any, ...], id_re: re.Pattern[str]) -> Loop:
    """``[steps.loop]``: exactly one of count, range, until (until needs max), and a body."""
    r.check_keys(d, path, LOOP_KEYS)
    loop = Loop(body=[])
    loop.count = r.integer(d, "count", path, 1, 10_000)
    loop.range = r.string(d, "range", path)
    loop.until = r.string(d, "until", path)
    loop.max = r.integer(d, "max", path, 1, 10_000)
    loop.var = r.string(d, "var", path)
    kinds = [k for k in ("count", "range", "until") if d.get(k)]
    if len(kinds) != 1:
        raise r.fail(path, f"a loop needs exactly one of count, range, until (got {len(kinds)})", "keep one")
    if loop.until and loop.max is None:
        raise r.fail(path, "an until loop needs max", "add max = N")
    if loop.range:
        from core.formulas.control import check_range

        try:
            check_range(loop.range)
        except ValueError as exc:
            raise r.fail(path + ("range",), str(exc), 'write "START..END", e.g. "1..2^{disks}"') from None
    if "body" not in d:
        raise r.fail(path, "a loop needs a body", "add [[steps.loop.body]] steps")
    loop.body = _parse_tree(r, r.table_list(d["body"], path + ("body",)), path + ("body",), id_re)
    return loop


def _parse_tree(
    r: _Reader, items: list[dict[str, Any]], path: tuple[Any, ...], id_re: re.Pattern[str], parent: str = ""
) -> list[Step]:
    """Steps and their nested ``children`` as one flat list, each child right after its parent (in the
    file's order) with ``parent`` set. An explicit stack, so any depth parses without recursion."""
    out: list[Step] = []
    stack: list[tuple[dict[str, Any], tuple[Any, ...], str]] = [
        (d, path + (i,), parent) for i, d in reversed(list(enumerate(items)))
    ]
    while stack:
        d, p, par = stack.pop()
        rest = {k: v for k, v in d.items() if k != "children"}
        step = _parse_step(r, rest, p, id_re)
        step.parent = par
        out.append(step)
        if "children" in d:
            kids = r.table_list(d["children"], p + ("children",))
            stack += [(k, p + ("children", i), step.id) for i, k in reversed(list(enumerate(kids)))]
    return out


def _parse_steps(r: _Reader, raw: dict[str, Any], key: str, id_re: re.Pattern[str]) -> list[Step]:
    if key not in raw:
        return []
    steps = _parse_tree(r, r.table_list(raw[key], (key,)), (key,), id_re)
    seen: dict[str, str] = {}
    for step in steps:
        if step.id in seen:
            raise r.fail(
                tuple(_split_key(step.key)) + ("id",),
                f"duplicate step id {step.id!r} (also {seen[step.id]})",
                "give every step a unique id",
            )
        seen[step.id] = step.key
    return steps


def _split_key(key: str) -> list[Any]:
    """``steps[2].children[0]`` back into its path parts, to point an error at a line."""
    parts: list[Any] = []
    for name, idx in re.findall(r"([A-Za-z_]+)|\[(\d+)\]", key):
        parts.append(name if name else int(idx))
    return parts


def _parse_legs(r: _Reader, raw: dict[str, Any]) -> list[Step]:
    if "legs" not in raw:
        return []
    legs: list[Step] = []
    for i, d in enumerate(r.table_list(raw["legs"], ("legs",))):
        path = ("legs", i)
        if "children" in d:
            raise r.fail(path + ("children",), "legs have no children", "write the leg's work in its description")
        focus = d.get("focus")
        rest = {k: v for k, v in d.items() if k != "focus"}
        leg = _parse_step(r, rest, path, STEP_ID_RE)
        if focus is not None:
            if not isinstance(focus, str):
                raise r.fail(path + ("focus",), f"expected a string, got {_kind(focus)}", "quote the value")
            leg.description = f"Focus: {focus}\n\n{leg.description}".rstrip()
        if any(leg.id == other.id for other in legs):
            raise r.fail(path + ("id",), f"duplicate leg id {leg.id!r}", "give every leg a unique id")
        legs.append(leg)
    return legs


def _parse_synthesis(r: _Reader, value: Any) -> Step:
    d = r.table(value, ("synthesis",))
    return _parse_step(r, d, ("synthesis",), STEP_ID_RE, default_id="synthesis")


def _parse_expand(r: _Reader, d: dict[str, Any], path: tuple[Any, ...], is_map: bool) -> ExpandRule:
    target_key = "select" if is_map else "target"
    r.check_keys(d, path, {target_key, "with", "vars"})
    target = r.string(d, target_key, path, required=True)
    with_ = r.string(d, "with", path, required=True)
    if not NAME_RE.match(with_):
        raise r.fail(path + ("with",), f"invalid formula name {with_!r}", "name an expansion formula")
    return ExpandRule(
        target=target,
        with_=with_,
        vars=r.str_map(d, "vars", path),
        is_map=is_map,
        source=r.source,
        line=r.line(path),
        key=_fmt_key(path),
    )


def _parse_advice(r: _Reader, d: dict[str, Any], path: tuple[Any, ...]) -> Advice:
    r.check_keys(d, path, {"target", "before", "after", "around"})
    adv = Advice(target=r.string(d, "target", path, required=True))
    for where in ("before", "after"):
        if where in d:
            getattr(adv, where).append(
                _parse_step(r, r.table(d[where], path + (where,)), path + (where,), TEMPLATE_ID_RE)
            )
    if "around" in d:
        around = r.table(d["around"], path + ("around",))
        r.check_keys(around, path + ("around",), {"before", "after"})
        for where in ("before", "after"):
            if where in around:
                p = path + ("around", where)
                for i, sd in enumerate(r.table_list(around[where], p)):
                    getattr(adv, where).append(_parse_step(r, sd, p + (i,), TEMPLATE_ID_RE))
    if not adv.before and not adv.after:
        raise r.fail(path, "advice inserts no step", "add before, after or around.before/after steps")
    return adv


def _check_shape(f: Formula, r: _Reader) -> None:
    """Type-specific requirements: what each kind of formula must contain."""
    if f.type == "expansion" and not f.template:
        raise r.fail(("template",), "an expansion formula needs [[template]] steps", "add [[template]] entries")
    if f.type == "aspect" and not f.advice:
        raise r.fail(("advice",), "an aspect formula needs [[advice]] rules", "add [[advice]] entries")
    if f.type == "convoy" and not f.legs:
        raise r.fail(("legs",), "a convoy formula needs [[legs]]", "add [[legs]] entries")
    if f.type == "workflow" and not f.steps and not f.extends:
        raise r.fail(("steps",), "a workflow formula needs [[steps]] or extends", "add [[steps]] entries")
    if f.type != "convoy" and (f.legs or f.synthesis):
        r.note(
            ("legs",) if f.legs else ("synthesis",),
            f"legs and synthesis are only used by convoy formulas, not {f.type}; ignored",
        )
    if f.type != "expansion" and f.template:
        r.note(("template",), f"[[template]] is only used by expansion formulas, not {f.type}; ignored")


def load_formula(path: str | Path) -> Formula:
    """Parse the formula file at ``path`` (``NAME.formula.toml`` or ``NAME.formula.json``).

    Raises FormulaError for a malformed file, NotFound if it does not exist.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no formula file {p}: check the path") from None
    return parse_formula(data, str(p), expected_name=formula_name(p.name))


def formula_name(filename: str) -> str | None:
    """The formula name of a file name (``shiny.formula.toml`` -> ``shiny``), or None if not a formula."""
    for suffix in SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None
