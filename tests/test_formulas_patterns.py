"""A formula variable's ``pattern`` runs with a time bound (issue 15 item 10): a catastrophic regular
expression such as ``(a+)+$`` is refused within seconds with one line, not a hung gt."""

from __future__ import annotations

import time

import pytest

from core.errors import GtError, NotFound
from core.formulas import PATTERN_TIMEOUT_S, _backtracks_little, cook, parse_formula, pattern_search

EVIL = """formula = "evil"
[vars.name]
pattern = "(a+)+$"
[[steps]]
id = "a"
title = "Hello {{name}}"
"""


def _cook(text: str, values: dict[str, str]):
    return cook(parse_formula(text, "evil.formula.toml"), values, lambda n: (_ for _ in ()).throw(NotFound(n)))


def test_catastrophic_pattern_is_refused_fast_with_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(
        GtError,
        match=r"variable 'name' of formula 'evil': pattern '\(a\+\)\+\$' did not finish "
        r"matching within 2 s \(catastrophic backtracking",
    ):
        _cook(EVIL, {"name": "a" * 40 + "!"})
    assert time.monotonic() - started < PATTERN_TIMEOUT_S + 3  # unbounded, this takes hours
    assert _cook(EVIL, {"name": "aaaa"}).vars["name"] == "aaaa"  # the same pattern on a value that matches


def test_gt_formula_pour_with_a_catastrophic_pattern_is_one_line(town, run_gt) -> None:
    (town.formulas_dir / "evil.formula.toml").write_text(EVIL)
    started = time.monotonic()
    res = run_gt("formula", "pour", "evil", "--dry-run", "--var", "name=" + "a" * 40 + "!", cwd=town.root, timeout=30)
    assert res.returncode == 2 and "catastrophic backtracking" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    "pattern,value,expected",
    [
        ("^v[0-9]+$", "v12", True),
        ("^v[0-9]+$", "12", False),
        (r"^\d+\.\d+\.\d+$", "1.2.3", True),
        (r"^\d+\.\d+\.\d+$", "1.2", False),
        ("^(foo|bar)$", "bar", True),
        (r"(\w+)-\1", "ab-ab", True),
        ("(?=x)x", "y", False),
        ("", "anything", True),
    ],
)
def test_bounded_search_agrees_with_re(pattern, value, expected) -> None:
    assert pattern_search(pattern, value, "variable v") is expected


def test_only_patterns_that_cannot_explode_run_in_process() -> None:
    for safe in ("^T", "v", ".*", "^[a-z][a-z0-9-]*$", "^(foo|bar)$", "^v[0-9]{1,3}$"):
        assert _backtracks_little(safe), safe
    for risky in ("(a+)+$", "(a|aa)*b", r"(\w+)\1", r"\d+\d+x", "(?=a)a", "(x*)*", "(a?){30}a{30}"):
        assert not _backtracks_little(risky), risky


def test_a_long_value_goes_to_the_bounded_child() -> None:
    started = time.monotonic()
    with pytest.raises(GtError, match="did not finish matching"):
        pattern_search("(x+x+)+y", "x" * 5000, "variable v")
    assert time.monotonic() - started < PATTERN_TIMEOUT_S + 3
