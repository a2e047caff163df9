"""Agent runtime presets: built-ins, town.toml overrides, auto resolution, bad presets, prompt delivery."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core import runtimes
from core.config import edit_toml
from core.errors import AgentStartError, ConfigError, GtError, NotFound


def fake_bin(dirpath: Path, *names: str) -> Path:
    """Executables called NAMES in dirpath (stand-ins for agent CLIs on PATH)."""
    dirpath.mkdir(parents=True, exist_ok=True)
    for name in names:
        f = dirpath / name
        f.write_text("#!/bin/sh\nexit 0\n")
        f.chmod(0o755)
    return dirpath


def add_preset(town, name, **spec):
    with edit_toml(town.config_path) as doc:
        doc["agents"][name] = spec
    town.reload()


def test_builtin_presets_match_the_issue():
    table = runtimes.presets()
    expected = {
        "claude": (["claude", "--dangerously-skip-permissions"], "arg", "❯ "),
        "codex": (["codex", "--dangerously-bypass-approvals-and-sandbox"], "arg", "› "),
        "gemini": (["gemini", "--approval-mode", "yolo"], "flag", None),
        "cursor": (["cursor-agent", "-f"], None, None),
        "amp": (["amp", "--dangerously-allow-all", "--no-ide"], None, None),
        "auggie": (["auggie", "--allow-indexing"], None, None),
        "copilot": (["copilot", "--yolo"], "flag", None),
        "sim": (["gt", "agent", "sim"], None, "❯ "),
    }
    for name, (argv, prompt, glyph) in expected.items():
        p = table[name]
        assert list(p.argv) == argv, name
        assert prompt is None or p.prompt == prompt, name
        assert glyph is None or p.ready_glyph == glyph, name
        assert p.process_names and p.ready_delay > 0
    assert {"auggie", "opencode", "aider", "pi", "omp"} <= set(table)
    assert table["opencode"].env == {"OPENCODE_PERMISSION": '{"*":"allow"}'}
    assert (table["claude"].runtime, table["codex"].runtime, table["gemini"].runtime) == ("claude", "codex", "generic")
    assert table["gemini"].prompt_flag == "-i" and table["copilot"].prompt_flag == "-i"
    assert table["opencode"].prompt == "flag" and table["opencode"].prompt_flag == "--prompt"


def test_command_by_prompt_mode():
    table = runtimes.presets()
    assert table["claude"].command("fix it") == ["claude", "--dangerously-skip-permissions", "fix it"]
    assert table["gemini"].command("fix it") == ["gemini", "--approval-mode", "yolo", "-i", "fix it"]
    assert table["codex"].command("fix it") == ["codex", "--dangerously-bypass-approvals-and-sandbox", "fix it"]
    assert runtimes.Preset("typed", ("agent",), prompt="nudge").command("fix it") == ["agent"]  # typed later
    assert table["claude"].command(None) == ["claude", "--dangerously-skip-permissions"]


def test_town_overrides_keep_the_other_keys(town):
    runtimes.set_agent(town, "claude", "claude --dangerously-skip-permissions --model opus")
    claude = runtimes.presets(town)["claude"]
    assert list(claude.argv)[-2:] == ["--model", "opus"] and claude.ready_glyph == "❯ " and claude.builtin
    assert "# Agent runtime presets" in town.config_path.read_text()  # comments kept
    add_preset(town, "mine", argv=["my-agent", "--fast"], prompt="flag", prompt_flag="--task", env={"MY_MODE": "1"})
    mine = runtimes.presets(town)["mine"]
    assert not mine.builtin and mine.command("go") == ["my-agent", "--fast", "--task", "go"]
    assert mine.env == {"MY_MODE": "1"} and mine.process_names == ("my-agent",)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"argv": "claude --x"}, "argv must be a non-empty list"),
        ({"argv": []}, "argv must be a non-empty list"),
        ({"argv": ["x"], "prompt": "telepathy"}, "prompt must be one of"),
        ({"argv": ["x"], "prompt": "flag"}, "needs prompt_flag"),
    ],
)
def test_malformed_overrides(town, spec, message):
    add_preset(town, "bad", **spec)
    with pytest.raises(ConfigError, match=message):
        runtimes.presets(town)


def test_auto_resolution_follows_path(town, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path / "b1", "codex", "aider")))
    assert runtimes.resolve(town).name == "codex"  # default_agent = "auto"
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path / "b2", "codex", "claude")))
    assert runtimes.resolve(town, "auto").name == "claude"  # AUTO_ORDER: claude first
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert runtimes.resolve(town).name == "sim"
    runtimes.set_default_agent(town, "gemini")
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path / "b3", "gemini")))
    assert runtimes.resolve(town).name == "gemini"


def test_unknown_and_missing(town, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(NotFound, match="unknown agent preset 'nope'"):
        runtimes.resolve(town, "nope")
    with pytest.raises(GtError, match="needs 'claude', which is not installed"):
        runtimes.resolve(town, "claude")
    with pytest.raises(NotFound):
        runtimes.set_default_agent(town, "nope")
    assert runtimes.resolve(town, "sim").name == "sim"  # gt itself is always there


def test_config_agent_list_shows_installed(run_gt, town, tmp_path, gt_env):
    fake = fake_bin(tmp_path / "bin", "gemini")
    proc = run_gt(
        "--town", str(town.root), "config", "agent", "list", "--json", env={"PATH": f"{fake}:{gt_env['PATH']}"}
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    installed = {p["name"]: p["installed"] for p in data["presets"]}
    assert installed["gemini"] is True and installed["sim"] is True
    if not any(installed[n] for n in runtimes.AUTO_ORDER[:2]):  # claude/codex absent on this machine
        assert data["effective"] == "gemini"


ARGV_PRINTER = "import sys\nprint('ARGV=' + '|'.join(sys.argv[1:]))\ninput()\n"


def test_start_agent_delivers_prompt_by_arg_and_flag(town, host, tmp_path):
    add_preset(town, "byarg", argv=[sys.executable, "-c", ARGV_PRINTER, "--x"], prompt="arg")
    add_preset(
        town,
        "byflag",
        argv=[sys.executable, "-c", ARGV_PRINTER],
        prompt="flag",
        prompt_flag="-p",
        env={"FROM_PRESET": "1"},
    )
    table = runtimes.presets(town)
    runtimes.start_agent(host, "rig1-arg", table["byarg"], "do; the thing", tmp_path)
    runtimes.start_agent(host, "rig1-flag", table["byflag"], "do it", tmp_path)
    assert host.wait_for_text("rig1-arg", "ARGV=--x|do; the thing")
    assert host.wait_for_text("rig1-flag", "ARGV=-p|do it")


def test_start_agent_kills_the_session_when_the_nudge_is_not_taken(town, host, tmp_path):
    # the ready glyph shows once echo is off (under load the nudge could otherwise beat stty and echo)
    add_preset(
        town,
        "deaf",
        argv=["sh", "-c", "stty -echo; printf '> '; exec sleep 60"],
        prompt="nudge",
        ready_glyph="> ",
        ready_delay=0.3,
    )
    with pytest.raises(GtError, match="did not take the text"):
        runtimes.start_agent(host, "rig1-deaf", runtimes.presets(town)["deaf"], "hello", tmp_path)
    assert host.list() == []


def test_start_agent_reports_an_agent_that_exits_before_its_prompt(town, host, tmp_path):
    add_preset(
        town, "quitter", argv=["sh", "-c", "echo bye; exit 3"], prompt="nudge", ready_glyph="> ", ready_delay=1.0
    )
    with pytest.raises(AgentStartError) as err:
        runtimes.start_agent(host, "rig1-quit", runtimes.presets(town)["quitter"], "hello", tmp_path)
    assert err.value.exit_code == 1
    assert "'quitter' in session rig1-quit exited" in str(err.value)
    assert "  | bye" in str(err.value)  # the agent's last screen lines
    assert host.list() == []  # nothing is left running


def test_start_agent_fails_when_the_prompt_is_never_taken(town, host, tmp_path):
    # prints nothing: a generic agent counts as started once it shows anything
    add_preset(town, "mute", argv=["sh", "-c", "stty -echo; exec sleep 60"], prompt="arg", start_timeout=0.5)
    with pytest.raises(AgentStartError, match="did not take its first prompt within 0.5 s"):
        runtimes.start_agent(host, "rig1-mute", runtimes.presets(town)["mute"], "hello", tmp_path)
    assert host.list() == []


def test_start_agent_strips_escape_sequences_from_the_excerpt(town, host, tmp_path):
    add_preset(
        town,
        "noisy",
        argv=["sh", "-c", r"printf '\033]0;pwned\007\033]52;c;ZXZpbA==\007bad key\n'; exit 1"],
        prompt="nudge",
        ready_glyph="> ",
        ready_delay=2.0,
    )
    with pytest.raises(AgentStartError) as err:
        runtimes.start_agent(host, "rig1-noisy", runtimes.presets(town)["noisy"], "hello", tmp_path)
    assert "bad key" in str(err.value)
    assert "\x1b" not in str(err.value) and "\x07" not in str(err.value)
