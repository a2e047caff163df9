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
file, line and key for anything malformed, and lists every key it cannot execute yet (async gates,
loops, conditions, Go-template prompts, wisps...) in ``Formula.unsupported``: nothing is silently
ignored. **Search path** (:class:`FormulaLibrary`): ``<town>/.beads/formulas``, then
``.beads/formulas`` in a rig's repository (read from its bare repo's default branch), then the
built-ins shipped in ``core/builtin_formulas``; the first file of a name wins. **Cook** (:func:`cook`)
resolves ``extends``, expansions and aspects, binds and checks the variables, substitutes
``{{var}}`` and returns the steps in dependency order; pouring them into beads is ``core.molecules``.

Differences from the Go original, on purpose: an expansion's first template steps inherit the
target's ``needs`` and the target's dependents wait for the expansion's last steps (the Go code
drops the former); advice ``before`` steps inherit the target's ``needs`` and the target's dependents
wait for the last ``after`` step, so "around" really wraps the step.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from core import git
from core.errors import GtError, NotFound

FORMULA_TYPES = ("workflow", "expansion", "aspect", "convoy")
SUFFIXES = (".formula.toml", ".formula.json")
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_formulas"
RIG_FORMULAS_PATH = ".beads/formulas"
MAX_EXPANSION_DEPTH = 5

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STEP_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TEMPLATE_ID_RE = re.compile(r"^[A-Za-z0-9{][A-Za-z0-9._{}-]{0,127}$")
VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# {{name}} placeholders (beads/Gas Town syntax). Go-template actions ({{.x}}, {{end}}...) are left alone
# unless their word is a declared variable.
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
VAR_TYPES = ("string", "int", "bool", "number")

# Keys read and executed.
TOP_KEYS = {"formula", "description", "version", "type", "extends", "vars", "steps", "template",
            "compose", "advice", "pointcuts", "legs", "synthesis", "inputs", "pour", "phase"}
STEP_KEYS = {"id", "title", "description", "notes", "type", "priority", "labels", "needs", "depends_on",
             "acceptance", "assignee", "agent", "expand", "expand_vars"}
