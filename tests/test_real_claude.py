"""The whole polecat life with the real Claude Code CLI (pinned in agents/package.json) against the
scripted model endpoint: sling, prime, work, ``gt done``, merge; a question waits for a nudge; mail
reaches an idle agent; compaction re-primes; a killed agent resumes its conversation; start-up
failures make ``gt sling`` exit 1 with the agent's screen."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from core import agent_state, mq
from core.beads.store import BeadStore
from core.sessions import SessionHost
from tests.model_script import Reply, Turn, is_compaction, polecat_script
from tests.real_agents import (
    agent_texts,
    claude_env,
    claude_home,
    events_of,
    need,
    use_env,
)
from tests.test_engine_support import EngineThread, create_bead, wait_for
from core.townview import read_snapshot

pytestmark = pytest.mark.real_agent

ASK = "ASK-FIRST"


def asking_script(turn: Turn) -> Reply:
    """The polecat script, but a bead marked ASK-FIRST first asks a question and ends its turn
    until the conversation holds an answer."""
    text = turn.all_text
    if ASK in text and "ANSWER:" not in text and "gt prime" in turn.shell_calls():
        return Reply(text="Question: should the greeting use spaces or tabs?")
    return polecat_script(turn)


def _state(town, session: str) -> str | None:
    with BeadStore(town) as store:
        row = agent_state.get(store.db, session)
        return row.state if row else None


def _status(town, bead: str) -> str:
    with BeadStore(town) as store:
        return store.get(bead).status


@pytest.fixture
def claude(tmp_path: Path, endpoint, gt_env, monkeypatch) -> dict[str, str]:
    need("claude")
    env = {**gt_env, **claude_env(claude_home(tmp_path / "home-claude"), endpoint)}
    use_env(monkeypatch, env)
    return env


def test_claude_works_beads_to_merge_waits_on_a_question_takes_mail_and_is_reprimed(
    agent_rig, endpoint, claude, run_gt
):
    town, rig = agent_rig
    endpoint.script = asking_script
    a = create_bead(run_gt, town, "Greeting file", "```sh\necho hello > greeting.txt\n```\n")
    b = create_bead(run_gt, town, "Farewell file", f"{ASK}\n\n```sh\necho bye > farewell.txt\n```\n")
    runner = EngineThread(town).start()
    try:
        t0 = time.monotonic()
        res = run_gt("sling", a, "demo", "--agent", "claude", "--json", cwd=town.root, env=claude, timeout=120)
        assert res.returncode == 0, res.stderr
        (slung,) = json.loads(res.stdout)
        # gt sling returned only once the agent had submitted its prompt (its own hook said so)
        with BeadStore(town) as store:
            assert agent_state.get(store.db, slung["session"]).prompt_at is not None
        endpoint.wait_for(lambda ep: any(f"assigned:{a}" in t for t in agent_texts(ep)), timeout=30)
        first = min(r["time"] for r in endpoint.requests if r["api"] == "anthropic")
        res = run_gt("sling", b, "demo", "--agent", "claude", "--json", cwd=town.root, env=claude, timeout=120)
        assert res.returncode == 0, res.stderr
        session_b = json.loads(res.stdout)[0]["session"]

        wait_for(lambda: _status(town, a) == "closed", timeout=240)
        with BeadStore(town) as store:
            (mr,) = [m for m in mq.list_mrs(store.db) if m.bead == a]
        assert mr.status == "merged"
        print(f"\nclaude: sling to first model request {first - t0:.2f} s")
        # the finished agent's session ends (end_after_done); when A finished before B was slung, B
        # took A's idle polecat, and so its session name (the sling stopped A's session first)
        if session_b != slung["session"]:
            try:
                wait_for(lambda: not SessionHost(town).is_alive(slung["session"]), timeout=60)
            except AssertionError as exc:
                raise AssertionError(_why(town, slung["session"])) from exc

        # B asked a question: waiting (not stalled), and the witness says so
        wait_for(lambda: _state(town, session_b) == "waiting", timeout=120)
        wait_for(
            lambda: any(e.payload.get("state") == "waiting" and e.bead == b for e in events_of(town, "witness_state")),
            timeout=30,
        )
        with BeadStore(town) as store:  # and the cockpit's badge
            snap = read_snapshot(town, store.db, SessionHost(town))
        assert next(x for x in snap.agents if x.session == session_b).state == "waiting"
        # mail reaches the idle agent: the queued nudge is typed, and its hook lists the message
        res = run_gt(
            "mail",
            "send",
            slung_polecat(session_b),
            "-s",
            "Budget is 3 files",
            "-m",
            "keep it small",
            cwd=town.root,
            env=claude,
        )
        assert res.returncode == 0, res.stderr
        endpoint.wait_for(
            lambda ep: any("Budget is 3 files" in t and "You have mail" in t for t in agent_texts(ep)), timeout=120
        )
        wait_for(lambda: _state(town, session_b) == "waiting", timeout=120)
        # a compaction (typed like any nudge) re-primes it: the SessionStart hook's brief is in the
        # next request, the one a nudge answering the question starts
        before = len(endpoint.all_turns)
        res = run_gt("nudge", session_b, "/compact", cwd=town.root, env=claude)
        assert res.returncode == 0, res.stderr
        wait_for(
            lambda: (
                any(is_compaction(t) for t in endpoint.all_turns[before:])
                and "Compacted" in SessionHost(town).capture(session_b)
            ),
            timeout=120,
        )
        before = len(endpoint.turns)
        res = run_gt("nudge", session_b, "ANSWER: use spaces", "--mode", "wait-idle", cwd=town.root, env=claude)
        assert res.returncode == 0, res.stderr
        endpoint.wait_for(
            lambda ep: any(
                "SessionStart:compact" in t.all_text and f"## Your hook: {b}" in t.all_text for t in ep.turns[before:]
            ),
            timeout=120,
        )
        # the answer let it finish, and the work lands
        wait_for(lambda: _status(town, b) == "closed", timeout=240)
    finally:
        runner.stop()
    tree = rig.repo_path
    from core import git

    files = git.run_git(["ls-tree", "--name-only", "main"], cwd=tree).stdout.split()
    assert {"greeting.txt", "farewell.txt"} <= set(files)


def _why(town, session: str) -> str:
    """What the town knows of ``session``: for a failure message."""
    from core import polecats

    with BeadStore(town) as store:
        row = agent_state.get(store.db, session)
        cats = [(p.name, p.state, p.hook_bead, p.session, p.agent) for p in polecats.list_polecats(store.db)]
    seen = [(e.type, e.payload) for e in events_of(town, "witness", "witness_error", "witness_state")][-8:]
    return f"agent state {row}\npolecats {cats}\nwitness {seen}\nscreen:\n{SessionHost(town).capture(session)}"


def slung_polecat(session: str) -> str:
    """The mail address of the polecat in session ``demo-<name>``."""
    return f"demo/polecats/{session.split('-', 1)[1]}"


def test_killed_claude_resumes_its_conversation_and_its_orphans_are_reaped(agent_rig, endpoint, claude, run_gt):
    town, rig = agent_rig
    marker = "sleep 47.25"
    bead = create_bead(run_gt, town, "Slow file", f"```sh\necho slow > slow.txt; {marker}\n```\n")
    runner = EngineThread(town).start()
    try:
        res = run_gt("sling", bead, "demo", "--agent", "claude", "--json", cwd=town.root, env=claude, timeout=120)
        assert res.returncode == 0, res.stderr
        session = json.loads(res.stdout)[0]["session"]
        host = SessionHost(town)
        wait_for(lambda: _orphans(marker), timeout=120)  # the agent's own shell runs the slow step
        first_conversation = _conversation(town, session)
        os.kill(host.info(session).pid, signal.SIGKILL)
        try:
            endpoint.wait_for(
                lambda ep: any("Your session was restarted" in t.last_user_text for t in ep.turns), timeout=40
            )
        except TimeoutError:
            print("DEBUG", [(e.type, e.payload) for e in events_of(town, "zombie", "respawn_failed", "witness_error")])
            raise
        resumed = next(t for t in endpoint.turns if "Your session was restarted" in t.last_user_text)
        assert "gt prime" in resumed.shell_calls()  # the earlier conversation came along
        assert _conversation(town, session) == first_conversation
        assert not _orphans(marker)  # the killed agent's child commands were stopped
        wait_for(lambda: _status(town, bead) == "closed", timeout=240)
    finally:
        runner.stop()
    assert [e.payload["respawns"] for e in events_of(town, "respawn")] == [1]


def _conversation(town, session: str) -> str | None:
    with BeadStore(town) as store:
        row = agent_state.get(store.db, session)
        return row.conversation if row else None


def _orphans(needle: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmd and "bash" not in cmd.split(" ")[0]:
                found.append(int(entry))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="Claude Code refuses its bypass flag only as root")
def test_root_refusal_makes_sling_exit_1_with_the_screen(agent_rig, claude, run_gt):
    town, _ = agent_rig
    bead = create_bead(run_gt, town, "Never started", "```sh\necho x > x.txt\n```\n")
    env = {k: v for k, v in claude.items() if k != "IS_SANDBOX"}
    res = run_gt("sling", bead, "demo", "--agent", "claude", cwd=town.root, env={**env, "IS_SANDBOX": ""}, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "cannot be used with root/sudo privileges" in res.stderr  # the agent's screen
    assert "IS_SANDBOX=1" in res.stderr  # and the fix
    assert _status(town, bead) == "open"
    assert SessionHost(town).list() == []


def test_a_dialog_nobody_answers_makes_sling_exit_1_with_the_screen(agent_rig, claude, run_gt, tmp_path):
    town, _ = agent_rig
    bead = create_bead(run_gt, town, "Never started", "```sh\necho x > x.txt\n```\n")
    home = tmp_path / "home-unapproved"
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}))  # the key is not approved
    from core.config import edit_toml

    with edit_toml(town.config_path) as doc:
        doc["agents"]["claude"] = {"start_timeout": 10}
    res = run_gt(
        "sling", bead, "demo", "--agent", "claude", cwd=town.root, env={**claude, "HOME": str(home)}, timeout=120
    )
    assert res.returncode == 1, res.stderr
    assert "did not take its first prompt within 10 s" in res.stderr
    assert "Do you want to use this API key?" in res.stderr  # the dialog, from its screen
    assert "log in" in res.stderr  # the fix
    assert _status(town, bead) == "open"
    assert SessionHost(town).list() == []


def test_agent_check_claude(agent_rig, claude, run_gt):
    town, _ = agent_rig
    res = run_gt("agent", "check", "claude", cwd=town.root, env=claude)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok   version: 2.1.332 (Claude Code)" in res.stdout and "ok   login: API key approved" in res.stdout
    if os.geteuid() == 0:
        res = run_gt("agent", "check", "claude", cwd=town.root, env={**claude, "IS_SANDBOX": ""})
        assert res.returncode == 1 and "FAIL root: Claude Code refuses" in res.stdout
