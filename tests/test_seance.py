"""``gt seance``: the predecessor sessions of a bead or polecat read from the runtimes' own records and
rendered as Markdown (hostile text stays text), and ``--ask`` resuming one with a real CLI against the
scripted model endpoint."""

from __future__ import annotations

import json

import pytest

from core import seance
from core.beads.store import BeadStore
from core.errors import GtError, NotFound
from tests.model_script import Reply, Turn, polecat_script
from tests.real_agents import agent_env, work_greeting
from tests.test_costs import append, claude_file, claude_message, codex_file, usage

HOSTILE = "done \x1b]0;pwned\x07 ```` fence\n[red]markup[/red] \x1b[2J"


def tool_lines(cwd, session, branch, command, output, text):
    """An assistant message running ``command``, then its result, as Claude Code writes them."""
    base = {"sessionId": session, "cwd": str(cwd), "gitBranch": branch, "timestamp": "2026-12-02T10:00:05.000Z"}
    call = {
        **base,
        "type": "assistant",
        "message": {
            "id": "msg_tool",
            "model": "claude-sonnet-4-5",
            "usage": usage(10, 5),
            "content": [
                {"type": "text", "text": text},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": command}},
            ],
        },
    }
    result = {
        **base,
        "type": "user",
        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": output}]},
    }
    prompt = {**base, "type": "user", "message": {"role": "user", "content": "Run gt prime and begin work"}}
    return [json.dumps(prompt), json.dumps(call), json.dumps(result)]


def test_seance_renders_each_session_as_plain_markdown(town, tmp_path, run_gt, gt_env):
    home = tmp_path / "home"
    cwd = town.root / "demo" / "polecats" / "nux"
    path = claude_file(home, cwd, "s1")
    append(path, claude_message(cwd, "s1", "polecat/nux/de-abc", "msg_0", usage(100, 10)))
    append(path, tool_lines(cwd, "s1", "polecat/nux/de-abc", "make test", HOSTILE, f"Trying {HOSTILE}"))
    codex_file(home, town.root / "demo" / "polecats" / "ace", "c1", "polecat/ace/de-abc", [(50, 0, 5)])
    with BeadStore(town) as store:
        found = seance.predecessors(town, store, "de-abc", {"HOME": str(home)})
        assert [p.runtime for p in found] == ["claude", "codex"]
        assert found[0].cwd == str(cwd) and found[0].tokens == 125
        entries = seance.conversation(found[0])
        assert [e.kind for e in entries] == ["prompt", "said", "ran", "output"]
        text = seance.render("de-abc", [(p, seance.conversation(p)) for p in found])
        by_agent = seance.predecessors(town, store, "demo/polecats/nux", {"HOME": str(home)})
        assert [p.session for p in by_agent] == ["s1"]
        with pytest.raises(NotFound, match="no bead or polecat"):
            seance.predecessors(town, store, "nobody", {"HOME": str(home)})
    assert "\x1b" not in text and "\x07" not in text
    assert "## Session 1: claude s1" in text and "## Session 2: codex c1" in text
    assert "`````\n" in text  # the output's 4-backtick run cannot close its fence
    assert "> Trying done" in text and "make test" in text
    res = run_gt("seance", "de-abc", cwd=town.root, env={"HOME": str(home)})
    assert res.returncode == 0, res.stderr
    assert res.stdout == text
    res = run_gt("seance", "de-abc", "--json", cwd=town.root, env={"HOME": str(home)})
    assert [s["session"] for s in json.loads(res.stdout)] == ["s1", "c1"]
    res = run_gt("seance", "de-abc", "--session", "nope", cwd=town.root, env={"HOME": str(home)})
    assert res.returncode == 2 and "no session 'nope'" in res.stderr
    res = run_gt("seance", "de-zzz", cwd=town.root, env={"HOME": str(home)})
    assert res.returncode == 2 and "no bead or polecat 'de-zzz'" in res.stderr
    fresh = json.loads(run_gt("bead", "create", "Never worked", "--json", cwd=town.root).stdout)["id"]
    res = run_gt("seance", fresh, cwd=town.root, env={"HOME": str(home)})
    assert res.returncode == 0 and "No earlier session" in res.stdout
    res = run_gt("seance", fresh, "--ask", "why?", cwd=town.root, env={"HOME": str(home)})
    assert res.returncode == 2 and "nothing to ask" in res.stderr


def test_ask_refuses_a_gone_folder_and_an_empty_question(town, tmp_path):
    home = tmp_path / "home"
    cwd = town.root / "demo" / "polecats" / "gone"
    append(claude_file(home, cwd, "s1"), claude_message(cwd, "s1", "polecat/gone/de-abc", "m", usage(1, 1)))
    with BeadStore(town) as store:
        (pred,) = seance.predecessors(town, store, "de-abc", {"HOME": str(home)})
    with pytest.raises(GtError, match="empty question"):
        seance.ask(town, pred, "  ")
    with pytest.raises(GtError, match="which is gone"):
        seance.ask(town, pred, "what happened?")


QUESTION = "SEANCE: which file did you write?"


def seance_script(turn: Turn) -> Reply:
    """The polecat script, but the seance question gets an answer naming what the conversation shows."""
    if QUESTION in turn.last_user_text:
        seen = "greeting.txt" if "echo hello > greeting.txt" in turn.all_text else "nothing"
        return Reply(text=f"ANSWER: I wrote {seen}.")
    return polecat_script(turn)


@pytest.mark.real_agent
@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_seance_reads_and_asks_a_real_session(agent, agent_rig, endpoint, gt_env, tmp_path, run_gt, monkeypatch):
    env = agent_env(agent, tmp_path / "home", endpoint, gt_env, monkeypatch)
    endpoint.script = seance_script
    town, _ = agent_rig
    bead = work_greeting(agent, town, env, run_gt)
    res = run_gt("seance", bead, cwd=town.root, env=env)
    assert res.returncode == 0, res.stderr
    assert f"## Session 1: {agent}" in res.stdout
    assert "echo hello > greeting.txt" in res.stdout and "gt done" in res.stdout
    res = run_gt("seance", bead, "--ask", QUESTION, cwd=town.root, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "ANSWER: I wrote greeting.txt." in res.stdout
    asked = endpoint.last_turn(lambda t: QUESTION in t.last_user_text)
    assert asked is not None and "echo hello > greeting.txt" in asked.all_text  # the conversation came along