VAR_KEYS = {"description", "required", "default", "enum", "pattern", "type"}
INPUT_KEYS = VAR_KEYS | {"required_unless"}
# Keys of the schema that are parsed but not executed yet: key -> what happens instead.
TOP_UNSUPPORTED = {
    "prompts": "Go text/template prompts are not rendered; leg descriptions are used as they are",
    "output": "convoy output locations are not managed; legs decide where to write",
    "presets": "leg presets are not selectable yet; every leg is poured",
}
STEP_UNSUPPORTED = {
    "gate": "async gates are not executed yet; the step is poured as a plain bead",
    "loop": "loops are not expanded yet; the step is poured once",
    "on_complete": "runtime for-each expansion is not supported; the step is poured as a plain bead",
    "condition": "conditional steps are not evaluated yet; the step is always poured",
    "children": "nested child steps are not poured yet",
    "waits_for": "fan-out gates are not supported; the step is poured as a plain bead",
}
COMPOSE_KEYS = {"expand", "map", "aspects"}
COMPOSE_UNSUPPORTED = {
    "bond_points": "bond points are not supported",
    "hooks": "compose hooks are not supported",
    "branch": "branch rules are not supported; write the fork and join as needs",
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
class Step:
    """One step (or template/advice step) as written in a formula.

    ``needs`` merges ``needs`` and ``depends_on`` (beads merges them when cooking). ``source``/``line``/
    ``key`` locate it for errors. ``formula`` is the name of the formula that defined it.
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
    """A parsed formula file. ``source`` is its path (or label); ``unsupported`` lists keys not executed."""

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
    aspects: list[str] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)
    pointcuts: list[Pointcut] = field(default_factory=list)
    legs: list[Step] = field(default_factory=list)
    synthesis: Step | None = None
    phase: str = ""
    pour: bool | None = None
    unsupported: list[Unsupported] = field(default_factory=list)
    extends_line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: name, type, version, description, source, vars, step ids, unsupported."""
        return {
            "name": self.name, "type": self.type, "version": self.version, "description": self.description,
            "source": self.source, "extends": self.extends,
            "vars": {v.name: {"description": v.description, "required": v.required, "default": v.default,
                              "enum": v.enum, "pattern": v.pattern, "type": v.type} for v in self.vars.values()},
            "steps": [s.id for s in self.steps or self.template or self.legs],
            "unsupported": [str(u) for u in self.unsupported],
        }


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
            parts = _split_dotted(stripped[2:stripped.find("]]")] if "]]" in stripped else stripped[2:])
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
        rest = stripped[eq + 1:]
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
        raw = text[pos:end + 1]
        pos = end + 1
        try:
            return json.loads(raw)
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
                raise self.fail(path, f"missing required key {key!r}", f"add {key} = \"...\"")
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
            raise self.fail(path + (key,), f"expected an array of strings, got {_kind(v)}",
                            f"write {key} = [\"a\", \"b\"]")
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
            raise self.fail(path + (key,), f"expected an integer {lo}..{hi}, got {got}"[:200],
                            f"write an integer between {lo} and {hi}")
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

    def check_keys(self, d: dict[str, Any], path: tuple[Any, ...], known: set[str],
                   unsupported: Mapping[str, str] | None = None, context: str = "") -> None:
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
            raise FormulaError(source, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                               "save the file as UTF-8") from None
    is_json = source.endswith(".json") or data.lstrip().startswith("{")
    try:
        if is_json:
            raw = json.loads(data)
            index = _json_line_index(data)
        else:
            raw = tomlkit.parse(data).unwrap()
            index = _toml_line_index(data)
    except json.JSONDecodeError as exc:
        raise FormulaError(source, exc.lineno, "", f"invalid JSON ({exc.msg})", "fix the syntax") from None
    except Exception as exc:  # tomlkit raises ParseError and, on odd input, a few others
        line = getattr(exc, "line", None)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = re.sub(r" at line \d+ col \d+$", "", msg)
        raise FormulaError(source, line if isinstance(line, int) else None, "",
                           f"invalid {'JSON' if is_json else 'TOML'} ({msg})", "fix the syntax") from None
    r = _Reader(source, index)
    if not isinstance(raw, dict):
        raise r.fail((), f"expected a table at the top, got {_kind(raw)}", "write a formula table")
    return _build(raw, r, expected_name)


def _build(raw: dict[str, Any], r: _Reader, expected_name: str | None) -> Formula:
    name = r.string(raw, "formula", (), required=True)
    if not NAME_RE.match(name):
        raise r.fail(("formula",), f"invalid formula name {name!r}",
                     "use letters, digits, '.', '_' and '-' (a letter or digit first)")
    if expected_name is not None and name != expected_name:
        raise r.fail(("formula",), f"the file is named {expected_name!r} but declares formula = {name!r}",
                     f"rename the file to {name}.formula.toml or fix the key")
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
    if f.phase == "vapor":
        r.note(("phase",), "wisps (vapor phase) are not supported; the formula is poured as a normal molecule")
    elif f.phase not in ("", "liquid"):
        raise r.fail(("phase",), f"unknown phase {f.phase!r}", "use \"liquid\" or \"vapor\"")
    f.pour = r.boolean(raw, "pour", ())

    if "vars" in raw:
        for vname, vdef in r.table(raw["vars"], ("vars",)).items():
            f.vars[vname] = _parse_var(r, vname, vdef, ("vars", vname), VAR_KEYS)
    if "inputs" in raw:
        for vname, vdef in r.table(raw["inputs"], ("inputs",)).items():
            if vname in f.vars:
                raise r.fail(("inputs", vname), f"{vname!r} is declared in both [vars] and [inputs]",
                             "declare it once")
            f.vars[vname] = _parse_var(r, vname, vdef, ("inputs", vname), INPUT_KEYS)
        for v in f.vars.values():
            for other in v.required_unless:
                if other not in f.vars:
                    raise r.fail(("inputs", v.name, "required_unless"), f"unknown input {other!r}",
                                 "name inputs declared in [inputs]")

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
    if "advice" in raw:
        for i, adv in enumerate(r.table_list(raw["advice"], ("advice",))):
            f.advice.append(_parse_advice(r, adv, ("advice", i)))
    if "pointcuts" in raw:
        for i, pc in enumerate(r.table_list(raw["pointcuts"], ("pointcuts",))):
            path = ("pointcuts", i)
            r.check_keys(pc, path, {"glob", "type", "label"})
            f.pointcuts.append(Pointcut(r.string(pc, "glob", path), r.string(pc, "type", path),
                                        r.string(pc, "label", path)))
    _check_shape(f, r)
    f.unsupported = r.unsupported
    return f


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


def _parse_step(r: _Reader, d: dict[str, Any], path: tuple[Any, ...], id_re: re.Pattern[str],
                default_id: str | None = None) -> Step:
    sid = r.string(d, "id", path, required=default_id is None) or (default_id or "")
    if not id_re.match(sid):
        raise r.fail(path + ("id",), f"invalid step id {sid!r}",
                     "use letters, digits, '.', '_' and '-' (a letter or digit first)")
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
    return step


def _parse_steps(r: _Reader, raw: dict[str, Any], key: str, id_re: re.Pattern[str]) -> list[Step]:
    if key not in raw:
        return []
    steps: list[Step] = []
    seen: dict[str, int] = {}
    for i, d in enumerate(r.table_list(raw[key], (key,))):
        step = _parse_step(r, d, (key, i), id_re)
        if step.id in seen:
            raise r.fail((key, i, "id"), f"duplicate step id {step.id!r} (also {key}[{seen[step.id]}])",
                         "give every step a unique id")
        seen[step.id] = i
        steps.append(step)
    return steps


def _parse_legs(r: _Reader, raw: dict[str, Any]) -> list[Step]:
    if "legs" not in raw:
        return []
    legs: list[Step] = []
    for i, d in enumerate(r.table_list(raw["legs"], ("legs",))):
        path = ("legs", i)
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
    return ExpandRule(target=target, with_=with_, vars=r.str_map(d, "vars", path), is_map=is_map,
                      source=r.source, line=r.line(path), key=_fmt_key(path))


def _parse_advice(r: _Reader, d: dict[str, Any], path: tuple[Any, ...]) -> Advice:
    r.check_keys(d, path, {"target", "before", "after", "around"})
    adv = Advice(target=r.string(d, "target", path, required=True))
    for where in ("before", "after"):
        if where in d:
            getattr(adv, where).append(_parse_step(r, r.table(d[where], path + (where,)), path + (where,),
                                                   TEMPLATE_ID_RE))
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
        r.note(("legs",) if f.legs else ("synthesis",), f"legs and synthesis are only used by convoy formulas, "
               f"not {f.type}; ignored")
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


# --------------------------------------------------------------------------------------------------
# Search path

@dataclass(frozen=True)
class FormulaFile:
    """One formula file found on the search path. ``origin``: ``town``, ``rig:<name>``, ``builtin`` or
    ``dir``; ``location``: the path shown in messages; ``data``: the file's bytes."""

    name: str
    origin: str
    location: str
    data: bytes


def _dir_files(directory: Path, origin: str) -> list[FormulaFile]:
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        name = formula_name(p.name)
        if name is not None and p.is_file():
            found.append((name, p.name.endswith(".json"), p))
    return [FormulaFile(name, origin, str(p), p.read_bytes()) for name, _json, p in sorted(found)]


def _rig_files(rig: Any) -> list[FormulaFile]:
    blobs = git.read_dir_at(rig.repo_path, rig.default_branch, RIG_FORMULAS_PATH)
    found = []
    for fname in blobs:
        name = formula_name(fname)
        if name is not None:
            found.append((name, fname.endswith(".json"), fname))
    return [FormulaFile(name, f"rig:{rig.name}", f"{rig.name}:{rig.default_branch}:{RIG_FORMULAS_PATH}/{fname}",
                        blobs[fname]) for name, _json, fname in sorted(found)]


class FormulaLibrary:
    """The formula search path of a town (and optionally one rig), first match wins:

    1. ``<town>/.beads/formulas`` (``town`` given), 2. ``.beads/formulas`` on the default branch of
    ``rig``'s repository (``rig`` given: a ``core.rigs.Rig``), 3. ``dirs`` (extra directories, for
    tests and tools), 4. the built-ins of ``core/builtin_formulas`` (``builtins``).
    Within one directory a ``.formula.toml`` wins over a ``.formula.json`` of the same name.
    Parsed formulas are cached per library.
    """

    def __init__(self, town: Any = None, rig: Any = None, dirs: Iterable[str | Path] = (),
                 builtins: bool = True) -> None:
        self.town, self.rig = town, rig
        self._dirs = [Path(d) for d in dirs]
        self._builtins = builtins
        self._files: list[FormulaFile] | None = None
        self._cache: dict[str, Formula] = {}

    def files(self) -> list[FormulaFile]:
        """Every formula file on the path, in search order (shadowed files included)."""
        if self._files is None:
            files: list[FormulaFile] = []
            if self.town is not None:
                files += _dir_files(self.town.formulas_dir, "town")
            if self.rig is not None:
                files += _rig_files(self.rig)
            for d in self._dirs:
                files += _dir_files(d, "dir")
            if self._builtins:
                files += _dir_files(BUILTIN_DIR, "builtin")
            self._files = files
        return self._files

    def find(self, name: str) -> FormulaFile:
        """The file formula ``name`` resolves to. Raises NotFound listing the known names."""
        for f in self.files():
            if f.name == name:
                return f
        known = ", ".join(sorted({f.name for f in self.files()})) or "none"
        raise NotFound(f"no formula named {name!r} (known: {known}): "
                       f"add {name}.formula.toml to .beads/formulas or check the name with 'gt formula list'")

    def load(self, name: str) -> Formula:
        """The parsed formula ``name``. Raises NotFound or FormulaError."""
        if name not in self._cache:
            f = self.find(name)
            self._cache[name] = parse_formula(f.data, f.location, expected_name=name)
        return self._cache[name]

    def entries(self) -> list[dict[str, Any]]:
        """One row per formula file: name, origin, location, shadowed (a file earlier on the path has
        the same name), and type/version/description, or ``error`` when it does not parse."""
        seen: set[str] = set()
        rows = []
        for f in self.files():
            row: dict[str, Any] = {"name": f.name, "origin": f.origin, "location": f.location,
                                   "shadowed": f.name in seen}
            seen.add(f.name)
            try:
                parsed = parse_formula(f.data, f.location, expected_name=f.name)
            except GtError as exc:
                row.update(type=None, version=None, description="", error=str(exc), unsupported=0)
            else:
                row.update(type=parsed.type, version=parsed.version,
                           description=parsed.description.strip().splitlines()[0] if parsed.description.strip() else "",
                           error=None, unsupported=len(parsed.unsupported))
            rows.append(row)
        return rows

    def cook(self, name: str, values: Mapping[str, str] | None = None, check_vars: bool = True) -> CookedFormula:
        """Cook formula ``name`` with ``values`` (see :func:`cook`)."""
        return cook(self.load(name), values or {}, self.load, check_vars=check_vars)


# --------------------------------------------------------------------------------------------------
# Cooking

@dataclass
class CookedStep:
    """A step ready to pour: placeholders substituted, ``needs`` are ids of other cooked steps."""

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

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class CookedFormula:
    """A formula resolved and bound: ``steps`` in dependency order (ties keep the file's order),
    ``vars`` the bound values (given or default), ``variables`` every declared variable (inherited and
    from expansions/aspects included), ``unsupported`` from every formula involved, ``warnings`` for
    placeholders left as written (undeclared variables)."""

    formula: str
    type: str
    description: str
    source: str
    vars: dict[str, str]
    steps: list[CookedStep]
    variables: dict[str, VarDef] = field(default_factory=dict)
    unsupported: list[Unsupported] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"formula": self.formula, "type": self.type, "description": self.description,
                "source": self.source, "vars": self.vars, "steps": [s.as_dict() for s in self.steps],
                "unsupported": [str(u) for u in self.unsupported], "warnings": self.warnings}


