"""Costs after real agent CLI runs (pinned in agents/package.json) against the scripted model endpoint:
``gt costs`` must count exactly the tokens the endpoint served to each bead's session."""

from __future__ import annotations

import json

import pytest

from tests.real_agents import agent_env, work_greeting


pytestmark = pytest.mark.real_agent


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_costs_per_bead_equal_the_tokens_the_endpoint_served(
    agent, agent_rig, endpoint, gt_env, tmp_path, run_gt, monkeypatch
):
    env = agent_env(agent, tmp_path / "home", endpoint, gt_env, monkeypatch)
    town, _ = agent_rig
    bead = work_greeting(agent, town, env, run_gt)
    res = run_gt("costs", "--by", "bead", "--json", cwd=town.root, env=env)
    assert res.returncode == 0, res.stderr
    rows = {r["key"]: r for r in json.loads(res.stdout)}
    served = served_tokens(endpoint)
    assert served["output"] > 0
    assert list(rows) == [bead]
    assert {k: rows[bead][k] for k in served} == served
    assert rows[bead]["cost_usd"] > 0
    res = run_gt("costs", "--by", "agent", cwd=town.root, env=env)
    assert res.returncode == 0, res.stderr
    assert "demo/polecats/" in res.stdout and "total $" in res.stdout


def _unrecorded(turn) -> bool:
    """Codex's thread-title request: a side thread of its own that Codex writes no rollout for."""
    meta = json.loads(turn.headers.get("x-codex-turn-metadata") or "{}")
    return meta.get("thread_source") == "thread_title"


def served_tokens(endpoint) -> dict[str, int]:
    """What the endpoint served, in gt costs' token kinds (input without the cache), leaving out only
    the requests the CLI keeps no record of (:func:`_unrecorded`)."""
    out = {"input": 0, "cache_read": 0, "cache_write": 0, "output": 0}
    for turn, usage in endpoint.served:
        if _unrecorded(turn):
            continue
        if turn.api == "anthropic":
            out["input"] += usage["input_tokens"]
            out["cache_read"] += usage["cache_read_input_tokens"]
            out["cache_write"] += usage["cache_creation_input_tokens"]
        else:
            cached = usage["input_tokens_details"]["cached_tokens"]
            out["input"] += usage["input_tokens"] - cached
            out["cache_read"] += cached
        out["output"] += usage["output_tokens"]
    return out
