"""Typed settings (issue 17): the schema in core.config owns every setting's type, default and comment;
the templates are rendered from it; a bad value is one ConfigError line at load naming the file, the key,
the value and what is expected; ``town.setting``/``rig.setting`` return typed values; gt commands
refuse a bad file with exit 2 and the engine refuses to start."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomlkit

from core import namepool
from core.beads.store import BeadStore
from core.config import (
    NAME_POOLS,
    RIG_SETTINGS,
    RIG_TEMPLATE,
    TOWN_SETTINGS,
    TOWN_TEMPLATE,
    edit_toml,
    load_rig_config,
    load_town_config,
    rig_defaults,
    town_defaults,
)
from core.engine import Engine
from core.errors import ConfigError
from core.pidfile import engine_pid
from core.rigs import add_rig, load_rig
from tests.conftest import dump


def test_the_templates_are_rendered_from_the_schema() -> None:
    assert tomllib.loads(TOWN_TEMPLATE) == town_defaults()
    assert tomllib.loads(RIG_TEMPLATE.format(name="demo", prefix="dm")) == rig_defaults()
    written = [(sec.name, s.key) for sec in TOWN_SETTINGS.sections for s in sec.settings]
    assert len(written) == len(set(written)) and ("witness", "stall_after") in written
    for schema in (TOWN_SETTINGS, RIG_SETTINGS):
        for sec in schema.sections:
            for s in sec.settings:
                if s.default is not None and not s.required:  # every default passes its own kind
                    s.kind.check(s.default, "", s.key, s.default)
    assert set(NAME_POOLS) == set(namepool.THEMES)


def _write(path: Path, template: str, section: str | None, key: str, literal: str) -> bytes:
    """``template`` with ``[section] key`` set to the TOML ``literal``, written to ``path``."""
    doc = tomlkit.parse(template)
    table = doc if section is None else doc.setdefault(section, tomlkit.table())
    table[key] = tomlkit.parse(f"v = {literal}")["v"]
    data = tomlkit.dumps(doc).encode()
    path.write_bytes(data)
    return data


# One bad value per kind: (section, key, TOML literal, what the error line must say).
BAD_TOWN = [
    ("witness", "stall_after", '"soon"', "[witness] stall_after must be a finite number of seconds >= 0, not 'soon'"),
    ("deacon", "stale_after", "nan", "[deacon] stale_after must be a finite number of seconds >= 0, not nan"),
    ("scheduler", "max_polecats", "2.5", "[scheduler] max_polecats must be a whole number >= 0, not 2.5"),
    ("logs", "max_bytes", "-1", "[logs] max_bytes must be a whole number of bytes >= 0, not -1"),
    (
        "ledger",
        "shrink_guard_fraction",
        "true",
        "[ledger] shrink_guard_fraction must be a finite number >= 0, not True",
    ),
    (None, "default_agent", "7", "default_agent must be a string, not 7"),
    (
        "polecats",
        "namepool",
        '"dinosaurs"',
        '[polecats] namepool must be one of "mad-max", "minerals", "birds", not \'dinosaurs\'',
    ),
    ("town", "prefix", '"HQ\\u001b[2J"', "[town] prefix must be a bead prefix of 2-8 characters"),
    (
        "town",
        "prefix",
        '"hq\\n"',
        "[town] prefix must be a bead prefix of 2-8 characters (a lowercase letter, then a-z 0-9), not 'hq\\n'",
    ),
    ("secrets", "patterns", '[".env", ""]', "[secrets] patterns must be a list of non-empty strings"),
]
BAD_RIG = [
    ("merge_queue", "aging_step", '"hourly"', "[merge_queue] aging_step must be a finite number of seconds"),
    ("merge_queue", "max_batch_size", "1e400", "[merge_queue] max_batch_size must be a whole number >= 0, not inf"),
    (None, "prefix", '""', "prefix must be a bead prefix of 2-8 characters"),
    (None, "default_branch", '"--upload-pack=x"', "default_branch '--upload-pack=x' is not a valid git branch name"),
    (None, "git_url", "[]", "git_url must be a string, not []"),
    ("worktree", "copy", '["../x"]', "[worktree] copy entry '../x' reaches outside the worktree"),
    ("worktree", "setup", "[[1]]", "[worktree] setup entries must be argv lists of strings"),
    ("secrets", "patterns", '"*.pem"', "[secrets] patterns must be a list of non-empty strings"),
]


def _one_line(exc: ConfigError, path: Path, message: str) -> None:
    line = str(exc)
    assert "\n" not in line and "\x1b" not in line, line
    assert line.startswith(f"{path}: ") and message in line, line
    assert line.count(": ") >= 2 and not line.endswith(": "), line  # ... what is wrong: the fix


@pytest.mark.parametrize("section,key,literal,message", BAD_TOWN)
def test_a_bad_town_setting_is_one_line_at_load(tmp_path: Path, section, key, literal, message) -> None:
    path = tmp_path / "town.toml"
    data = _write(path, TOWN_TEMPLATE, section, key, literal)
    with pytest.raises(ConfigError) as info:
        load_town_config(path)
    _one_line(info.value, path, message)
    assert path.read_bytes() == data


@pytest.mark.parametrize("section,key,literal,message", BAD_RIG)
def test_a_bad_rig_setting_is_one_line_at_load(tmp_path: Path, section, key, literal, message) -> None:
    path = tmp_path / "rig.toml"
    template = RIG_TEMPLATE.format(name="demo", prefix="dm").replace('prefix = ""', 'prefix = "dm"')
    data = _write(path, template, section, key, literal)
    with pytest.raises(ConfigError) as info:
        load_rig_config(path)
    _one_line(info.value, path, message)
    assert path.read_bytes() == data


def test_a_section_that_is_not_a_table_and_a_missing_required_key(tmp_path: Path) -> None:
    path = tmp_path / "town.toml"
    path.write_text("witness = 3\n")
    with pytest.raises(ConfigError, match=r"town.toml: \[witness\] must be a table, not 3: write it as"):
        load_town_config(path)
    path = tmp_path / "rig.toml"
    path.write_text('git_url = "/x"\nprefix = "dm"\n')
    with pytest.raises(ConfigError, match=r"rig.toml: default_branch is missing: add default_branch = \"main\""):
        load_rig_config(path)


def test_settings_read_back_as_their_types(town, git_repo) -> None:
    with edit_toml(town.config_path) as doc:
        doc["witness"]["stall_after"] = 45  # an int where seconds go: read as float
        doc["scheduler"]["max_polecats"] = 3.0  # a whole float where a count goes: read as int
        del doc["witness"]["gupp_after"]  # missing: the default, typed
    town.reload()
    stall, polecats, gupp = (
        town.setting("witness", "stall_after"),
        town.setting("scheduler", "max_polecats"),
        town.setting("witness", "gupp_after"),
    )
    assert (stall, polecats, gupp) == (45.0, 3, 1800.0)
    assert type(stall) is float and type(polecats) is int and type(gupp) is float
    assert town.setting("secrets", "patterns")[0] == ".env*" and town.setting("polecats", "namepool") == "mad-max"
    add_rig(town, "demo", str(git_repo))
    rig = load_rig(town, "demo")
    assert type(rig.setting("merge_queue", "aging_step")) is float
    assert type(rig.setting("merge_queue", "max_batch_size")) is int and rig.setting("worktree", "copy") == []


def test_gt_commands_and_the_engine_refuse_a_bad_setting(town, git_repo, run_gt) -> None:
    add_rig(town, "demo", str(git_repo))
    with BeadStore(town) as store:
        bead = store.create("hostile \x1b[2J title", actor="t", prefix="de").id
        before = dump(town.db_path)
    good = town.config_path.read_text()
    _write(town.config_path, good, "witness", "stall_after", '"soon"')
    for args in (("status",), ("sling", bead, "demo", "--agent", "sim")):
        res = run_gt(*args, cwd=town.root)
        assert res.returncode == 2 and "Traceback" not in res.stderr, (args, res.stderr)
        line = res.stderr.strip()
        assert "\n" not in line and str(town.config_path) in line and "[witness] stall_after" in line, line
        assert "'soon'" in line and "seconds" in line, line
    assert dump(town.db_path) == before  # the refused sling claimed nothing
    town.reload()
    with pytest.raises(ConfigError, match=r"town.toml: \[witness\] stall_after must be a finite number of seconds"):
        Engine(town).check_config()
    town.config_path.write_text(good + '\n[agents.broken]\nargv = "claude --x"\n')
    town.reload()
    with pytest.raises(ConfigError, match=r"\[agents.broken\] argv must be a non-empty list"):
        Engine(town).check_config()
    town.config_path.write_text(good)
    rig_toml = town.rig_dir("demo") / "rig.toml"
    _write(rig_toml, rig_toml.read_text(), "merge_queue", "aging_step", '"hourly"')
    res = run_gt("mq", "list", "--rig", "demo", cwd=town.root)
    assert (
        res.returncode == 2 and "demo/rig.toml: [merge_queue] aging_step" in res.stderr and "'hourly'" in res.stderr
    ), res.stderr
    town.reload()
    with pytest.raises(ConfigError, match=r"demo/rig.toml: \[merge_queue\] aging_step must be"):
        Engine(town).check_config()
    assert engine_pid(town) is None and not (town.state_dir / "engine.pid").exists()