def match_glob(pattern: str, step_id: str) -> bool:
    """Step-id glob of advice, pointcuts and ``compose.map``: shell-style (``*``, ``?``, ``[...]``)
    over the whole id, so ``*.implement`` and ``shiny.*`` work as in beads ``MatchGlob``."""
    return fnmatch.fnmatchcase(step_id, pattern)


def cook(formula: Formula, values: Mapping[str, str], load: Callable[[str], Formula],
         check_vars: bool = True) -> CookedFormula:
    """Resolve ``formula`` into the steps it pours: ``extends`` (parents first, a child step with the
    same id replaces the parent's), convoy legs + synthesis, inline and ``[compose]`` expansions,
    aspects and advice; then bind ``values`` (var name -> text) and substitute ``{{var}}``.

    load: formula name -> Formula (a :class:`FormulaLibrary`'s ``load``). check_vars: False skips the
    required/enum/pattern checks and leaves unbound placeholders as written (``gt formula show``).
    Raises FormulaError for unknown steps in needs, cycles, bad expansions; GtError for unknown,
    missing or invalid variables (the message names the fix).
    """
    unsupported: list[Unsupported] = []
    flat = _flatten(formula, load, (), unsupported)
    if flat.type in ("expansion", "aspect"):
        raise FormulaError(formula.source, None, "type",
                           f"{formula.name!r} is an {flat.type} formula and pours nothing on its own",
                           f"apply it from a workflow ([compose] {'expand' if flat.type == 'expansion' else 'aspects'})")
    steps = [_copy_step(s) for s in flat.steps]
    if flat.type == "convoy":
        steps = [_copy_step(s) for s in flat.legs]
        if flat.synthesis is not None:
            synth = _copy_step(flat.synthesis)
            if not synth.needs:
                synth.needs = [leg.id for leg in steps]
            steps.append(synth)
    declared = dict(flat.vars)
    rules = [ExpandRule(s.id, s.expand, s.expand_vars, source=s.source, line=s.line, key=s.key + ".expand")
             for s in steps if s.expand] + flat.expand
    steps = _apply_expansions(steps, rules, load, declared, unsupported)
    for aspect_name in flat.aspects:
        aspect = _flatten(load(aspect_name), load, (), unsupported)
        if aspect.type != "aspect":
            raise FormulaError(flat.source, None, "compose.aspects",
                               f"{aspect_name!r} is a {aspect.type} formula, not an aspect", "name an aspect formula")
        for name, v in aspect.vars.items():
            declared.setdefault(name, v)
        steps = _apply_advice(steps, aspect.advice, aspect.pointcuts)
    steps = _apply_advice(steps, flat.advice, flat.pointcuts if flat.type == "aspect" else [])
    ordered = _toposort(steps)
    bound = _bind_vars(flat, declared, values, check_vars)
    warnings: list[str] = []
    cooked = [_substitute_step(s, bound, declared, check_vars, warnings) for s in ordered]
    description = _substitute(flat.description, bound, declared, None, False, [])
    return CookedFormula(formula=formula.name, type=flat.type, description=description, source=formula.source,
                         vars=bound, steps=cooked, variables=declared, unsupported=unsupported, warnings=warnings)


