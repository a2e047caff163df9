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
    town.config_path.write_text(town.config_path.read_text() + '\n[agents.claude]\nprompt = "telepathy"\n')
    res = run_gt("config", "agent", "list", cwd=town.root)
    assert res.returncode == 2 and "[agents.claude] prompt must be one of" in res.stderr


# --- issue 15 item 10: config values validated; paths and refs from config never escape ---------------

import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from core.beads.store import BeadStore  # noqa: E402
from core.config import check_branch_name, check_copy_path  # noqa: E402
from core.errors import ConfigError, GtError  # noqa: E402
from core.rigs import add_rig, load_rig  # noqa: E402
from core.worktrees import ensure_worktree  # noqa: E402


def _rig_toml(town, name: str = "demo") -> Path:
    return town.rig_dir(name) / "rig.toml"


def _set(town, key_line: str, new_line: str, name: str = "demo") -> None:
    path = _rig_toml(town, name)
    text = path.read_text()
    assert key_line in text
    path.write_text(text.replace(key_line, new_line, 1))


@pytest.mark.parametrize(
    "entry", ["../outside.txt", "/etc/passwd", "a/../../x", "~/.ssh/id_rsa", "..", ".", "a\\..\\b", "x\x1b]0;pwned\x07"]
)
def test_copy_entries_reaching_outside_are_refused(town, git_repo, run_gt, entry) -> None:
    add_rig(town, "demo", str(git_repo))
    _set(town, "copy = []", f"copy = [{_toml_str(entry)}]")
    res = run_gt("rig", "list", cwd=town.root)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and "rig.toml" in line and "[worktree] copy" in line
    assert "\x1b" not in line and "\x07" not in line


def _toml_str(value: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'


def test_copy_through_a_symlink_out_of_the_checkout_or_worktree_is_refused(town, tmp_path, run_gt) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=src, check=True)
    (src / "escape").symlink_to(outside)  # a tracked symlink dir leading out of every worktree
    (src / "README.md").write_text("x\n")
    subprocess.run(["git", "add", "-A"], cwd=src, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=src, check=True)
    (src / "link.env").symlink_to(outside / "secret.txt")
    rig = add_rig(town, "demo", str(src))
    _set(town, "copy = []", 'copy = ["link.env"]')
    with pytest.raises(GtError, match="is a symlink to .* outside the checkout"):
        ensure_worktree(load_rig(town, "demo"), "nux", "dm-1")
    assert not (rig.polecats_dir / "nux").exists()  # the half-made worktree is removed
    # the checkout holds a real escape/ directory, but in the worktree escape/ is the tracked symlink
    crew = rig.crew_dir / "alice"
    (crew / "escape").mkdir(parents=True)
    (crew / "escape" / "planted.txt").write_text("would land outside\n")
    _set(town, 'copy = ["link.env"]', 'copy = ["escape/planted.txt"]')
    with pytest.raises(GtError, match="leads out of the worktree"):
        ensure_worktree(load_rig(town, "demo"), "nux", "dm-1")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_copy_paths_are_normalised() -> None:
    assert check_copy_path("./config//local.json", "rig.toml") == "config/local.json"
    assert check_copy_path(".env", "rig.toml") == ".env"
    for bad in (7, "", "  ", ["x"]):
        with pytest.raises(ConfigError, match="copy entries must be non-empty paths"):
            check_copy_path(bad, "rig.toml")


@pytest.mark.parametrize("branch", ["--upload-pack=touch /tmp/gt-pwned", "-x", "@{-1}", ""])
def test_default_branch_never_reaches_git_as_an_option(town, git_repo, run_gt, tmp_path, branch) -> None:
    rig = add_rig(town, "demo", str(git_repo))
    with BeadStore(town) as store:  # a real bead, so the sling gets as far as the rig's settings
        bead = store.create("Work", actor="t", prefix=rig.prefix).id
    _set(town, 'default_branch = "main"', f"default_branch = {_toml_str(branch)}")
    for args in (("rig", "list"), ("sling", bead, "demo"), ("status",)):
        res = run_gt(*args, cwd=town.root)
        assert res.returncode == 2, (args, res.stderr)
        assert "default_branch" in res.stderr and "not a valid git branch name" in res.stderr
        assert "rig.toml" in res.stderr and "Traceback" not in res.stderr
    assert not Path("/tmp/gt-pwned").exists()


def test_add_rig_refuses_an_option_as_branch(town, git_repo, run_gt) -> None:
    res = run_gt("rig", "add", "demo", str(git_repo), "--branch", "--upload-pack=x", cwd=town.root)
    assert res.returncode == 2 and "not a valid git branch name" in res.stderr
    assert not town.rig_dir("demo").exists()


_REF_CHARS = st.sampled_from(list("ab-./@{}~^:?*[\\ é") + ["\x01", "\x7f", "lock"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_REF_CHARS, min_size=1, max_size=8).map("".join))
def test_branch_names_follow_git_check_ref_format(name) -> None:
    proc = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, text=True, cwd="/")
    try:
        check_branch_name(name, "rig.toml: default_branch")
        ours = True
    except ConfigError:
        ours = False
    if ours:
        assert proc.returncode == 0, name  # never looser than git
    elif proc.returncode == 0:
        assert name == "@" or name.startswith("-"), name  # stricter only where git would expand or parse it


@pytest.mark.parametrize(
    "text,key",
    [
        ("", "git_url"),
        ('git_url = ""\ndefault_branch = "main"\nprefix = 5\n', "prefix"),
        (
            'git_url = ""\ndefault_branch = "main"\nprefix = "dm"\n[merge_queue]\nretry_flaky = inf\n',
            "[merge_queue] retry_flaky",
        ),
        ('git_url = ""\ndefault_branch = "main"\nprefix = "dm"\n[worktree]\nsetup = [[1, 2]]\n', "[worktree] setup"),
        ('git_url = ""\ndefault_branch = "main"\nprefix = "dm"\n[gates.t]\ncmd = "pytest"\n', "[gates.t] cmd"),
        ('git_url = []\ndefault_branch = "main"\nprefix = "dm"\n', "git_url"),
    ],
)
def test_bad_rig_toml_is_one_line_naming_file_and_key(town, git_repo, run_gt, text, key) -> None:
    add_rig(town, "demo", str(git_repo))
    _rig_toml(town).write_text(text)
    before = _rig_toml(town).read_bytes()
    res = run_gt("rig", "list", cwd=town.root)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "demo/rig.toml" in res.stderr and key in res.stderr
    assert _rig_toml(town).read_bytes() == before


def test_town_toml_not_utf8_or_empty(town, run_gt) -> None:
    town.config_path.write_bytes(b'default_agent = "\xff\xfe"\n')
    res = run_gt("status", cwd=town.root)
    assert res.returncode == 2 and "not UTF-8" in res.stderr and "town.toml" in res.stderr
    town.config_path.write_bytes(b"")
    res = run_gt("status", "--json", cwd=town.root)  # an empty town.toml is all defaults
    assert res.returncode == 0, res.stderr
