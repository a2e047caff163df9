"""Property tests: random and mangled formulas never crash the parser or the cook with anything but the
project's error type (``GtError``, exit 2); parsing is deterministic."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import GtError, NotFound
from core.formulas import Formula, FormulaError, cook, dependency_tree, parse_formula
from tests.conftest import FIXTURES as VENDORED

FIXTURES = VENDORED / "gastown" / "formulas"
SEEDS = [
    (FIXTURES / n).read_text()
    for n in (
        "shiny.formula.toml",
        "shiny-enterprise.formula.toml",
        "rule-of-five.formula.toml",
        "security-audit.formula.toml",
    )
]
KEYS = [
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
    "phase",
    "pour",
    "id",
    "title",
    "needs",
    "depends_on",
    "priority",
    "labels",
    "default",
    "required",
    "enum",
    "pattern",
    "expand",
    "with",
    "target",
    "aspects",
    "around",
    "before",
    "after",
    "glob",
    "gate",
    "x",
]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.booleans(),
    st.integers(-10, 10),
    st.text(max_size=12),
    st.sampled_from(
        ["workflow", "expansion", "aspect", "convoy", "a", "b", "{target}.x", "{{v}}", "^a$", "(", "vapor", "shiny"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8).map(
    lambda d: {"formula": "f", **d} if d.get("formula") is None and len(d) % 2 else d
)

# Mostly well-formed formulas (so the cook's extends/expansion/aspect/var paths run), with the odd
# random value where a well-formed one belongs.
names = st.sampled_from(["f", "g", "h", "shiny"])
texts = st.sampled_from(["", "T {{v}}", "{{w}} {{.x}}", "{target.title}!", "{{v}}{{v}}", "plain"])


def odd(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """``strategy``, or one time in twenty a random value."""
    return st.integers(0, 19).flatmap(lambda i: values if i == 0 else strategy)


def by_id(step: dict) -> str:
    return repr(step.get("id"))


def formula_strategy(odd: Callable[[st.SearchStrategy], st.SearchStrategy]) -> st.SearchStrategy:
    """Formulas of every type, their values passed through ``odd`` (noise or none)."""

    def steps(ids: list[str], needs: list[str]) -> st.SearchStrategy:
        return st.fixed_dictionaries(
            {"id": odd(st.sampled_from(ids))},
            optional={
                "title": odd(texts),
                "description": texts,
                "needs": odd(st.lists(st.sampled_from(needs), max_size=3)),
                "depends_on": st.lists(st.sampled_from(needs), max_size=1),
                "priority": odd(st.integers(0, 4)),
                "labels": st.lists(texts, max_size=2),
                "expand": names,
                "type": st.sampled_from(["task", "human"]),
                "expand_vars": st.dictionaries(st.sampled_from(["v", "w"]), texts, max_size=2),
                "gate": values,
                "zz": values,
            },
        )

    plain_steps = steps(["a", "b", "c", "a.b"], ["a", "b", "c", "a.b", "zz"])
    template_steps = steps(["{target}.d", "{target}.e", "{target}"], ["{target}.d", "{target}.e", "a"])
    advice_steps = steps(["{step.id}-p", "{step.id}-q"], ["a", "{step.id}-p"])
    var_defs = st.one_of(
        texts,
        st.fixed_dictionaries(
            {},
            optional={
                "required": odd(st.booleans()),
                "default": odd(texts),
                "enum": st.lists(texts, max_size=3),
                "pattern": st.sampled_from(["^T", "v", ".*"]),
                "type": st.sampled_from(["int", "bool", "string"]),
                "required_unless": st.lists(st.sampled_from(["v", "w"]), max_size=2),
            },
        ),
    )
    common = {
        "extends": odd(st.lists(names, max_size=2)),
        "vars": odd(st.dictionaries(st.sampled_from(["v", "w"]), var_defs, max_size=2)),
        "compose": odd(
            st.fixed_dictionaries(
                {},
                optional={
                    "expand": st.lists(
                        st.fixed_dictionaries({"target": st.sampled_from(["a", "b", "q"]), "with": names}), max_size=2
                    ),
                    "map": st.lists(
                        st.fixed_dictionaries({"select": st.sampled_from(["*", "a*"]), "with": names}), max_size=1
                    ),
                    "aspects": st.lists(names, max_size=2),
                },
            )
        ),
        "phase": st.sampled_from(["vapor", "liquid"]),
    }
    advice = st.lists(
        st.fixed_dictionaries(
            {"target": st.sampled_from(["a", "*", "b"]), "after": advice_steps},
            optional={
                "before": advice_steps,
                "around": st.fixed_dictionaries(
                    {},
                    optional={
                        "before": st.lists(advice_steps, max_size=2),
                        "after": st.lists(advice_steps, max_size=2),
                    },
                ),
            },
        ),
        min_size=1,
        max_size=2,
    )
    formulas = st.one_of(
        st.fixed_dictionaries(
            {"formula": odd(names), "steps": odd(st.lists(plain_steps, min_size=1, max_size=4, unique_by=by_id))},
            optional={**common, "type": st.just("workflow"), "advice": advice},
        ),
        st.fixed_dictionaries(
            {
                "formula": odd(names),
                "type": st.just("expansion"),
                "template": st.lists(template_steps, min_size=1, max_size=3, unique_by=by_id),
            },
            optional=common,
        ),
        st.fixed_dictionaries(
            {"formula": odd(names), "type": st.just("aspect"), "advice": advice},
            optional={
                **common,
                "pointcuts": st.lists(
                    st.fixed_dictionaries(
                        {}, optional={"glob": st.sampled_from(["a", "*"]), "type": st.sampled_from(["task", "human"])}
                    ),
                    max_size=2,
                ),
            },
        ),
        st.fixed_dictionaries(
            {
                "formula": odd(names),
                "type": st.just("convoy"),
                "legs": st.lists(plain_steps, min_size=1, max_size=3, unique_by=by_id),
            },
            optional={
                **common,
                "synthesis": plain_steps,
                "inputs": st.dictionaries(st.sampled_from(["w", "u"]), var_defs, max_size=2),
            },
        ),
    )
    return formulas


noisy_formulas = formula_strategy(odd)
clean_formulas = formula_strategy(lambda strategy: strategy)


def _missing(name: str) -> Formula:
    raise NotFound(f"no formula named {name!r}: none")


def check(data: str | bytes, source: str = "fuzz.formula.toml") -> None:
    try:
        f = parse_formula(data, source)
    except FormulaError as exc:
        assert str(exc).startswith(source)
        return
    assert isinstance(f, Formula)
    assert parse_formula(data, source).as_dict() == f.as_dict()
    try:
        cook(f, {}, _missing)
    except GtError:
        pass


@FAST
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FAST
@given(documents)
def test_random_toml_documents(doc: dict) -> None:
    try:
        text = tomlkit.dumps(doc)
    except Exception:  # not representable as TOML: nothing to test
        return
    check(text)


@FAST
@given(documents)
def test_random_json_documents(doc: dict) -> None:
    check(json.dumps(doc), "fuzz.formula.json")


@FAST
@given(st.sampled_from(SEEDS), st.integers(0, 2000), st.integers(0, 40), st.text(max_size=20))
def test_mangled_fixtures(seed: str, at: int, cut: int, insert: str) -> None:
    at %= len(seed)
    check(seed[:at] + insert + seed[at + cut :])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(clean_formulas, noisy_formulas), min_size=2, max_size=4),
    st.dictionaries(st.sampled_from(["v", "w", "u", "q"]), texts, max_size=3),
    st.booleans(),
)
def test_composed_formulas_cook_or_refuse_cleanly(docs: list, given_vars: dict, as_json: bool) -> None:
    pool: dict[str, Formula] = {}
    for i, doc in enumerate(docs):
        if isinstance(doc.get("formula"), str):  # distinct names, so references between them resolve
            doc = {**doc, "formula": ["f", "g", "h", "shiny"][i]}
        try:
            text = json.dumps(doc) if as_json else tomlkit.dumps(doc)
        except Exception:  # not representable as TOML
            continue
        try:
            f = parse_formula(text, "fuzz.formula.json" if as_json else "fuzz.formula.toml")
        except FormulaError:
            continue
        pool.setdefault(f.name, f)

    def load(name: str) -> Formula:
        if name not in pool:
            _missing(name)
        return pool[name]

    for f in pool.values():
        for check_vars in (True, False):
            try:
                cooked = cook(f, given_vars, load, check_vars=check_vars)
            except GtError:
                continue
            order = [s.id for s in cooked.steps]
            assert len(order) == len(set(order))
            for i, s in enumerate(cooked.steps):
                assert set(s.needs) <= set(order[:i])
            entries = [re.sub(r"^[│├└─ ]*", "", line) for line in dependency_tree(cooked.steps)]
            drawn = [e.split(": ", 1)[0] for e in entries if not re.search(r" \(under [^)]*\)$", e)]
            assert sorted(drawn) == sorted(order)  # the tree draws every step exactly once