def _copy_step(s: Step) -> Step:
    return dataclasses.replace(s, needs=list(s.needs), labels=list(s.labels), expand_vars=dict(s.expand_vars),
                               var_overrides=dict(s.var_overrides))


def _flatten(formula: Formula, load: Callable[[str], Formula], chain: tuple[str, ...],
             unsupported: list[Unsupported]) -> Formula:
    """``formula`` with its ``extends`` parents merged in (depth-first, parents first)."""
    if formula.name in chain:
        raise FormulaError(formula.source, formula.extends_line, "extends",
                           f"extends cycle {' -> '.join(chain + (formula.name,))}", "remove one of the extends")
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
            raise FormulaError(formula.source, formula.extends_line, "extends", str(exc).split(":")[0],
                               "add the parent formula or fix the name") from None
        parent = _flatten(parent, load, chain + (formula.name,), unsupported)
        _merge_into(merged, parent)
    _merge_into(merged, formula)
    merged.name, merged.source, merged.type = formula.name, formula.source, formula.type
    merged.description = formula.description or merged.description
    merged.extends = []
    return merged


def _merge_into(target: Formula, other: Formula) -> None:
    target.description = other.description or target.description
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
    target.aspects += [a for a in other.aspects if a not in target.aspects]
    target.advice += other.advice
    target.pointcuts += other.pointcuts


