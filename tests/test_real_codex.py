"""The polecat life with the real Codex CLI (pinned in agents/package.json) against the scripted
model endpoint, and a headless convoy run with each real CLI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from core import agent_state
from core.beads.store import BeadStore
from core.sessions import SessionHost
from tests.real_agents import (
    agent_texts,
    claude_env,
    claude_home,
    codex_env,
    codex_home,
    events_of,
    need,
    use_env,
)
from tests.test_engine_support import EngineThread, create_bead, wait_for
from tests.test_headless_support import run_headless
from tests.test_real_claude import ASK, _orphans, _state, _status, asking_script, slung_polecat

pytestmark = pytest.mark.real_agent


@pytest.fixture
def codex(tmp_path: Path, endpoint, gt_env, monkeypatch) -> dict[str, str]:
    need("codex")
    env = {**gt_env, **codex_env(codex_home(tmp_path / "home-codex", endpoint))}
    use_env(monkeypatch, env)
    return env


def test_codex_works_beads_to_merge_takes_mail_and_a_nudge(agent_rig, endpoint, codex, run_gt):
    town, rig = agent_rig
    endpoint.script = asking_script
    a = create_bead(run_gt, town, "Greeting file", "```sh\necho hello > greeting.txt\n```\n")
    b = create_bead(run_gt, town, "Farewell file", f"{ASK}\n\n```sh\necho bye > farewell.txt\n```\n")
    runner = EngineThread(town).start()
    try:
        t0 = time.monotonic()
        res = run_gt("sling", a, "demo", "--agent", "codex", "--json", cwd=town.root, env=codex, timeout=120)
        assert res.returncode == 0, res.stderr
        endpoint.wait_for(lambda ep: any(f"assigned:{a}" in t for t in agent_texts(ep)), timeout=30)
        first = min(r["time"] for r in endpoint.requests if r["api"] == "openai")
        res = run_gt("sling", b, "demo", "--agent", "codex", "--json", cwd=town.root, env=codex, timeout=120)
        assert res.returncode == 0, res.stderr
        session_b = json.loads(res.stdout)[0]["session"]
        wait_for(lambda: _status(town, a) == "closed", timeout=240)
        print(f"\ncodex: sling to first model request {first - t0:.2f} s")
        # gt works inside the agent's shell (no login shell resetting PATH): gt prime's brief came back
        assert any(f"## Your hook: {a}" in r.output for t in endpoint.turns for r in t.results())
        # B asked a question and its turn ended: waiting (notify said so)
        wait_for(lambda: _state(town, session_b) == "waiting", timeout=120)
        res = run_gt("mail", "send", slung_polecat(session_b), "-s", "Budget is 3 files", cwd=town.root, env=codex)
        assert res.returncode == 0, res.stderr
        endpoint.wait_for(lambda ep: any("You have mail" in t.last_user_text for t in ep.turns), timeout=120)
        wait_for(lambda: _state(town, session_b) == "waiting", timeout=120)
        res = run_gt("nudge", session_b, "ANSWER: use spaces", "--mode", "wait-idle", cwd=town.root, env=codex)
        assert res.returncode == 0, res.stderr
        wait_for(lambda: _status(town, b) == "closed", timeout=240)
    finally:
        runner.stop()


def test_killed_codex_resumes_its_thread(agent_rig, endpoint, codex, run_gt):
    town, _ = agent_rig
    bead = create_bead(run_gt, town, "Slow file", "```sh\necho slow > slow.txt; sleep 53.5\n```\n")
    runner = EngineThread(town).start()
    try:
        res = run_gt("sling", bead, "demo", "--agent", "codex", "--json", cwd=town.root, env=codex, timeout=120)
        assert res.returncode == 0, res.stderr
        session = json.loads(res.stdout)[0]["session"]
        wait_for(lambda: _orphans("sleep 53.5"), timeout=120)  # the agent's shell runs the slow step
        with BeadStore(town) as store:
            thread = agent_state.get(store.db, session).conversation
        assert thread
        # the whole agent dies: the pane's process is npm's node launcher, the codex binary its child
        os.killpg(SessionHost(town).info(session).pid, signal.SIGKILL)
        endpoint.wait_for(
            lambda ep: any("Your session was restarted" in t.last_user_text for t in ep.turns), timeout=120
        )
        resumed = next(t for t in endpoint.turns if "Your session was restarted" in t.last_user_text)
        assert "gt prime" in resumed.shell_calls()  # the earlier conversation came along
        assert not _orphans("sleep 53.5")  # the killed agent's commands were stopped
        wait_for(lambda: _status(town, bead) == "closed", timeout=240)
    finally:
        runner.stop()
    assert [e.payload["respawns"] for e in events_of(town, "respawn")] == [1]


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_headless_convoy_of_three_beads_with_a_dependency(agent, agent_rig, endpoint, gt_env, tmp_path, run_gt):
    town, rig = agent_rig
    need(agent)
    home = tmp_path / f"home-{agent}"
    env = {
        **gt_env,
        **(claude_env(claude_home(home), endpoint) if agent == "claude" else codex_env(codex_home(home, endpoint))),
    }
    first = create_bead(run_gt, town, "Part one", "```sh\necho one > one.txt\n```\n")
    second = create_bead(run_gt, town, "Part two", "```sh\ntest -f one.txt && echo two > two.txt\n```\n", deps=first)
    third = create_bead(run_gt, town, "Part three", "```sh\necho three > three.txt\n```\n")
    res = run_gt("convoy", "create", "three parts", first, second, third, "--json", cwd=town.root, env=env)
    assert res.returncode == 0, res.stderr
    convoy = json.loads(res.stdout)["id"]
    summary = tmp_path / "summary.json"
    res = run_headless(
        env,
        town,
        "--convoy",
        convoy,
        "--rig",
        "demo",
        "--agent",
        agent,
        "--summary",
        str(summary),
        "--timeout",
        "400",
        timeout=480,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads(summary.read_text())
    assert data["outcome"] == "landed" and data["totals"]["merged"] == 3
