"""``gt agent hook`` as the agent CLIs call it (real ``gt`` processes, real town DB): the states it
records, the brief and the mail it prints (as plain text), and that it never fails its CLI."""

from __future__ import annotations

import json

from core import agent_state, mail, polecats
from core.beads.store import BeadStore
from tests.test_engine_support import create_bead


def _polecat_env(town, gt_env, bead: str) -> dict[str, str]:
    with BeadStore(town) as store:
        polecats.upsert(
            store.db, "demo", "nux", state="working", hook_bead=bead, session="demo-nux", created_at=0.0, updated_at=0.0
        )
    return {
        **gt_env,
        "GT_TOWN": str(town.root),
        "GT_ROLE": "polecat",
        "GT_RIG": "demo",
        "GT_POLECAT": "nux",
        "GT_BEAD": bead,
        "GT_SESSION": "demo-nux",
    }


def _row(town):
    with BeadStore(town) as store:
        return agent_state.get(store.db, "demo-nux")


def test_hooks_record_states_and_print_the_brief_and_plain_mail(town, git_repo, run_gt, gt_env):
    from core.rigs import add_rig

    add_rig(town, "demo", str(git_repo))
    bead = create_bead(run_gt, town, "Hooked work", "do it")
    env = _polecat_env(town, gt_env, bead)
    res = run_gt(
        "prime", "--hook", input=json.dumps({"session_id": "conv-1", "source": "startup"}), env=env, cwd=town.root
    )
    assert res.returncode == 0, res.stderr
    assert f"## Your hook: {bead}" in res.stdout  # the brief goes into the model's context
    assert _row(town).conversation == "conv-1"
    mail.send(town, "demo/polecats/nux", "Fix \x1b]52;c;ZXZpbA==\x07 [b]now[/b]", "body", sender="mayor/")
    res = run_gt("agent", "hook", "prompt", input=json.dumps({"prompt": "go on"}), env=env, cwd=town.root)
    assert res.returncode == 0 and _row(town).state == "working" and _row(town).prompt_at
    assert "You have 1 unread mail" in res.stdout and "[b]now[/b]" in res.stdout
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    res = run_gt("agent", "hook", "stop", input="{}", env=env, cwd=town.root)
    assert res.returncode == 0 and _row(town).state == "waiting"  # its turn ended with work hooked
    run_gt("agent", "hook", "prompt", input=json.dumps({"prompt": "/compact"}), env=env, cwd=town.root)
    assert _row(town).state == "waiting"  # a CLI command starts no turn
    notify = {"type": "agent-turn-complete", "thread-id": "other-thread"}
    run_gt("agent", "hook", "prompt", input="{}", env=env, cwd=town.root)
    run_gt("agent", "hook", "codex-notify", json.dumps(notify), env=env, cwd=town.root)
    assert _row(town).state == "working"  # another thread's turn (Codex's title) is not ours
    notify["input-messages"] = ["Generate a concise, single-line task title"]
    run_gt("agent", "hook", "codex-notify", json.dumps(notify), env=env, cwd=town.root)
    assert _row(town).state == "working"
    notify["thread-id"] = "conv-1"
    run_gt("agent", "hook", "codex-notify", json.dumps(notify), env=env, cwd=town.root)
    assert _row(town).state == "waiting"
    run_gt("agent", "hook", "prompt", input="{}", env=env, cwd=town.root)
    beacon = {"type": "agent-turn-complete", "thread-id": "conv-2", "input-messages": ["[GAS TOWN] go", "more"]}
    run_gt("agent", "hook", "codex-notify", json.dumps(beacon), env=env, cwd=town.root)
    assert (_row(town).state, _row(town).conversation) == ("waiting", "conv-2")  # the beacon's thread is ours
    res = run_gt("agent", "hook", "notification", input="not json {", env=env, cwd=town.root)
    assert res.returncode == 0  # a bad payload never fails the CLI's hook


def test_agent_check_reports_each_check(town, run_gt, gt_env):
    res = run_gt("--town", str(town.root), "agent", "check", "sim")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok   preset: sim")
    res = run_gt("--town", str(town.root), "agent", "check", "nope")
    assert res.returncode == 2 and "unknown agent preset 'nope'" in res.stderr