def _apply_expansions(steps: list[Step], rules: list[ExpandRule], load: Callable[[str], Formula],
                      declared: dict[str, VarDef], unsupported: list[Unsupported], depth: int = 0) -> list[Step]:
    """Replace each rule's target step(s) by the expansion's template (beads ``ApplyExpansions``)."""
    for rule in rules:
        if rule.is_map:
            targets = [s.id for s in steps if match_glob(rule.target, s.id)]
        else:
            if not any(s.id == rule.target for s in steps):
                raise FormulaError(rule.source, rule.line, rule.key, f"expand target step {rule.target!r} not found",
                                   f"name one of: {', '.join(s.id for s in steps)}")
            targets = [rule.target]
        if not targets:
            continue
        try:
            exp = _flatten(load(rule.with_), load, (), unsupported)
        except NotFound as exc:
            raise FormulaError(rule.source, rule.line, rule.key, str(exc).split(":")[0],
                               "add the expansion formula or fix the name") from None
        if exp.type != "expansion":
            raise FormulaError(rule.source, rule.line, rule.key,
                               f"{rule.with_!r} is a {exp.type} formula, not an expansion",
                               "name a formula with type = \"expansion\"")
        for name, v in exp.vars.items():
            declared.setdefault(name, v)
        for target_id in targets:
            target = next(s for s in steps if s.id == target_id)
            expanded = [_expand_template(t, target, rule) for t in exp.template]
            inner = [s for s in expanded if s.expand]
            if inner:
                if depth >= MAX_EXPANSION_DEPTH:
                    raise FormulaError(rule.source, rule.line, rule.key,
                                       f"expansions nest deeper than {MAX_EXPANSION_DEPTH} levels",
                                       "break the expansion cycle")
                expanded = _apply_expansions(expanded, [
                    ExpandRule(s.id, s.expand, s.expand_vars, source=s.source, line=s.line, key=s.key)
                    for s in inner], load, declared, unsupported, depth + 1)
            steps = _splice(steps, target, expanded)
    return steps


