"""Fuzz of the TOML loaders (issue 15 item 10): whatever ``town.toml`` or ``rig.toml`` holds (strings or
infinite/NaN numbers where numbers belong, wrong types, empty files, broken syntax, invalid UTF-8, deep
nesting), loading either succeeds with every documented setting of its documented type, or raises one
ConfigError line naming the file, and the file is never rewritten."""

from __future__ import annotations

import math
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import (
    RIG_SETTINGS,
    RIG_TEMPLATE,
    TOWN_SETTINGS,
    TOWN_TEMPLATE,
    Schema,
    load_rig_config,
    load_town_config,
    rig_defaults,
    setting,
    town_defaults,
)
from core.errors import ConfigError

LITERALS = [
    "inf",
    "-inf",
    "nan",
    "+nan",
    '"thirty"',
    "''",
    '""',
    "1e400",
    "-1",
    "0",
    "2.5",
    "99999999999999999999999",
    '[1, "a"]',
    "[]",
    "[[]]",
    "{a = 1}",
    "{}",
    "true",
    "false",
    "1979-05-27T07:32:00Z",
    "07:32:00",
    "0x10",
    "'lit'",
    '"""multi\nline"""',
    '"\\u001b]0;pwned\\u0007"',
    '"[/]"',
    '["../x"]',
    '["/etc/passwd"]',
    '["-x"]',
    '"--upload-pack=x"',
    '"@{-1}"',
    '[["npm", "ci"]]',
    "[1.5]",
    '"main"',
    '".env"',
]
JUNK = [
    "[",
    "]]",
    "=",
    "[[a]]",
    "a.b.c = 1",
    "[witness]",
    "[merge_queue]",
    "\x00",
    "key = ",
    "# c",
    "[gates.x]",
    "a = " + "[" * 120 + "]" * 120,
    "\ufeff",
    "x = 1\nx = 2",
]


def _assignments(template: str) -> list[tuple[int, str]]:
    return [
        (n, m.group(1)) for n, line in enumerate(template.splitlines()) if (m := re.match(r"^([A-Za-z_]+) = ", line))
    ]


TOWN_LINES = TOWN_TEMPLATE.splitlines()
RIG_LINES = (
    RIG_TEMPLATE.format(name="demo", prefix="dm")
    .replace('git_url = ""', 'git_url = "/tmp/x"')
    .replace('prefix = ""', 'prefix = "dm"')
    .splitlines()
)
TOWN_SLOTS = _assignments(TOWN_TEMPLATE)
RIG_SLOTS = _assignments("\n".join(RIG_LINES))


@st.composite
def mutated(draw, lines: list[str], slots: list[tuple[int, str]]) -> bytes:
    """The template with some values replaced by hostile literals, junk lines inserted or lines
    dropped; sometimes a prefix of it, raw bytes or nothing at all."""
    kind = draw(st.sampled_from(["values", "values", "values", "junk", "truncate", "bytes", "empty"]))
    if kind == "empty":
        return b""
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    out = list(lines)
    if kind == "values":
        for n, key in draw(st.lists(st.sampled_from(slots), min_size=1, max_size=4)):
            out[n] = f"{key} = {draw(st.sampled_from(LITERALS))}"
    elif kind == "junk":
        for _ in range(draw(st.integers(1, 3))):
            out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(JUNK)))
    text = "\n".join(out) + "\n"
    if kind == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", "surrogatepass")


def _check_loaded(doc, defaults: dict, schema: Schema) -> None:
    """Every documented setting reads back with its default's type."""
    for key, default in defaults.items():
        if key in ("agents", "gates"):
            continue
        items = default.items() if isinstance(default, dict) else [(None, default)]
        for sub, value_default in items:
            value = setting(doc, key if sub else None, sub or key, schema)
            if isinstance(value_default, bool):
                assert isinstance(value, bool)
            elif isinstance(value_default, (int, float)):
                assert isinstance(value, (int, float)) and not isinstance(value, bool)
                assert math.isfinite(value) and value >= 0
            elif isinstance(value_default, str):
                assert isinstance(value, str)
            elif isinstance(value_default, list):
                assert isinstance(value, list)


def _load(path: Path, data: bytes, loader, defaults: dict, schema: Schema) -> None:
    path.write_bytes(data)
    try:
        doc = loader(path)
    except ConfigError as exc:
        line = str(exc)
        assert "\n" not in line and str(path) in line, line
    else:
        _check_loaded(doc, defaults, schema)
    assert path.read_bytes() == data  # never rewritten


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(TOWN_LINES, TOWN_SLOTS))
def test_town_toml_loader_never_tracebacks(tmp_path: Path, data: bytes) -> None:
    _load(tmp_path / "town.toml", data, load_town_config, town_defaults(), TOWN_SETTINGS)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(RIG_LINES, RIG_SLOTS))
def test_rig_toml_loader_never_tracebacks(tmp_path: Path, data: bytes) -> None:
    _load(tmp_path / "rig.toml", data, load_rig_config, rig_defaults(), RIG_SETTINGS)


def test_the_templates_themselves_load(tmp_path: Path) -> None:
    (tmp_path / "town.toml").write_text(TOWN_TEMPLATE)
    _check_loaded(load_town_config(tmp_path / "town.toml"), town_defaults(), TOWN_SETTINGS)
    (tmp_path / "rig.toml").write_text("\n".join(RIG_LINES))
    _check_loaded(load_rig_config(tmp_path / "rig.toml"), rig_defaults(), RIG_SETTINGS)
