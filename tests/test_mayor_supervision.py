"""The Mayor as a supervised coordinator: the deacon restarts a wanted Mayor (on its conversation with a
real Claude Code), gives up with an escalation after repeated failures, ``gt mayor attach`` starts an
absent Mayor, ``gt mayor restart``; its ``gt prime`` shows the town; mail and escalations never type
into a sim town's Mayor shell."""

from __future__ import annotations

import json
import os

import pexpect
import pytest

from core import escalation, mail, mayor, mq, nudge, polecats, runtimes
from core.beads.store import BeadStore
from core.config import edit_toml
from core.deacon import Deacon
from tests.conftest import VENV_BIN, wait_for
from tests.model_script import Reply, Turn
from tests.real_agents import claude_env, claude_home, need, use_env

HOSTILE = "rm -rf ~ \x1b[31m$(touch /tmp/pwned)\x1b[0m"


@pytest.fixture
def host(town_host):
    """The town's own socket: gt subprocesses find it too."""
    return town_host


def patrol(town, host):
    with BeadStore(town) as store:
        return Deacon(town, host, store).patrol()


def test_deacon_restarts_a_wanted_mayor_and_not_a_stopped_one(host, town, run_gt):
    runtimes.set_default_agent(town, "sim")
    res = run_gt("--town", str(town.root), "mayor", "start", env={"SHELL": "/bin/sh"})
    assert res.returncode == 0, res.stderr
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    assert patrol(town, host).mayor is None  # running: nothing to do
    host.kill("mayor")
    assert patrol(town, host).mayor == "restarted"
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    with BeadStore(town) as store:
        assert store.db.execute("SELECT count(*) FROM events WHERE type = 'mayor_restarted'").fetchone()[0] == 1
    res = run_gt("--town", str(town.root), "mayor", "restart")
    assert res.returncode == 0, res.stderr
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    res = run_gt("--town", str(town.root), "mayor", "stop")
    assert res.returncode == 0, res.stderr
    assert patrol(town, host).mayor is None and not host.exists("mayor")


def test_deacon_gives_up_on_a_mayor_that_cannot_start_and_escalates(host, town):
    with edit_toml(town.config_path) as doc:
        doc["agents"]["ghost"] = {"argv": ["ghost-agent-cli-xyz"]}
    town.reload()
    mayor._want(town, "ghost")
    outcomes = [patrol(town, host).mayor for _ in range(mayor.MAX_RESTART_FAILURES)]
    assert outcomes == [None] * (mayor.MAX_RESTART_FAILURES - 1) + ["gave up"]
    assert mayor.wanted(town) is None and patrol(town, host).mayor is None
    with BeadStore(town) as store:
        (esc,) = escalation.list_open(store)
    assert esc.severity == "high" and "failed to start" in esc.text


def test_attach_starts_an_absent_mayor(host, town, gt_env):
    runtimes.set_default_agent(town, "sim")
    env = {k: v for k, v in gt_env.items() if k not in ("TMUX", "TMUX_PANE")}
    child = pexpect.spawn(
        str(VENV_BIN / "gt"),
        ["--town", str(town.root), "mayor", "attach"],
        env={**env, "TERM": "xterm-256color", "SHELL": "/bin/sh"},
        dimensions=(30, 100),
        timeout=20,
    )
    try:
        child.expect("No AI agent CLI is installed")
        wait_for(lambda: host.info("mayor") is not None and host.info("mayor").attached == 1)
        assert mayor.wanted(town) is not None
    finally:
        child.terminate(force=True)