def _expand_template(tmpl: Step, target: Step, rule: ExpandRule) -> Step:
    def sub(text: str) -> str:
        for ph, val in (("{target.description}", target.description), ("{target.title}", target.title),
                        ("{target.id}", target.id), ("{target}", target.id)):
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
        raise FormulaError(tmpl.source, tmpl.line, tmpl.key + ".id", f"expanded step id {s.id!r} is invalid",
                           "use {target} and letters, digits, '.', '_' and '-' in template ids")
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
            s.needs = list(dict.fromkeys(s.needs[:i] + exits + s.needs[i + 1:]))
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
        for prev, nxt in zip(before, before[1:]):
            nxt.needs = list(dict.fromkeys(nxt.needs + [prev.id]))
        if before:
            before[0].needs = list(dict.fromkeys(target.needs + before[0].needs))
        wrapped = _copy_step(target)
        if before:
            wrapped.needs = [before[-1].id]
        chain = [wrapped] + after
        for prev, nxt in zip(chain, chain[1:]):
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
        raise FormulaError(a.source, a.line, a.key + ".id", f"advice step id {s.id!r} is invalid",
                           "use {step.id} and letters, digits, '.', '_' and '-' in advice ids")
    return s


def _toposort(steps: list[Step]) -> list[Step]:
    """Steps in dependency order (Kahn; ties keep the given order). Raises FormulaError naming the
    step with an unknown need, a duplicate id or the steps of a cycle."""
    by_id: dict[str, Step] = {}
    for s in steps:
        if s.id in by_id:
            raise FormulaError(s.source, s.line, s.key + ".id", f"duplicate step id {s.id!r} after composition",
                               "rename one of the steps")
        by_id[s.id] = s
    for s in steps:
        for n in s.needs:
            if n not in by_id:
                raise FormulaError(s.source, s.line, s.key + ".needs", f"step {s.id!r} needs unknown step {n!r}",
                                   f"name one of: {', '.join(by_id)}")
            if n == s.id:
                raise FormulaError(s.source, s.line, s.key + ".needs", f"step {s.id!r} needs itself",
                                   "remove it from its own needs")
    order = {s.id: i for i, s in enumerate(steps)}
    pending = {s.id: len(set(s.needs)) for s in steps}
    dependents: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for n in set(s.needs):
            dependents[n].append(s.id)
    ready = sorted((i for i, c in pending.items() if c == 0), key=order.__getitem__)
    out: list[Step] = []
    while ready:
        sid = ready.pop(0)
        out.append(by_id[sid])
        for d in dependents[sid]:
            pending[d] -= 1
            if pending[d] == 0:
                ready.append(d)
                ready.sort(key=order.__getitem__)
    if len(out) < len(steps):
        stuck = [s for s in steps if pending[s.id] > 0]
        first = stuck[0]
        raise FormulaError(first.source, first.line, first.key + ".needs",
                           f"dependency cycle among steps {', '.join(s.id for s in stuck)}",
                           "remove one of the needs so the steps form a DAG")
    return out


