"""gt config show / agent list / agent set / default-agent: town.toml edits keep comments (issue 2)."""

from __future__ import annotations

import json
import tomllib

from core.config import edit_toml


def test_config_show_prints_town_toml(town, run_gt) -> None:
    res = run_gt("config", "show", cwd=town.root)
    assert res.returncode == 0
    assert res.stdout == town.config_path.read_text()


def test_agent_list_json_and_table(town, run_gt) -> None:
    res = run_gt("config", "agent", "list", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    names = [p["name"] for p in data["presets"]]
    for name in ("claude", "codex", "gemini", "cursor", "auggie", "amp", "opencode", "copilot", "aider", "sim"):
        assert name in names
    sim = next(p for p in data["presets"] if p["name"] == "sim")
    assert sim["installed"] is True
    assert data["default_agent"] == "auto"
    table = run_gt("config", "agent", "list", cwd=town.root).stdout
    assert "INSTALLED" in table and "claude" in table


def test_agent_set_keeps_comments_and_order(town, run_gt) -> None:
    before = town.config_path.read_text()
    res = run_gt("config", "agent", "set", "claude", "claude --model 'opus 4' --verbose", cwd=town.root)
    assert res.returncode == 0, res.stderr
    after = town.config_path.read_text()
    assert after.startswith(before.rstrip("\n").rsplit("[agents]", 1)[0])
    for line in before.splitlines():
        if line.startswith("#"):
            assert line in after
    cfg = tomllib.loads(after)
    assert cfg["agents"]["claude"]["argv"] == ["claude", "--model", "opus 4", "--verbose"]
    data = json.loads(run_gt("config", "agent", "list", "--json", cwd=town.root).stdout)
    claude = next(p for p in data["presets"] if p["name"] == "claude")
    assert claude["argv"] == ["claude", "--model", "opus 4", "--verbose"]
    assert claude["prompt"] == "arg"  # the built-in keys not overridden survive
    res = run_gt("config", "agent", "set", "claude", "claude --fast", cwd=town.root)
    assert tomllib.loads(town.config_path.read_text())["agents"]["claude"]["argv"] == ["claude", "--fast"]


def test_agent_set_new_preset_and_default_agent(town, run_gt) -> None:
    assert run_gt("config", "agent", "set", "mybot", "mybot --yes", cwd=town.root).returncode == 0
    assert run_gt("config", "default-agent", "mybot", cwd=town.root).returncode == 0
    cfg = tomllib.loads(town.config_path.read_text())
    assert cfg["default_agent"] == "mybot"
    assert "# Agent runtime used when `gt sling` gets no --agent" in town.config_path.read_text()


def test_bad_config_edits_leave_file_unchanged(town, run_gt) -> None:
    before = town.config_path.read_bytes()
    cases = [
        (("config", "default-agent", "nosuch"), "unknown agent preset"),
        (("config", "agent", "set", "Bad Name", "x"), "invalid agent name"),
        (("config", "agent", "set", "ok", "unterminated 'quote"), "cannot parse command"),
        (("config", "agent", "set", "ok", ""), "empty agent command"),
    ]
    for args, message in cases:
        res = run_gt(*args, cwd=town.root)
        assert res.returncode == 2, args
        assert message in res.stderr, (args, res.stderr)
        assert town.config_path.read_bytes() == before


def test_edit_toml_failure_leaves_file(town) -> None:
    before = town.config_path.read_bytes()
    try:
        with edit_toml(town.config_path) as doc:
            doc["default_agent"] = "changed"
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert town.config_path.read_bytes() == before


def test_malformed_agent_override_is_reported(town, run_gt) -> None:
    town.config_path.write_text(town.config_path.read_text() + "\n[agents.claude]\nprompt = \"telepathy\"\n")
    res = run_gt("config", "agent", "list", cwd=town.root)
    assert res.returncode == 2 and "[agents.claude] prompt must be one of" in res.stderr
