"""``gt handoff``: a polecat run from inside its session ends it and a fresh session starts on the same
hook whose first prompt and ``gt prime`` carry the note, with the sim agent and with real Claude Code
against the scripted model endpoint."""

from __future__ import annotations

import json

import pytest

from core import git, mq, polecats
from core.beads.store import BeadStore
from core.prime import prime
from core.roles import Role
from tests.real_agents import agent_texts, claude_env, claude_home, need, use_env
from tests.test_engine_support import EngineThread, create_bead, wait_for
from tests.test_real_claude import _status
from tests.test_sling import create

NOTE = "tests pass; next: docs \x1b[31mred\x1b[0m\nsecond line"


def handing_off(tmp_path, note: str = NOTE) -> str:
    """A bead whose first session hands off (once: a mark file remembers it) with ``note`` read from
    a file on stdin, and whose second session finishes."""
    mark, note_file = tmp_path / "handed", tmp_path / "note.txt"
    note_file.write_text(note)
    return (
        "```sh\n"
        f"test -f {mark} || {{ touch {mark}; gt handoff --stdin < {note_file}; sleep 60; }}\n"
        "```\n\n```sh\necho hello > greeting.txt\n```\n"
    )


def events(store: BeadStore, kind: str) -> list:
    return [r for r in store.db.query("SELECT type, payload FROM events WHERE type = ?", [kind])]


def test_sim_polecat_hands_off_to_a_fresh_session_with_the_note(town, rig, run_gt, tmp_path):
    bead = create(run_gt, town, "Greeting", handing_off(tmp_path))
    res = run_gt("sling", bead, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    name = json.loads(res.stdout)[0]["polecat"].split("/")[-1]
    with BeadStore(town) as store:
        wait_for(lambda: events(store, "handoff"), timeout=90, what="the handoff's fresh session")
        mr = wait_for(lambda: mq.list_mrs(store.db, rig="demo"), timeout=90, what="the successor's gt done")[0]
        assert mr.bead == bead and git.run_git(["show", f"{mr.head_sha}:greeting.txt"], cwd=rig.repo_path).stdout
        issue = store.get(bead)
        p = polecats.get(store.db, "demo", name)
        assert p is not None and p.respawns == 0  # a handoff is not a crash
        assert any(c.text.startswith("handoff: tests pass") for c in issue.comments)
        assert (issue.metadata or {})["handoff"]["note"] == NOTE
        brief = prime(town, Role("polecat", "demo", name, bead), store)
    assert "### Handoff from your predecessor" in brief and "next: docs" in brief
    log = (town.logs_dir / f"handoff-demo-{name}.log").read_text()
    assert f"{bead}: fresh session" in log


def test_handoff_outside_a_polecat_or_without_a_hook_is_refused(town, rig, run_gt):
    res = run_gt("handoff", "-m", "bye", cwd=town.root)
    assert res.returncode == 2 and "not inside a polecat" in res.stderr
    env = {"GT_ROLE": "polecat", "GT_RIG": "demo", "GT_POLECAT": "nobody"}
    res = run_gt("handoff", "-m", "bye", cwd=town.root, env=env)
    assert res.returncode == 2 and "nothing on its hook" in res.stderr


@pytest.mark.real_agent
def test_claude_hands_off_and_its_successor_first_prompt_carries_the_note(
    agent_rig, endpoint, gt_env, tmp_path, run_gt, monkeypatch
):
    need("claude")
    env = {**gt_env, **claude_env(claude_home(tmp_path / "home-claude"), endpoint)}
    use_env(monkeypatch, env)
    town, _ = agent_rig
    bead = create_bead(run_gt, town, "Greeting file", handing_off(tmp_path))
    runner = EngineThread(town).start()
    try:
        res = run_gt("sling", bead, "demo", "--agent", "claude", "--json", cwd=town.root, env=env, timeout=120)
        assert res.returncode == 0, res.stderr
        wait_for(lambda: _status(town, bead) == "closed", timeout=240)
    finally:
        runner.stop()
    prompts = [t for t in agent_texts(endpoint) if "Handoff from your predecessor: tests pass; next: docs" in t]
    assert prompts, "the successor's first prompt did not carry the note"
    assert "\x1b" not in prompts[0]
    first = [t.last_user_text for t in endpoint.turns if "assigned:" in t.last_user_text]
    assert any("Handoff from your predecessor" in u for u in first)  # the beacon itself, not only gt prime