def test_mail_and_escalations_never_type_into_a_shell_mayor(host, town, run_gt, tmp_path):
    runtimes.set_default_agent(town, "sim")
    mayor.start(town, session_host=host)
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    marker = tmp_path / "pwned"
    mail.send(town, "mayor/", f"touch {marker}", f"touch {marker}", sender="demo/polecats/nux")
    res = run_gt("--town", str(town.root), "escalate", "-m", f"touch {marker}", "-s", "high")
    assert res.returncode == 0, res.stderr
    with BeadStore(town) as store:
        assert nudge.deliver_pending(town, host, store.db) == []
    host.send_text("mayor", "echo probe-$((6*7))")
    assert host.wait_for_text("mayor", "probe-42", timeout=15)
    screen = host.capture("mayor", lines=500)
    assert not marker.exists() and "touch" not in screen and "You have mail" not in screen
    subjects = [m.subject for m in mail.inbox(town, "mayor/")]
    assert any(f"touch {marker}" in s for s in subjects) and len(subjects) >= 2


def test_mayor_prime_shows_the_town(town, rig, run_gt):
    def bead(title: str, *extra: str) -> str:
        res = run_gt("bead", "create", title, "--rig", "demo", "--json", *extra, cwd=town.root)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)["id"]

    first = bead(f"First {HOSTILE}")
    second = bead("Second", "--deps", first)
    res = run_gt("convoy", "create", "Release", first, second, cwd=town.root)
    assert res.returncode == 0, res.stderr
    with BeadStore(town) as store:
        polecats.upsert(store.db, "demo", "nux", state="idle", agent="sim")
        mq.submit(store.db, "demo", first, "nux", f"polecat/nux/{first}", "1" * 40)
        escalation.escalate(store, "Need a decision on the API", "high", actor="demo/polecats/nux")
    res = run_gt("prime", cwd=town.root, env={"GT_ROLE": "mayor"})
    assert res.returncode == 0, res.stderr
    brief = res.stdout
    for heading in ("## Rigs", "## Polecats", "## Ready beads", "## Blocked beads", "## Convoys", "## Merge queue"):
        assert heading in brief, heading
    assert "demo/polecats/nux: idle" in brief
    assert f"{second} Second (waits for {first})" in brief
    assert "Release: 0/2 closed" in brief and "mr-1 demo" in brief
    assert "escalation:" in brief and "Need a decision on the API" in brief
    assert "\x1b" not in brief


def mayor_script(turn: Turn) -> Reply:
    """A Mayor that only answers: it reports how many user prompts its conversation holds."""
    prompts = [m for m in turn.messages if m.role == "user" and "Mayor of this Gas Town" in m.text]
    return Reply(text=f"Mayor here; prompts so far: {len(prompts)}")


@pytest.mark.real_agent
def test_a_killed_claude_mayor_is_restarted_by_the_deacon_on_its_conversation(
    host, town, endpoint, gt_env, tmp_path, monkeypatch
):
    need("claude")
    env = {**gt_env, **claude_env(claude_home(tmp_path / "home-claude"), endpoint)}
    use_env(monkeypatch, env)
    endpoint.script = mayor_script
    runtimes.set_default_agent(town, "claude")
    with BeadStore(town) as store:
        mayor.start(town, session_host=host, db=store.db)
        first = endpoint.wait_for(lambda ep: ep.last_turn(lambda t: "Mayor of this Gas Town" in t.all_text), timeout=90)
        assert (town.mayor_dir / "CLAUDE.md").read_text().startswith("# Gas Town Mayor")
        conversation = first.headers.get("x-claude-code-session-id")
        pid = host.pid("mayor")
        host.kill("mayor")
        assert not os.path.exists(f"/proc/{pid}/stat") or not host.exists("mayor")
        report = Deacon(town, host, store).patrol()
    assert report.mayor == "restarted"
    # the restarted Mayor continues the same conversation: its new request holds the first prompt
    again = endpoint.wait_for(
        lambda ep: [
            t for t in ep.turns if sum("Mayor of this Gas Town" in m.text for m in t.messages if m.role == "user") >= 2
        ],
        timeout=90,
    )
    assert again[-1].headers.get("x-claude-code-session-id") == conversation