def _bind_vars(flat: Formula, declared: dict[str, VarDef], values: Mapping[str, str],
               check: bool) -> dict[str, str]:
    """Bound values: given ones (checked) and defaults. Raises GtError for an undeclared, missing or
    invalid variable, naming the formula and the ``--var`` fix."""
    for name in values:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise GtError(f"formula {flat.name!r} has no variable {name!r} (variables: {known}): "
                          f"check the name in --var {name}=...")
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
        raise GtError(f"variable {v.name!r} of formula {formula!r} must be one of {', '.join(v.enum)}, "
                      f"not {value!r}: pass --var {v.name}={v.enum[0]}")
    if v.pattern is not None and not pattern_search(v.pattern, value, f"variable {v.name!r} of formula {formula!r}"):
        raise GtError(f"variable {v.name!r} of formula {formula!r} must match {v.pattern}, not {value!r}: "
                      f"pass a matching --var {v.name}=...")
    if v.type in ("int", "number") and not re.fullmatch(r"-?\d+", value):
        raise GtError(f"variable {v.name!r} of formula {formula!r} must be an integer, not {value!r}: "
                      f"pass --var {v.name}=NUMBER")
    if v.type == "bool" and value not in ("true", "false"):
        raise GtError(f"variable {v.name!r} of formula {formula!r} must be true or false, not {value!r}: "
                      f"pass --var {v.name}=true")


#: Seconds a variable's ``pattern`` may take to match a value before it is refused as catastrophic.
PATTERN_TIMEOUT_S = 2.0
#: Longest value matched in this process by a pattern :func:`_backtracks_little` vouches for.
_INLINE_MAX = 4096
_MATCHER = ("import json, re, sys\n"
            "d = json.load(sys.stdin)\n"
            "sys.stdout.write('1' if re.search(d['p'], d['v']) else '0')\n")


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
        proc = subprocess.run([sys.executable, "-P", "-I", "-c", _MATCHER],
                              input=json.dumps({"p": pattern, "v": value}), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GtError(f"{what}: pattern {pattern!r} did not finish matching within {timeout:g} s (catastrophic "
                      "backtracking, e.g. nested repeats like (a+)+): simplify the pattern in the formula") from None
    if proc.returncode != 0 or proc.stdout not in ("0", "1"):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise GtError(f"{what}: pattern {pattern!r} could not be matched ({tail}): fix the pattern in the formula")
    return proc.stdout == "1"


def _backtracks_little(pattern: str) -> bool:
    """True for a pattern whose matching cannot explode: no repeat inside a repeat, no alternation
    inside a repeat, no backreference or lookaround, at most one unbounded repeat (so at worst
    quadratic in the value's length, bounded by :data:`_INLINE_MAX`). False when unsure."""
    try:
        from re import _constants as c
        from re import _parser
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
                lo, hi, sub = av
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


def _substitute(text: str, bound: Mapping[str, str], declared: Mapping[str, VarDef], step: Step | None,
                check: bool, warnings: list[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in bound:
            return bound[name]
        if name in declared:
            if check and step is not None:
                raise GtError(f"step {step.id!r} of formula {step.formula!r} uses variable {name!r}, which has "
                              f"no value: pass --var {name}=...")
            return m.group(0)
        note = f"{step.id if step else 'description'}: placeholder {m.group(0)} names no declared variable; left as written"
        if note not in warnings:
            warnings.append(note)
        return m.group(0)

    return PLACEHOLDER_RE.sub(repl, text) if "{{" in text else text


def _substitute_step(s: Step, bound: Mapping[str, str], declared: Mapping[str, VarDef], check: bool,
                     warnings: list[str]) -> CookedStep:
    values = {**bound, **s.var_overrides}

    def sub(text: str) -> str:
        return _substitute(text, values, declared, s, check, warnings)

    return CookedStep(id=s.id, title=sub(s.title) or s.id, description=sub(s.description), needs=list(s.needs),
                      acceptance=sub(s.acceptance), labels=[sub(x) for x in s.labels], priority=s.priority,
                      assignee=sub(s.assignee), agent=sub(s.agent), type=s.type, notes=sub(s.notes),
                      formula=s.formula)


def dependency_tree(steps: list[CookedStep]) -> list[str]:
    """Text lines drawing ``steps`` as a tree: roots (no needs among ``steps``) first, each step under
    the first step it needs; a step with several needs is drawn once and listed under its other needs
    as ``id (under FIRST)``. Needs outside ``steps`` are ignored; a step is never drawn twice."""
    by_id = {s.id: s for s in steps}
    first = {s.id: next((n for n in s.needs if n in by_id and n != s.id), None) for s in steps}
    children: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        if first[s.id] is not None:
            children[first[s.id]].append(s.id)
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
